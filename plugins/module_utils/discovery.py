# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Discovery: what the kernel holds of an image right now.

The kernel is the source of truth: the attachments of the image (loop devices
backed by it, or the block device itself), the partition devices of every
mapper on them, and the mounts of all those devices. Whatever is found is
adopted, whoever made it.
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils import loop, mountinfo, mounts, partnodes


class Attachment(object):
    """An image made available as a block device."""

    def __init__(self, backend, device, read_only, partscan=False, pid=None):
        self.backend = backend
        self.device = device
        self.name = os.path.basename(device)
        self.read_only = read_only
        self.partscan = partscan
        self.pid = pid
        self.nodes = {}
        self.numbers = None

    def __repr__(self):
        return "Attachment(%s %s)" % (self.backend, self.device)


class Observed(object):
    """The discovered state of one image."""

    def __init__(self, image, attachments, mounts_of_image, all_mounts):
        self.image = image
        self.attachments = attachments
        self.mounts = mounts_of_image
        self.all_mounts = all_mounts

    @property
    def attachment(self):
        """The attachment to use: the first with mounts, else the first."""
        for att in self.attachments:
            if any(m in self.mounts_of(att) for m in self.mounts):
                return att
        return self.attachments[0] if self.attachments else None

    def mounts_of(self, att):
        return mounts.mounts_of(self.mounts, _numbers(att), [n["device"] for n in att.nodes.values()])

    def node_of(self, att, number):
        if number == 0:
            return {"number": 0, "device": att.device, "major": att.numbers[0], "minor": att.numbers[1],
                    "mapper": None}
        return att.nodes.get(number)

    def mounts_of_node(self, node):
        return mounts.mounts_of(self.mounts, [(node["major"], node["minor"])], [node["device"]])


def _numbers(att):
    numbers = [att.numbers] if att.numbers else []
    numbers += [(n["major"], n["minor"]) for n in att.nodes.values()]
    return numbers


def find_attachments(image, sysfs, status=loop.get_status, dev_root="/dev"):
    if image.kind == "block":
        name = sysfs.name_of(*image.rdev)
        att = Attachment("block", image.path, sysfs.read_only(name) if name else False)
        att.name = name or os.path.basename(image.path)
        return [att]
    found = []
    for info in loop.find_attached(sysfs, image, status=status, dev_root=dev_root):
        found.append(Attachment("loop", os.path.join(dev_root, info["name"]), info["read_only"],
                                partscan=info["partscan"]))
    return found


def discover(image, sysfs, mountinfo_path=mountinfo.DEFAULT_PATH, status=loop.get_status, dev_root="/dev"):
    attachments = find_attachments(image, sysfs, status=status, dev_root=dev_root)
    numbers = []
    nodes = []
    for att in attachments:
        att.numbers = sysfs.dev_numbers(att.name) or image.rdev
        att.nodes = partnodes.existing(sysfs, att.name, dev_root)
        numbers += _numbers(att)
        nodes += [n["device"] for n in att.nodes.values()] + [att.device]
    all_mounts = mountinfo.read(mountinfo_path)
    return Observed(image, attachments, mounts.mounts_of(all_mounts, numbers, nodes), all_mounts)
