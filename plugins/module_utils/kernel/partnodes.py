# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partition device nodes of an attached disk, whichever mapper made them.

Kernel and partx partitions appear in sysfs under the disk and as
/dev/DISKpN; kpartx maps are device-mapper holders of the disk, at
/dev/mapper/NAME. Where devtmpfs made no node for what sysfs shows, one is
created from sysfs major:minor (and removed again at teardown).
"""

from __future__ import annotations

import os
import stat

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


class MapContext(object):
    """What a partition mapper works on: one attached disk."""

    def __init__(self, runner, sysfs, device, timeout, dev_root="/dev", loop=False):
        self.runner = runner
        self.sysfs = sysfs
        self.device = device
        self.disk = os.path.basename(device)
        self.timeout = timeout
        self.dev_root = dev_root
        self.loop = loop


def sysfs_partition(ctx, number):
    """The sysfs entry of partition number of ctx.disk (kernel or BLKPG), or None."""
    for part in ctx.sysfs.partitions(ctx.disk):
        if part["number"] == number:
            return part
    return None


def kernel_nodes(sysfs, disk, dev_root="/dev"):
    """{number: node} of the partitions in sysfs (the kernel's scan or BLKPG/partx)."""
    nodes = {}
    for part in sysfs.partitions(disk):
        nodes[part["number"]] = {
            "number": part["number"],
            "device": os.path.join(dev_root, part["name"]),
            "major": part["major"],
            "minor": part["minor"],
            "mapper": "kernel",
            "size": part["size"],
        }
    return nodes


def dm_nodes(sysfs, disk, dev_root="/dev"):
    """{number: node} of the device-mapper partition maps stacked on disk (kpartx, whoever made them)."""
    nodes = {}
    for dm in sysfs.dm_maps(disk):
        if dm["number"] is None or dm["number"] in nodes:
            continue
        nodes[dm["number"]] = {
            "number": dm["number"],
            "device": os.path.join(dev_root, "mapper", dm["name"]),
            "major": dm["major"],
            "minor": dm["minor"],
            "mapper": "kpartx",
            "size": dm["size"],
            "dm_name": dm["name"],
        }
    return nodes


def merge(kernel, dm):
    """One node per number; a dm map wins, since while maps hold the disk its
    own partitions cannot be opened exclusively (mounted)."""
    nodes = dict(kernel)
    nodes.update(dm)
    return nodes


def pick(kernel, dm, number, mapper="auto"):
    """The node of partition number that serves mapper (auto: whichever is usable)."""
    if mapper == "kpartx":
        return dm.get(number)
    if mapper in ("kernel", "partx"):
        return kernel.get(number)
    return dm.get(number) or kernel.get(number)


def existing(sysfs, disk, dev_root="/dev"):
    """{number: node} for every partition device of disk (dm maps win)."""
    return merge(kernel_nodes(sysfs, disk, dev_root), dm_nodes(sysfs, disk, dev_root))


def ensure_node(path, major, minor):
    """Make sure path is the block device major:minor; return True if we created it."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None:
        if stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor):
            return False
        raise VirtDiskError("%s exists but is not the block device %d:%d" % (path, major, minor),
                            step="create the partition node %s" % path)
    try:
        os.mknod(path, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    except OSError as e:
        raise VirtDiskError("mknod %s failed: %s" % (path, e.strerror),
                            step="create the partition node %s" % path)
    return True


def remove_stale_node(path, major, minor):
    """Remove a node we made once its device is gone (devtmpfs removes its own)."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor):
        os.unlink(path)
