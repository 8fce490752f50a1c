# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The device layer: the record of an attachment and the interface every
backend implements (one file per backend, registered in registry.py)."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes


class Attachment(object):
    """An image made available as a block device, as the kernel shows it.

    backend: the Backend that serves it. device: /dev/NAME, None for a helper
    left without its device (a FUSE export with no loop over it). image and
    format: what the kernel or the helper's command line names (inventory);
    backing_file: a loop device's file as sysfs shows it (" (deleted)" when
    it is gone); backing: (st_dev, st_ino) of that file, when the kernel tells
    it. numbers: the device's (major, minor). pid: the helper process, None
    when it is gone. export: the FUSE export file. snapshot: writes go to a
    throwaway overlay (its file in overlay, when it has one of its own).
    """

    def __init__(self, backend, device, read_only, image=None, fmt=None, partscan=False, pid=None, export=None,
                 backing_file=None, backing=None, snapshot=False, overlay=None):
        self.backend = backend
        self.device = device
        self.name = os.path.basename(device) if device else None
        self.read_only = read_only
        self.image = image
        self.format = fmt
        self.partscan = partscan
        self.pid = pid
        self.export = export
        self.backing_file = backing_file
        self.backing = backing
        self.snapshot = snapshot
        self.overlay = overlay
        self.numbers = None
        self.kernel_nodes = {}  # partitions in sysfs (kernel scan or partx)
        self.dm_nodes = {}  # device-mapper partition maps (kpartx)
        self.volumes = []  # device-mapper devices stacked on the device or its partitions (volumes/stack.py)

    @property
    def kind(self):
        """The backend's name: loop, nbd, fuse or block."""
        return self.backend.name

    @property
    def nodes(self):
        """One node per partition number, a dm map winning over a kernel partition."""
        return partnodes.merge(self.kernel_nodes, self.dm_nodes)

    @property
    def all_nodes(self):
        """Every partition node, of both kinds (a number may have a kernel node and a dm map)."""
        return list(self.kernel_nodes.values()) + list(self.dm_nodes.values())

    @property
    def whole(self):
        """The node of the whole device (partition number 0)."""
        major, minor = self.numbers or (None, None)
        return partnodes.Node(0, self.device, major, minor)

    @property
    def broken(self):
        """A helper-backed attachment that cannot serve: no device, or its helper is gone."""
        return bool(self.backend.helper) and (self.device is None or self.pid is None)

    def __repr__(self):
        return "Attachment(%s %s)" % (self.kind, self.device)


class Backend(object):
    """What a backend is and does. Subclasses set the attributes and implement
    the methods; the registry chooses among them and discovery asks each one.

    name: the backend option's value. formats: the formats it reads (None: any
    qemu format). kinds: the image kinds it takes ("file", "block"). helper:
    the process serving its devices (None: the kernel alone). detaches: False
    when the device is not this collection's to take away (a block device).
    loop_device: its devices are loop devices (partition scan by loop flag).
    snapshots: it can send writes to a throwaway overlay (option snapshot).
    """

    name = None
    formats = ("raw",)
    kinds = ("file",)
    helper = None
    detaches = True
    loop_device = False
    snapshots = False

    def refuse(self, image, fmt, snapshot=False):
        """Why this backend cannot read image as fmt (asked for by name), or None."""
        if image.kind not in self.kinds:
            return "backend %s is for %s; %s is %s" % (
                self.name, " and ".join("block devices" if k == "block" else "image files" for k in self.kinds),
                image.path, "a block device" if image.kind == "block" else "a file")
        if self.formats is not None and fmt not in self.formats:
            return "backend %s reads %s images only; %s is %s: use backend nbd or fuse (or auto)" % (
                self.name, "/".join(self.formats), image.path, fmt)
        if snapshot and not self.snapshots:
            return "backend %s cannot send writes to a throwaway overlay (snapshot): use backend nbd or fuse (or auto)" \
                % self.name
        return None

    def unusable(self, host):
        """Why this host cannot run this backend (a missing module, device or tool), or None."""
        return None

    def scan(self, host, claimed, loops=None):
        """Every attachment of this backend on the host, whoever made it; skips
        the devices in claimed (another backend's) and adds its own to it.
        loops: sysfs.attached_loops(), read once for every backend of a scan."""
        return []

    def matches(self, att, image):
        """Whether att serves image."""
        return False

    def find(self, host, image, claimed, loops=None):
        """The attachments of image."""
        return [att for att in self.scan(host, claimed, loops) if self.matches(att, image)]

    def attach(self, host, image, fmt, read_only, allow_backing_file, did, snapshot=False):
        """Make image a block device; return (device, pid). Each thing made is
        reported with did(description, undo) as soon as it exists. snapshot:
        writes go to a throwaway overlay (only where snapshots is true)."""
        raise NotImplementedError

    def detach(self, host, att, did):
        """Take att away and wait for the kernel to let go, reporting each
        thing taken with did(description); return a warning when it had to be
        forced, else None."""
        raise NotImplementedError

    def describe_detach(self, att):
        return "detach %s" % att.device

    def partscan_wait(self, host):
        """How long the kernel's own partition scan may take to show after attaching."""
        return 0
