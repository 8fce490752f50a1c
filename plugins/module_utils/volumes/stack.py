# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The volumes layer as the kernel shows it: device-mapper devices stacked on
an image's device and partitions (LUKS mappings, LVM logical volumes, any
other map), found from sysfs holders, whoever made them.

Names: what this collection opens is called virtdisk-<image key>-..., so a
later run finds it by name and never takes a host's map for the image's:
  virtdisk-<key>-p<N>          the LUKS mapping of partition N (0: the whole device)
  virtdisk-<key>-<vg>-<lv>     a logical volume, "-" in vg and lv doubled as lvm2 does
A logical volume activated by lvm2 itself (vgchange -ay by hand) is <vg>-<lv>
with a dm uuid LVM-...; a LUKS mapping opened by hand has a dm uuid
CRYPT-LUKS<n>-...: both are adopted when they sit on the image's devices.
"""

from __future__ import annotations

import os

PREFIX = "virtdisk-"
UUID_PREFIX = "VIRTDISK-"
DM_NAME_MAX = 127  # DM_NAME_LEN - 1


class Volume(object):
    """A device-mapper device on top of an image's devices.

    name: the dm name (/dev/mapper/NAME). kernel_name: dm-N. uuid: the dm uuid.
    slaves: the kernel names of the devices it sits on. depth: 1 on a
    partition or the device, 2 on a volume, ... kind: luks, lvm or dm.
    """

    __slots__ = ("name", "kernel_name", "uuid", "major", "minor", "size", "slaves", "depth", "dev_root",
                 "read_only")

    def __init__(self, name, kernel_name, uuid, major, minor, size=None, slaves=(), depth=1, dev_root="/dev",
                 read_only=False):
        self.name = name
        self.kernel_name = kernel_name
        self.uuid = uuid or ""
        self.major = major
        self.minor = minor
        self.size = size
        self.slaves = list(slaves)
        self.depth = depth
        self.dev_root = dev_root
        self.read_only = read_only

    @property
    def device(self):
        return os.path.join(self.dev_root, "mapper", self.name)

    @property
    def numbers(self):
        return (self.major, self.minor)

    @property
    def kind(self):
        if self.uuid.startswith("CRYPT-"):
            return "luks"
        if self.uuid.startswith("LVM-") or self.uuid.startswith(UUID_PREFIX + "LVM-"):
            return "lvm"
        return "dm"

    def ours(self, key):
        return self.name.startswith(prefix(key))

    def to_dict(self, key=None):
        return {"name": self.name, "device": self.device, "type": self.kind, "over": list(self.slaves),
                "read_only": self.read_only, "ours": bool(key) and self.ours(key)}

    def __repr__(self):
        return "Volume(%s %s %s)" % (self.name, self.kernel_name, self.kind)


def prefix(key):
    return PREFIX + key + "-"


def escape(part):
    """An lvm2 name part of a dm name: "-" doubled."""
    return part.replace("-", "--")


def luks_name(key, number):
    return "%sp%d" % (prefix(key), number)


def lv_name(key, vg, lv):
    return "%s%s-%s" % (prefix(key), escape(vg), escape(lv))


def lvm_name(vg, lv):
    """The dm name lvm2 itself gives a logical volume."""
    return "%s-%s" % (escape(vg), escape(lv))


def lv_uuid(key, vg_uuid, lv_uuid_):
    """The dm uuid of a logical volume this collection activates: lvm2's own
    (LVM-<vg uuid><lv uuid>, dashes dropped) behind our prefix and the image key,
    so that copies of one image and the host's volumes never share it."""
    return "%sLVM-%s%s-%s" % (UUID_PREFIX, vg_uuid.replace("-", ""), lv_uuid_.replace("-", ""), key)


def scan(sysfs, bases, dev_root="/dev", skip_names=()):
    """The volumes stacked on the block devices bases (kernel names), in
    teardown order (the topmost first). skip_names: dm names that are not
    volumes (the partition maps of kpartx, which are partitions)."""
    found = {}
    frontier = [(b, 0) for b in bases]
    while frontier:
        name, depth = frontier.pop(0)
        for holder in sysfs.holders(name):
            if not holder.startswith("dm-") or holder in bases:
                continue
            vol = found.get(holder)
            if vol is None:
                if sysfs.read("class", "block", holder, "dm", "name") in skip_names:
                    continue
                numbers = sysfs.dev_numbers(holder) or (None, None)
                vol = Volume(sysfs.read("class", "block", holder, "dm", "name") or holder, holder,
                             sysfs.read("class", "block", holder, "dm", "uuid"), numbers[0], numbers[1],
                             sysfs.size_bytes(holder), sysfs_slaves(sysfs, holder), depth + 1, dev_root,
                             sysfs.read_only(holder))
                found[holder] = vol
            elif depth + 1 > vol.depth:
                vol.depth = depth + 1
            else:
                continue
            frontier.append((holder, vol.depth))
    return sorted(found.values(), key=lambda v: (-v.depth, v.name))


def on_disk(sysfs, disk, kernel_nodes, dm_nodes, dev_root="/dev"):
    """The volumes on disk (a kernel name) and on its partition nodes
    ({number: partnodes.Node} of the kernel and of kpartx), topmost first."""
    bases = [disk] + [kernel_name(n) for n in kernel_nodes.values()] + [kernel_name(n) for n in dm_nodes.values()]
    return scan(sysfs, bases, dev_root, skip_names=set(n.dm_name for n in dm_nodes.values()))


def kernel_name(node):
    """The kernel's name of a partition node: dm-N for a device-mapper map, else its /dev name."""
    return "dm-%d" % node.minor if node.dm_name else os.path.basename(node.device)


def sysfs_slaves(sysfs, name):
    try:
        return sorted(os.listdir(sysfs.path("class", "block", name, "slaves")))
    except OSError:
        return []


def named(volumes, name):
    return next((v for v in volumes if v.name == name), None)


def luks_on(volumes, kernel_name):
    """The LUKS mapping directly on the device kernel_name (ours or made by hand), or None."""
    return next((v for v in volumes if v.kind == "luks" and v.slaves == [kernel_name]), None)


def find_luks(volumes, key, number, kernel_name):
    """The mapping of the LUKS partition number (on kernel_name): ours by name, else one made by hand."""
    return named(volumes, luks_name(key, number)) or (luks_on(volumes, kernel_name) if kernel_name else None)


def find_lv(volumes, key, vg, lv):
    """The map of logical volume vg/lv: ours by name, else lvm2's own (vgchange -ay by hand)."""
    mine = named(volumes, lv_name(key, vg, lv))
    if mine is not None:
        return mine
    theirs = named(volumes, lvm_name(vg, lv))
    return theirs if theirs is not None and theirs.kind == "lvm" else None


def above(volumes, vol):
    """The volumes stacked on vol (directly or not)."""
    out = []
    names = set([vol.kernel_name])
    for v in sorted(volumes, key=lambda x: x.depth):
        if names & set(v.slaves):
            out.append(v)
            names.add(v.kernel_name)
    return out
