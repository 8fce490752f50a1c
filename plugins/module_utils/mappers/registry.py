# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Choosing a partition mapper and making sure the partition has a node.

partition_mapper auto: reuse whatever node already exists; else the kernel's
own nodes when its scan made them; else partx; else kpartx.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.mappers import kernel as mapper_kernel
from ansible_collections.virt.disk.plugins.module_utils.mappers import kpartx as mapper_kpartx
from ansible_collections.virt.disk.plugins.module_utils.mappers import partx as mapper_partx
from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

MAPPERS = {"kernel": mapper_kernel, "partx": mapper_partx, "kpartx": mapper_kpartx}


def find(ctx, number, mapper="auto"):
    """The node of partition number serving mapper, or None."""
    return partnodes.pick(partnodes.kernel_nodes(ctx.sysfs, ctx.disk, ctx.dev_root),
                          partnodes.dm_nodes(ctx.sysfs, ctx.disk, ctx.dev_root), number, mapper)


def _node_of(ctx, number, mapper):
    node = find(ctx, number, mapper)
    if node is None:
        raise VirtDiskError("partition %d of %s has no device after mapping with %s" % (number, ctx.device, mapper),
                            step="map partition %d" % number)
    node["mapper"] = mapper
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
        return node, None, _ensure(node)
    maps_before = bool(partnodes.dm_nodes(ctx.sysfs, ctx.disk, ctx.dev_root))
    try:
        if mapper == "auto":
            used = _map_auto(ctx, number, kernel_wait)
        else:
            if mapper == "kernel":
                mapper_kernel.map_partition(ctx, number, wait=kernel_wait)
            else:
                MAPPERS[mapper].map_partition(ctx, number)
            used = mapper
        node = _node_of(ctx, number, used)
        return node, used, _ensure(node)
    except VirtDiskError:
        if mapper in ("kpartx", "auto") and not maps_before:
            mapper_kpartx.unmap_all(ctx)  # kpartx maps every partition at once: take back what it made
        raise


def _map_auto(ctx, number, kernel_wait):
    if kernel_wait:
        try:
            mapper_kernel.map_partition(ctx, number, wait=kernel_wait)
            return "kernel"
        except VirtDiskError:
            pass
    errors = []
    for name in ("partx", "kpartx"):
        if ctx.runner.which(name, required=False) is None:
            errors.append("%s is not installed" % name)
            continue
        try:
            MAPPERS[name].map_partition(ctx, number)
            return name
        except VirtDiskError as e:
            errors.append(str(e))
    raise VirtDiskError("no partition mapper could map partition %d of %s: %s"
                        % (number, ctx.device, "; ".join(errors)), step="map partition %d" % number)


def _ensure(node):
    return partnodes.ensure_node(node["device"], node["major"], node["minor"])


def unmap_partition(ctx, number, mapper):
    """Undo mapping one partition with mapper (rollback of a map step)."""
    node = find(ctx, number, mapper)
    if node is None:
        return
    if mapper == "kpartx":
        mapper_kpartx.unmap_all(ctx)
    else:
        mapper_partx.unmap_partition(ctx, number)
    partnodes.remove_stale_node(node["device"], node["major"], node["minor"])


def unmap_all(ctx):
    """Remove every partition device of ctx.device: dm maps, kernel and partx partitions."""
    nodes = partnodes.existing(ctx.sysfs, ctx.disk, ctx.dev_root)
    mapper_kpartx.unmap_all(ctx)
    mapper_partx.unmap_all(ctx)
    for node in nodes.values():
        partnodes.remove_stale_node(node["device"], node["major"], node["minor"])


def unmap_block(ctx, partx_numbers):
    """On a block device, remove only what mapping added: dm maps and the given
    partx partitions; the partitions its kernel made stay."""
    nodes = partnodes.existing(ctx.sysfs, ctx.disk, ctx.dev_root)
    mapper_kpartx.unmap_all(ctx)
    for number in partx_numbers:
        if number in nodes:
            mapper_partx.unmap_partition(ctx, number)
    for node in nodes.values():
        if node["mapper"] == "kpartx" or node["number"] in partx_numbers:
            partnodes.remove_stale_node(node["device"], node["major"], node["minor"])
