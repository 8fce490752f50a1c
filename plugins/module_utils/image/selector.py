# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partition selectors and the `auto` rule of the contract.

Selectors: "auto", "0" (whole device), "N" (1-based), "LABEL=x", "UUID=x",
"PARTLABEL=x", "PARTUUID=x" (UUIDs compare case-insensitively), and
"LV=vg/lv", a logical volume of LVM inside the image (volumes/lvm.py).
"""

from __future__ import annotations

import platform

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.dps import ROOT as DPS_ROOT
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import describe
from ansible_collections.virt.disk.plugins.module_utils.volumes.key import LUKS_FSTYPE, LVM_FSTYPE

WHOLE = 0
KEYS = {"LABEL": "label", "UUID": "uuid", "PARTLABEL": "partlabel", "PARTUUID": "partuuid"}
CASELESS = ("uuid", "partuuid")
LINUX_FILESYSTEMS = ("ext2", "ext3", "ext4", "xfs", "btrfs", "squashfs", "erofs", "f2fs")


def parse(text):
    """Parse a selector into (kind, value); kind is auto, number or a KEYS value."""
    text = (text if text is not None else "auto").strip()
    if text.lower() == "auto" or text == "":
        return ("auto", None)
    if text.isascii() and text.isdigit():
        return ("number", int(text))
    key, sep, value = text.partition("=")
    if sep and key.upper() == "LV":
        vg, slash, lv = value.partition("/")
        if not (slash and vg and lv) or "/" in lv:
            raise VirtDiskError("invalid partition selector %r: LV= takes <volume group>/<logical volume>" % text)
        return ("lv", (vg, lv))
    if sep and key.upper() in KEYS and value:
        kind = KEYS[key.upper()]
        return (kind, value.lower() if kind in CASELESS else value)
    raise VirtDiskError(
        "invalid partition selector %r: use auto, 0 (whole device), a partition number, "
        "LABEL=, UUID=, PARTLABEL=, PARTUUID= or LV=vg/lv" % text)


def candidates(table):
    """Partitions plus, on a disk without a table, the whole device as number 0."""
    if table.label is None:
        whole = dict(table.whole)
        whole.update({"number": WHOLE, "partlabel": None, "partuuid": None})
        return [whole]
    return table.partitions


def fstype_of(table, number):
    """The filesystem the probe saw on partition number (0: a whole device without a table), or None."""
    for part in candidates(table):
        if part["number"] == number:
            return part.get("fstype")
    return None


def matching(table, kind, value):
    """The numbers of the candidates whose field kind (a KEYS value) is value
    (UUIDs without regard to case)."""
    if kind in CASELESS:
        value = value.lower()
    return [part["number"] for part in candidates(table)
            if part.get(kind) is not None and (part[kind].lower() if kind in CASELESS else part[kind]) == value]


def _mountable(part):
    return part.get("usage") == "filesystem" and part.get("fstype") not in (None, "swap")


def resolve(selector, table, image, arch=None):
    """The partition number selected on table (0 = the whole device)."""
    kind, value = selector
    if kind == "number":
        if value == WHOLE:
            return WHOLE
        if table.label is None:
            raise VirtDiskError("partition %d not found on %s: it has no partition table; partitions seen: %s"
                                % (value, image, describe(table)))
        if table.get(value) is None:
            raise VirtDiskError("partition %d not found on %s; partitions seen: %s"
                                % (value, image, describe(table)))
        return value
    if kind == "auto":
        return _auto(table, image, arch)
    if kind == "lv":
        return WHOLE  # the volume step finds the physical volumes among the partitions
    matches = matching(table, kind, value)
    name = [k for k, v in KEYS.items() if v == kind][0]
    if not matches:
        raise VirtDiskError("no partition of %s matches %s=%s; partitions seen: %s"
                            % (image, name, value, describe(table)))
    if len(matches) > 1:
        raise VirtDiskError("%s=%s matches several partitions of %s (%s); select one by number"
                            % (name, value, image, ", ".join(str(n) for n in matches)))
    return matches[0]


def _auto(table, image, arch):
    if table.label is None:
        return WHOLE
    arch = arch or platform.machine()
    if table.label == "gpt" and arch in DPS_ROOT:
        roots = [p for p in table.partitions if p["type"] == DPS_ROOT[arch]]
        if len(roots) == 1:
            return roots[0]["number"]
    mountable = [p for p in table.partitions if _mountable(p)]
    if len(mountable) == 1:
        return mountable[0]["number"]
    linux = [p for p in mountable if p.get("fstype") in LINUX_FILESYSTEMS]
    if linux:
        best = max(p["size"] for p in linux)
        return min(p["number"] for p in linux if p["size"] == best)
    encrypted = [p["number"] for p in table.partitions if p.get("fstype") == LUKS_FSTYPE]
    if len(encrypted) == 1 and not mountable:
        return encrypted[0]  # opened with the task's passphrase or keyfile, or the run fails naming them
    hints = []
    if encrypted:
        hints.append("partitions %s are LUKS-encrypted (select one and give passphrase or keyfile)"
                     % ", ".join(map(str, encrypted)))
    if any(p.get("fstype") == LVM_FSTYPE for p in table.partitions):
        hints.append("LVM physical volumes are there (select a logical volume with LV=vg/lv)")
    raise VirtDiskError("partition: auto found no partition with a mountable Linux filesystem on %s%s; "
                        "partitions seen: %s" % (image, "; " + "; ".join(hints) if hints else "", describe(table)))
