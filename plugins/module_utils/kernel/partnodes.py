# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partition device nodes of a disk as the kernel shows them, whichever mapper made them.

Kernel and partx partitions appear in sysfs under the disk and as
/dev/DISKpN; kpartx maps are device-mapper holders of the disk, at
/dev/mapper/NAME.
"""

from __future__ import annotations

import os

# The partition mappers (mappers/registry.py registers one module per name,
# in this order), and those whose nodes are the disk's own partitions in
# sysfs; any other mapper's nodes are device-mapper maps stacked on the disk.
MAPPERS = ("kernel", "partx", "kpartx")
SYSFS_MAPPERS = ("kernel", "partx")


class Node(object):
    """A partition device: number (0: the whole device), /dev path, device
    numbers, the mapper that made it (None for the whole device), size in
    bytes, and the map's name for a device-mapper node."""

    __slots__ = ("number", "device", "major", "minor", "mapper", "size", "dm_name")

    def __init__(self, number, device, major, minor, mapper=None, size=None, dm_name=None):
        self.number = number
        self.device = device
        self.major = major
        self.minor = minor
        self.mapper = mapper
        self.size = size
        self.dm_name = dm_name

    @property
    def numbers(self):
        return (self.major, self.minor)

    def __eq__(self, other):
        return isinstance(other, Node) and all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __ne__(self, other):
        return not self == other

    def __repr__(self):
        return "Node(%s %s %s:%s %s)" % (self.number, self.device, self.major, self.minor, self.mapper)


def kernel_nodes(sysfs, disk, dev_root="/dev"):
    """{number: Node} of the partitions in sysfs (the kernel's scan or BLKPG/partx)."""
    return dict((p["number"], Node(p["number"], os.path.join(dev_root, p["name"]), p["major"], p["minor"],
                                   "kernel", p["size"]))
                for p in sysfs.partitions(disk))


def dm_nodes(sysfs, disk, dev_root="/dev"):
    """{number: Node} of the device-mapper partition maps stacked on disk (kpartx, whoever made them)."""
    nodes = {}
    for dm in sysfs.dm_maps(disk):
        if dm["number"] is None or dm["number"] in nodes:
            continue
        nodes[dm["number"]] = Node(dm["number"], os.path.join(dev_root, "mapper", dm["name"]), dm["major"],
                                   dm["minor"], "kpartx", dm["size"], dm["name"])
    return nodes


def merge(kernel, dm):
    """One node per number; a dm map wins, since while maps hold the disk its
    own partitions cannot be opened exclusively (mounted)."""
    nodes = dict(kernel)
    nodes.update(dm)
    return nodes


def pick(kernel, dm, number, mapper="auto"):
    """The node of partition number that serves mapper (auto: whichever is usable)."""
    if mapper == "auto":
        return dm.get(number) or kernel.get(number)
    return kernel.get(number) if mapper in SYSFS_MAPPERS else dm.get(number)


def existing(sysfs, disk, dev_root="/dev"):
    """{number: Node} for every partition device of disk (dm maps win)."""
    return merge(kernel_nodes(sysfs, disk, dev_root), dm_nodes(sysfs, disk, dev_root))
