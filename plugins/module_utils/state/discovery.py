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

from ansible_collections.virt.disk.plugins.module_utils.kernel import qsd as fuse
from ansible_collections.virt.disk.plugins.module_utils.kernel import loop
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.kernel import nbd
from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR
from ansible_collections.virt.disk.plugins.module_utils.kernel.procs import Procs


class Attachment(object):
    """An image made available as a block device.

    For fuse, device is the loop device over the export file, and may be None
    when only the daemon is left; pid is the qemu helper, None when it died.
    """

    def __init__(self, backend, device, read_only, partscan=False, pid=None, export=None):
        self.backend = backend
        self.device = device
        self.name = os.path.basename(device) if device else None
        self.read_only = read_only
        self.partscan = partscan
        self.pid = pid
        self.export = export
        self.kernel_nodes = {}  # partitions in sysfs (kernel scan or partx)
        self.dm_nodes = {}  # device-mapper partition maps (kpartx)
        self.numbers = None

    @property
    def nodes(self):
        """One node per partition number, a dm map winning over a kernel partition."""
        return partnodes.merge(self.kernel_nodes, self.dm_nodes)

    @property
    def broken(self):
        """A helper-backed attachment that cannot serve: no device, or its helper is gone."""
        return self.backend in ("fuse", "nbd") and (self.device is None or self.pid is None)

    def __repr__(self):
        return "Attachment(%s %s)" % (self.backend, self.device)


class Observed(object):
    """The discovered state of one image."""

    def __init__(self, image, attachments, mounts_of_image, all_mounts):
        self.image = image
        self.attachments = attachments
        self.mounts = mounts_of_image
        self.all_mounts = all_mounts
        self.mount_records = {}  # path -> {"opts", "fstype"} this collection mounted with (statefile)

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
        return mountinfo.mounts_of(self.mounts, _numbers(att), [n["device"] for n in _all_nodes(att)])

    def node_of(self, att, number, mapper="auto"):
        """The node of partition number on att that serves mapper (0: the whole device)."""
        if number == 0:
            return {"number": 0, "device": att.device, "major": att.numbers[0], "minor": att.numbers[1],
                    "mapper": None}
        return partnodes.pick(att.kernel_nodes, att.dm_nodes, number, mapper)

    def mounts_of_node(self, node):
        return mountinfo.mounts_of(self.mounts, [(node["major"], node["minor"])], [node["device"]])


def _all_nodes(att):
    """Every partition node of att, of both kinds (a number may have a kernel node and a dm map)."""
    return list(att.kernel_nodes.values()) + list(att.dm_nodes.values())


def _numbers(att):
    numbers = [att.numbers] if att.numbers else []
    numbers += [(n["major"], n["minor"]) for n in _all_nodes(att)]
    return numbers


def find_attachments(image, sysfs, procs, status=loop.get_status, dev_root="/dev", run_dir=RUN_DIR):
    """Every way the image is attached now, by whoever attached it."""
    if image.kind == "block":
        name = sysfs.name_of(*image.rdev)
        att = Attachment("block", image.path, sysfs.read_only(name) if name else False)
        att.name = name or os.path.basename(image.path)
        return [att]
    found = []
    for info in loop.find_attached(sysfs, image, status=status, dev_root=dev_root):
        found.append(Attachment("loop", os.path.join(dev_root, info["name"]), info["read_only"],
                                partscan=info["partscan"]))
    for name, pid, path, argv in nbd.connections(sysfs, procs):
        if image.is_file(path):
            found.append(Attachment("nbd", os.path.join(dev_root, name),
                                    sysfs.read_only(name) or "--read-only" in argv or "-r" in argv, pid=pid))
    found += _fuse_attachments(image, sysfs, procs, dev_root, run_dir)
    return found


def _fuse_attachments(image, sysfs, procs, dev_root, run_dir):
    """Loop devices over a FUSE export of the image, and daemons exporting it.

    The export is recognised by the daemon's command line, or, when the daemon
    is gone, by the export file named after the image's key.
    """
    daemons = dict((d["export"], d) for d in fuse.find_daemons(procs) if image.is_file(d["image_path"]))
    ours = set([fuse.export_path(image.key, run_dir)] + [fuse.export_path(f["key"], run_dir) for f in image.former])
    found = []
    seen = set()
    for name in sysfs.block_devices("loop"):
        info = sysfs.loop_info(name)
        if info is None:
            continue
        backing = info["backing_file"]
        if backing.endswith(" (deleted)"):
            backing = backing[:-len(" (deleted)")]
        if backing not in daemons and backing not in ours:
            continue
        daemon = daemons.get(backing)
        found.append(Attachment("fuse", os.path.join(dev_root, name), info["read_only"], partscan=info["partscan"],
                                pid=daemon["pid"] if daemon else None, export=backing))
        seen.add(backing)
    for export, daemon in daemons.items():
        if export not in seen:
            found.append(Attachment("fuse", None, not daemon["writable"], pid=daemon["pid"], export=export))
    return found


def discover(image, sysfs, mountinfo_path=mountinfo.DEFAULT_PATH, status=loop.get_status, dev_root="/dev",
             procs=None, run_dir=RUN_DIR):
    procs = procs or Procs()
    attachments = find_attachments(image, sysfs, procs, status=status, dev_root=dev_root, run_dir=run_dir)
    numbers = []
    nodes = []
    for att in attachments:
        if att.device is None:
            continue
        att.numbers = sysfs.dev_numbers(att.name) or image.rdev
        att.kernel_nodes = partnodes.kernel_nodes(sysfs, att.name, dev_root)
        att.dm_nodes = partnodes.dm_nodes(sysfs, att.name, dev_root)
        numbers += _numbers(att)
        nodes += [n["device"] for n in _all_nodes(att)] + [att.device]
    all_mounts = mountinfo.read(mountinfo_path)
    return Observed(image, attachments, mountinfo.mounts_of(all_mounts, numbers, nodes), all_mounts)
