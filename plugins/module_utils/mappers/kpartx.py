# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kpartx partition mapper: device-mapper linear maps, /dev/mapper/DISKpN.

kpartx maps every partition at once. Maps are removed by name with dmsetup,
so maps made by another tool (or named with another delimiter) go too.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

NAME = "kpartx"


def _find(ctx, number):
    for dm in ctx.sysfs.dm_maps(ctx.disk):
        if dm["number"] == number:
            return dm
    return None


def map_partition(ctx, number):
    step = "map partition %d of %s with kpartx" % (number, ctx.device)
    if _find(ctx, number) is None:
        ctx.runner.run(["kpartx", "-a", "-v", ctx.device], step=step)
    try:
        return poll(lambda: _find(ctx, number), min(ctx.timeout, 5), "the map of partition %d" % number,
                    step=step)
    except VirtDiskError:
        raise VirtDiskError("kpartx made no map for partition %d of %s" % (number, ctx.device), step=step)


def unmap_all(ctx):
    """Remove every partition map stacked on the device."""
    for dm in ctx.sysfs.dm_maps(ctx.disk):
        if dm["number"] is None:
            continue
        ctx.runner.run(["dmsetup", "remove", "--retry", dm["name"]],
                       step="remove the device-mapper map %s" % dm["name"])


def unmap_partition(ctx, number):
    """kpartx maps all partitions at once, so taking one back takes them all."""
    unmap_all(ctx)
