# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registered partition mappers, the auto rule, and mapping a partition
so that it has a device node.

partition_mapper auto: reuse whatever node already exists; else the kernel's
own nodes when its scan made them; else partx; else kpartx.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes
from ansible_collections.virt.disk.plugins.module_utils.mappers import kernel, kpartx, partx
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import ensure_node, remove_stale_node

MAPPERS = dict((m.NAME, m) for m in (kernel, partx, kpartx))
NAMES = tuple(MAPPERS)
# auto, once no node exists: the tools tried in turn after the kernel's own scan
AUTO_TOOLS = (partx, kpartx)


def find(ctx, number, mapper="auto"):
    """The node of partition number serving mapper, or None."""
    return partnodes.pick(partnodes.kernel_nodes(ctx.sysfs, ctx.disk, ctx.dev_root),
                          partnodes.dm_nodes(ctx.sysfs, ctx.disk, ctx.dev_root), number, mapper)


def _node_of(ctx, number, mapper):
    node = find(ctx, number, mapper)
    if node is None:
        raise VirtDiskError("partition %d of %s has no device after mapping with %s" % (number, ctx.device, mapper),
                            step="map partition %d" % number)
    node.mapper = mapper
    return node


def map_partition(ctx, number, mapper, kernel_wait=0):
    """Map partition number of ctx.device with mapper (or auto).

    Returns (node, mapper_used, node_created). An existing node that serves
    the mapper is reused (mapper_used None); an explicit mapper is honoured
    even when another mapper's node exists. kernel_wait is how long the
    kernel's own scan may take to show up (nbd scans asynchronously). If
    mapping fails half-way, what it made is removed again.
    """
    node = find(ctx, number, mapper)
    if node is not None:
        return node, None, ensure_node(node)
    maps_before = bool(partnodes.dm_nodes(ctx.sysfs, ctx.disk, ctx.dev_root))
    try:
        if mapper == "auto":
            used = _map_auto(ctx, number, kernel_wait)
        elif mapper == kernel.NAME:
            kernel.map_partition(ctx, number, wait=kernel_wait)
            used = mapper
        else:
            MAPPERS[mapper].map_partition(ctx, number)
            used = mapper
        node = _node_of(ctx, number, used)
        return node, used, ensure_node(node)
    except VirtDiskError:
        if not maps_before:
            kpartx.unmap_all(ctx)  # kpartx maps every partition at once: take back what it made
        raise


def _map_auto(ctx, number, kernel_wait):
    if kernel_wait:
        try:
            kernel.map_partition(ctx, number, wait=kernel_wait)
            return kernel.NAME
        except VirtDiskError:
            pass
    errors = []
    for tool in AUTO_TOOLS:
        if ctx.runner.which(tool.NAME, required=False) is None:
            errors.append("%s is not installed" % tool.NAME)
            continue
        try:
            tool.map_partition(ctx, number)
            return tool.NAME
        except VirtDiskError as e:
            errors.append(str(e))
    raise VirtDiskError("no partition mapper could map partition %d of %s: %s"
                        % (number, ctx.device, "; ".join(errors)), step="map partition %d" % number)


def unmap_partition(ctx, number, mapper):
    """Undo mapping one partition with mapper (rollback of a map step)."""
    node = find(ctx, number, mapper)
    if node is None:
        return
    MAPPERS[mapper].unmap_partition(ctx, number)
    remove_stale_node(node)


def unmap_all(ctx):
    """Remove every partition device of ctx.device: dm maps, kernel and partx partitions."""
    nodes = partnodes.existing(ctx.sysfs, ctx.disk, ctx.dev_root)
    kpartx.unmap_all(ctx)
    partx.unmap_all(ctx)
    for node in nodes.values():
        remove_stale_node(node)


def unmap_some(ctx, nodes):
    """Remove only the given partition nodes (on a block device: what mapping
    added; the partitions its kernel made stay)."""
    if any(n.dm_name for n in nodes):
        kpartx.unmap_all(ctx)
    for node in nodes:
        if not node.dm_name:
            partx.unmap_partition(ctx, node.number)
    for node in nodes:
        remove_stale_node(node)
