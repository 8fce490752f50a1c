# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel partition mapper: the kernel's own partition scan.

Loop devices need their partscan flag (set here if a device attached by hand
lacks it); nbd needs the module's max_part. The kernel creates /dev/DISKpN.
Its partitions are removed like partx's, with BLKPG (partx --delete).
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import loop
from ansible_collections.virt.disk.plugins.module_utils.mappers import partx
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import sysfs_partition
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

NAME = "kernel"


def rescan(ctx):
    """Ask the kernel to scan the partition table of ctx.device."""
    step = "scan the partition table of %s" % ctx.device
    if ctx.loop and not (ctx.sysfs.loop_info(ctx.disk) or {}).get("partscan"):
        try:
            loop.set_partscan(ctx.device)
        except OSError as e:
            raise VirtDiskError("cannot enable partition scanning: %s" % e.strerror, step=step)
        return
    ctx.runner.run(["blockdev", "--rereadpt", ctx.device], step=step)


def map_partition(ctx, number, wait=None):
    """Have the kernel create partition number; return its sysfs entry."""
    if sysfs_partition(ctx, number) is None:
        rescan(ctx)
    found = sysfs_partition(ctx, number)
    if found is None and wait:
        try:
            found = poll(lambda: sysfs_partition(ctx, number), wait, "partition %d of %s" % (number, ctx.device))
        except VirtDiskError:
            found = None
    if found is None:
        raise VirtDiskError(
            "the kernel did not create partition %d of %s: it cannot parse this partition table "
            "(no partition-table support, or loop max_part/nbd max_part is 0); "
            "use partition_mapper: partx or kpartx" % (number, ctx.device),
            step="map partition %d with the kernel's scan" % number)
    return found


def unmap_partition(ctx, number):
    partx.unmap_partition(ctx, number)


def unmap_all(ctx):
    partx.unmap_all(ctx)
