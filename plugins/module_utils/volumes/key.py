# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The key a task gives for the image's LUKS partitions."""

from __future__ import annotations

LUKS_FSTYPE = "crypto_LUKS"  # what blkid calls a LUKS partition
LVM_FSTYPE = "LVM2_member"  # and an LVM physical volume


class Key(object):
    """A passphrase (text) or a key file on the managed host; false when neither."""

    def __init__(self, passphrase=None, keyfile=None):
        self.passphrase = passphrase
        self.keyfile = keyfile

    def __bool__(self):
        return self.passphrase is not None or self.keyfile is not None

    __nonzero__ = __bool__
