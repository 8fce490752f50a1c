# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An image's /etc/crypttab: which name the image gives the inside of each
of its LUKS partitions, so that an fstab source /dev/mapper/NAME is found.

The text comes from the image (untrusted): it is only parsed. Its key files
and options are not used: the task's key opens every LUKS partition, and
nothing the image names on the host is read.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.tree import fstab


class Entry(object):
    """One crypttab line: the mapping's name, the encrypted device as
    written, and that device as a partition table field and value (the
    kinds of fstab.source_key)."""

    def __init__(self, line, name, source):
        self.line = line
        self.name = name
        self.source = source
        self.kind, self.value = fstab.source_key(source)

    def __repr__(self):
        return "Entry(%d: %s %s)" % (self.line, self.name, self.source)


def parse(text):
    """The entries of a crypttab text, in order; comments, blank lines and
    lines of fewer than two fields are left out."""
    return [Entry(number, fstab.unescape(fields[0]), fstab.unescape(fields[1]))
            for number, fields in fstab.table_lines(text, 2)]
