# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The key a task gives for the image's LUKS partitions, and the places of
an image that can hold LVM physical volumes."""

from __future__ import annotations

LUKS_FSTYPE = "crypto_LUKS"  # what blkid calls a LUKS partition
LVM_FSTYPE = "LVM2_member"  # and an LVM physical volume


def pv_places(table):
    """The partitions of table (image.parttable.Table) that are LVM
    physical volumes or LUKS (which may hold one), or the whole device as
    number 0 when it has no partition table; [] when table is None."""
    if table is None:
        return []
    parts = [dict(table.whole, number=0)] if table.label is None else table.partitions
    return [p for p in parts if p.get("fstype") in (LVM_FSTYPE, LUKS_FSTYPE)]


class Key(object):
    """A passphrase (text) or a key file on the managed host; false when neither."""

    def __init__(self, passphrase=None, keyfile=None):
        self.passphrase = passphrase
        self.keyfile = keyfile

    def __bool__(self):
        return self.passphrase is not None or self.keyfile is not None

    __nonzero__ = __bool__


def spec_text(spec):
    """A volume to open or activate, {"kind": "luks", "number"} or {"kind": "lv", "vg", "lv"}, in words."""
    if spec["kind"] == "luks":
        return "the LUKS partition %d" % spec["number"] if spec["number"] else "the LUKS device"
    return "the logical volume %s/%s" % (spec["vg"], spec["lv"])
