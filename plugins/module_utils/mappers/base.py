# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The partitions layer: what a mapper works on, and the device nodes a
mapper may have to make where devtmpfs made none.

Each mapper is one module of this package with NAME, map_partition(ctx,
number), unmap_partition(ctx, number) and unmap_all(ctx); registry.py
registers them and holds the auto rule.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


class MapContext(object):
    """One attached disk a mapper works on. loop: it is a loop device, whose
    partition scan is a flag of the device."""

    def __init__(self, host, device, loop=False):
        self.host = host
        self.runner = host.runner
        self.sysfs = host.sysfs
        self.timeout = host.timeout
        self.dev_root = host.dev_root
        self.device = device
        self.disk = os.path.basename(device)
        self.loop = loop


def sysfs_partition(ctx, number):
    """The sysfs entry of partition number of ctx.disk (kernel or BLKPG), or None."""
    for part in ctx.sysfs.partitions(ctx.disk):
        if part["number"] == number:
            return part
    return None


def ensure_node(node):
    """Make sure node.device is the block device node.major:minor; return True if we created it."""
    try:
        st = os.stat(node.device)
    except OSError:
        st = None
    if st is not None:
        if stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == node.numbers:
            return False
        raise VirtDiskError("%s exists but is not the block device %d:%d" % (node.device, node.major, node.minor),
                            step="create the partition node %s" % node.device)
    try:
        os.mknod(node.device, 0o600 | stat.S_IFBLK, os.makedev(node.major, node.minor))
    except OSError as e:
        raise VirtDiskError("mknod %s failed: %s" % (node.device, e.strerror),
                            step="create the partition node %s" % node.device)
    return True


def remove_stale_node(node):
    """Remove a node we made once its device is gone (devtmpfs removes its own)."""
    try:
        st = os.lstat(node.device)
    except OSError:
        return
    if stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == node.numbers:
        os.unlink(node.device)
