# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The executor: runs planned steps, checks the kernel after each, and on a
failure undoes what this run created, in reverse order."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils import loop, mountinfo, partmap, partnodes
from ansible_collections.virt.disk.plugins.module_utils import mounts as mnt
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


class Env(object):
    """The host the executor works on; paths injectable for tests."""

    def __init__(self, runner, sysfs, timeout, dev_root="/dev", mountinfo_path=mountinfo.DEFAULT_PATH):
        self.runner = runner
        self.sysfs = sysfs
        self.timeout = timeout
        self.dev_root = dev_root
        self.mountinfo_path = mountinfo_path


class Executor(object):
    def __init__(self, env, image, want, attachment=None):
        self.env = env
        self.image = image
        self.want = want
        self.device = attachment.device if attachment is not None else None
        self.backend = attachment.backend if attachment is not None else want.backend
        self.node = None
        self.mapped_with = None
        self.actions = []
        self.warnings = []
        self.changed_for_good = False
        self._undo = []

    # running

    def run(self, steps):
        for step in steps:
            getattr(self, "_do_" + step.op)(**step.args)

    def rollback(self):
        """Undo this run's creations, newest first; never raises."""
        errors = []
        while self._undo:
            desc, undo = self._undo.pop()
            try:
                undo()
                self.actions.append("rolled back: %s" % desc)
            except (VirtDiskError, OSError) as e:
                errors.append("%s: %s" % (desc, e))
        return errors

    def _did(self, desc, undo=None):
        self.actions.append(desc)
        if undo is not None:
            self._undo.append((desc, undo))
        else:
            self.changed_for_good = True

    def _map_context(self, device=None):
        return partnodes.MapContext(self.env.runner, self.env.sysfs, device or self.device, self.env.timeout,
                                    self.env.dev_root, loop=self.backend == "loop")

    # steps

    def _do_attach(self, backend, read_only):
        if backend != "loop":
            raise VirtDiskError("backend %s cannot attach %s" % (backend, self.image.path), step="attach")
        device = loop.attach(self.env.runner, self.image, read_only, self.env.timeout, self.env.sysfs,
                             self.env.dev_root)
        self.device = device
        self.backend = backend

        def undo():
            partmap.unmap_all(self._map_context(device))
            loop.detach(self.env.runner, device, self.env.timeout, self.env.sysfs)
        self._did("attached %s as %s%s" % (self.image.path, device, " (read-only)" if read_only else ""), undo)

    def _do_map(self, number, mapper):
        ctx = self._map_context()
        node, used, created = partmap.map_partition(ctx, number, mapper)
        self.node = node
        if used is not None:
            self.mapped_with = used
            self._did("mapped partition %d of %s as %s (%s)" % (number, self.device, node["device"], used),
                      lambda: partmap.unmap_partition(ctx, number, used))
        if created:
            self._did("created the missing node %s (%d:%d)" % (node["device"], node["major"], node["minor"]),
                      lambda: partnodes.remove_stale_node(node["device"], node["major"], node["minor"]))

    def _do_mkdir(self, path):
        missing = []
        probe = path
        while probe and not os.path.exists(probe):
            missing.append(probe)
            probe = os.path.dirname(probe)
        try:
            os.makedirs(path, 0o755)
        except OSError as e:
            raise VirtDiskError("cannot create %s: %s" % (path, e.strerror), step="create the mount point")

        def undo():
            for created in missing:
                os.rmdir(created)
        self._did("created the mount point %s" % path, undo)

    def _node_for(self, number):
        if self.node is not None and self.node["number"] == number:
            return self.node
        if number == 0:
            return {"number": 0, "device": self.device}
        node = partnodes.existing(self.env.sysfs, os.path.basename(self.device), self.env.dev_root).get(number)
        if node is None:
            raise VirtDiskError("partition %d of %s has no device" % (number, self.device), step="mount")
        return node

    def _do_mount(self, path, number):
        node = self._node_for(number)
        device = node["device"]
        mnt.mount(self.env.runner, device, path, self.want.fstype, self.want.opts, self.want.read_only)

        def undo():
            mnt.umount(self.env.runner, path)
        self._did("mounted %s at %s%s" % (device, path, " read-only" if self.want.read_only else ""), undo)
        if mnt.top_mount_at(mountinfo.read(self.env.mountinfo_path), path) is None:
            raise VirtDiskError("mount reported success but nothing is mounted at %s" % path,
                                step="mount %s at %s" % (device, path))

    def _do_umount(self, path, source):
        mnt.umount(self.env.runner, path)
        self._did("unmounted %s (%s)" % (path, source))

    def _do_unmap_all(self, device, backend):
        self.backend = backend
        partmap.unmap_all(self._map_context(device), keep_kernel_partitions=backend == "block")
        self._did("removed the partition devices of %s" % device)

    def _do_detach(self, device, backend):
        loop.detach(self.env.runner, device, self.env.timeout, self.env.sysfs)
        self._did("detached %s" % device)

    def _do_rmdir(self, path, optional=False):
        try:
            if os.listdir(path):
                self.warnings.append("mount point %s is not empty; it was left in place" % path)
                return
            os.rmdir(path)
        except OSError as e:
            if optional and not os.path.exists(path):
                return
            raise VirtDiskError("cannot remove %s: %s" % (path, e.strerror), step="remove the mount point")
        self._did("removed the mount point %s" % path)
