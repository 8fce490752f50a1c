# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Discovery: the stack the kernel holds of an image right now, layer by layer.

The kernel is the source of truth: the attachments of the image (device
layer: every registered backend is asked), the partition nodes of every
mapper on them (partitions layer), the device-mapper devices stacked on those
(volumes layer: LUKS mappings, logical volumes), and the mounts of all those
devices (mounts layer). Whatever is found is adopted, whoever made it. The state
file only adds what the kernel cannot tell: which mapper made a partition
node, and the options a mount was asked for.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.backends import registry
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo, partnodes
from ansible_collections.virt.disk.plugins.module_utils.volumes import stack


class Observed(object):
    """The discovered stack of one image."""

    def __init__(self, image, attachments, mounts_of_image, all_mounts):
        self.image = image
        self.attachments = attachments
        self.mounts = mounts_of_image
        self.all_mounts = all_mounts
        self.mount_records = {}  # path -> {"opts", "fstype"} this collection mounted with (state file)
        self.inside = []  # (pid, command, root) chrooted into the mounts, looked for before a teardown

    @property
    def attachment(self):
        """The attachment to use: the first with mounts, else the first that can serve."""
        for att in self.attachments:
            if self.mounts_of(att):
                return att
        for att in self.attachments:
            if not att.broken:
                return att
        return None

    def mounts_of(self, att):
        if att.device is None:
            return []
        return mountinfo.mounts_of(self.mounts, device_numbers(att), [n.device for n in att.all_nodes])

    def node_of(self, att, number, mapper="auto"):
        """The node of partition number on att that serves mapper (0: the whole device)."""
        if number == 0:
            return att.whole
        return partnodes.pick(att.kernel_nodes, att.dm_nodes, number, mapper)

    def mounts_of_node(self, node):
        return mountinfo.mounts_of(self.mounts, [node.numbers], [node.device])

    @property
    def volumes(self):
        """Every volume on the image's attachments, the topmost first."""
        return [v for att in self.attachments for v in att.volumes]

    def volume_of(self, att, want):
        """The volume want.volume selects on att, ours or made by hand, or None."""
        return self.volume_at(att, want.volume, want.mapper)

    def volume_at(self, att, spec, mapper):
        """The volume spec ({"kind": "luks", "number"}, {"kind": "lv", "vg",
        "lv"}) on att, ours or made by hand, or None."""
        if att is None or spec is None:
            return None
        if spec["kind"] == "luks":
            node = self.node_of(att, spec["number"], mapper)
            kernel_name = stack.kernel_name(node) if node is not None else None
            return stack.find_luks(att.volumes, self.image.key, spec["number"], kernel_name)
        return stack.find_lv(att.volumes, self.image.key, spec["vg"], spec["lv"])

    def apply_record(self, record):
        """What the state file adds: the mapper of the partition nodes this
        collection made, and the options it mounted with."""
        att = self.attachment
        self.mount_records = dict(record.get("mounts") or {}) \
            if att is not None and record.get("device") == att.device else {}
        for att in self.attachments:
            name_mappers(att, record)


def name_mappers(att, record):
    """Nodes the kernel shows as its own that the record says a tool made (partx)."""
    if record.get("device") != att.device:
        return
    for number, mapper in (record.get("mappers") or {}).items():
        node = att.kernel_nodes.get(int(number))
        if node is not None and node.mapper == "kernel":
            node.mapper = mapper


def device_numbers(att):
    """(major, minor) of the device, of every partition node and volume on it."""
    return ([att.numbers] if att.numbers else []) + [n.numbers for n in att.all_nodes] + \
        [v.numbers for v in att.volumes]


def read_nodes(host, att, fallback_numbers=None):
    """Fill in att's device numbers and its partition nodes from sysfs."""
    if att.device is None:
        return
    att.numbers = host.sysfs.dev_numbers(att.name) or fallback_numbers
    att.kernel_nodes = partnodes.kernel_nodes(host.sysfs, att.name, host.dev_root)
    att.dm_nodes = partnodes.dm_nodes(host.sysfs, att.name, host.dev_root)
    att.volumes = stack.on_disk(host.sysfs, att.name, att.kernel_nodes, att.dm_nodes, host.dev_root)


def mounts_of_all(all_mounts, attachments):
    """The mounts of any device (or partition node) of the attachments."""
    numbers = []
    nodes = []
    for att in attachments:
        if att.device is None:
            continue
        numbers += device_numbers(att)
        nodes += [n.device for n in att.all_nodes] + [att.device] + [v.device for v in att.volumes]
    return mountinfo.mounts_of(all_mounts, numbers, nodes)


def discover(host, image):
    """The Observed stack of image on host."""
    attachments = registry.find(host, image)
    for att in attachments:
        read_nodes(host, att, image.rdev)
    all_mounts = mountinfo.read(host.mountinfo_path)
    return Observed(image, attachments, mounts_of_all(all_mounts, attachments), all_mounts)
