# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The executor: runs planned steps, checks the kernel after each, and on a
failure undoes what this run created, in reverse order.

It works on an Env (converge.Env): runner, sysfs, procs, timeout and paths."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.backends import fuse as fuse_export
from ansible_collections.virt.disk.plugins.module_utils.backends import loop as loop_attach
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.kernel import nbd
from ansible_collections.virt.disk.plugins.module_utils.backends import nbd as nbd_connect
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts
from ansible_collections.virt.disk.plugins.module_utils.mappers import registry as partmap
from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes
from ansible_collections.virt.disk.plugins.module_utils.mounts import mount as mnt
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.state.locking import DiskLock


class Executor(object):
    def __init__(self, env, image, want, attachment=None, fmt="raw", allow_backing_file=False, resolver=None):
        self.env = env
        self.image = image
        self.want = want
        self.fmt = fmt
        self.allow_backing_file = allow_backing_file
        self.resolver = resolver
        self.device = attachment.device if attachment is not None else None
        self.backend = attachment.backend if attachment is not None else want.backend
        self.pid = attachment.pid if attachment is not None else None
        self.forced = []
        self.node = None
        self.mapped_with = None
        self.actions = []
        self.warnings = []
        self.changed_for_good = False
        self.mounted = {}  # path -> {"opts", "fstype"}: the mounts this run made or remounted
        self._undo = []
        self._disk = DiskLock()  # held from attach until mapping and mounting are done

    # running

    def run(self, steps):
        queue = list(steps)
        try:
            while queue:
                step = queue.pop(0)
                if step.op == "resolve":
                    # the partition table of a qemu image is known only once it is attached
                    queue = self.resolver(self) + queue
                    continue
                getattr(self, "_do_" + step.op)(**step.args)
        finally:
            self._disk.release()

    def rollback(self):
        """Undo this run's creations, newest first; never raises."""
        self._disk.release()  # a device held open cannot be detached
        errors = []
        while self._undo:
            desc, undo = self._undo.pop()
            try:
                undo()
                self.actions.append("rolled back: %s" % desc)
            except Exception as e:  # pylint: disable=broad-except
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
                                    self.env.dev_root, loop=self.backend in ("loop", "fuse"))

    # steps

    def _do_attach(self, backend, read_only):
        env = self.env
        if backend == "loop":
            device = self._attach_loop(self.image.path, read_only)
        elif backend == "fuse":
            pid, export = fuse_export.start(env.runner, self.image.path, self.fmt, self.image.key, read_only,
                                            self.allow_backing_file, env.timeout, env.procs, env.mountinfo_path,
                                            env.run_dir)
            self.pid = pid
            self._did("exported %s as %s through FUSE (qemu-storage-daemon pid %d%s)"
                      % (self.image.path, export, pid, ", read-only" if read_only else ""),
                      lambda: fuse_export.stop(env.runner, pid, export, env.timeout, env.procs, env.mountinfo_path))
            device = self._attach_loop(export, read_only)
        elif backend == "nbd":
            device, pid = nbd_connect.connect(env.runner, env.sysfs, self.image.path, self.fmt, read_only,
                                              env.timeout, env.run_dir, env.procs, env.dev_root)
            self.pid = pid

            def undo():
                partmap.unmap_all(self._map_context(device))  # maps hold the device: they go first
                nbd_connect.disconnect(env.runner, env.sysfs, device, env.timeout, env.procs)
            mode = ", read-only" if read_only else ""
            self._did("connected %s to %s (qemu-nbd pid %d%s)" % (self.image.path, device, pid, mode), undo)
        else:
            raise VirtDiskError("backend %s cannot attach %s" % (backend, self.image.path), step="attach")
        self.device = device
        self.backend = backend
        self._disk.hold(device, env.timeout)

    def _attach_loop(self, path, read_only):
        device = loop_attach.attach(self.env.runner, path, read_only, self.env.timeout, self.env.sysfs, self.env.dev_root)

        def undo():
            partmap.unmap_all(self._map_context(device))
            loop_attach.detach(self.env.runner, device, self.env.timeout, self.env.sysfs)
        self._did("attached %s as %s%s" % (path, device, " (read-only)" if read_only else ""), undo)
        return device

    def _do_map(self, number, mapper):
        self._disk.hold(self.device, self.env.timeout)
        ctx = self._map_context()
        kernel_wait = 0
        if self.backend == "nbd" and nbd.max_part(self.env.sysfs):
            kernel_wait = min(self.env.timeout, 2)  # nbd scans partitions asynchronously after connecting
        node, used, created = partmap.map_partition(ctx, number, mapper, kernel_wait)
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
        node = partmap.find(self._map_context(), number, self.want.mapper)
        if node is None:
            raise VirtDiskError("partition %d of %s has no device" % (number, self.device), step="mount")
        return node

    def _do_mount(self, path, number):
        self._disk.hold(self.device, self.env.timeout)
        node = self._node_for(number)
        device = node["device"]
        mnt.mount(self.env.runner, device, path, self.want.fstype, self.want.opts, self.want.read_only)

        def undo():
            mnt.umount(self.env.runner, path)
        self._did("mounted %s at %s%s" % (device, path, " read-only" if self.want.read_only else ""), undo)
        if mountinfo.top_mount_at(mountinfo.read(self.env.mountinfo_path), path) is None:
            raise VirtDiskError("mount reported success but nothing is mounted at %s" % path,
                                step="mount %s at %s" % (device, path))
        self.mounted[path] = {"opts": self.want.opts, "fstype": self.want.fstype}

    def _do_remount(self, path):
        top = mountinfo.top_mount_at(mountinfo.read(self.env.mountinfo_path), path)
        mnt.remount(self.env.runner, top.source if top is not None else path, path, self.want.opts,
                    self.want.read_only)
        flags = mountopts.wanted(self.want.opts, self.want.read_only)[0]
        self._did("remounted %s with %s" % (path, mountopts.render(flags)))
        self.mounted[path] = {"opts": self.want.opts, "fstype": self.want.fstype}

    def _do_umount(self, path, source, restore=None):
        """Unmount path; with restore ({"fstype", "opts"}), a rollback mounts it again so."""
        mnt.umount(self.env.runner, path)
        undo = None
        if restore is not None:
            def undo():
                mnt.mount(self.env.runner, source, path, restore["fstype"], restore["opts"], False)
        self._did("unmounted %s (%s)" % (path, source), undo)

    def _do_unmap_all(self, device, backend, partx_numbers=()):
        self.backend = backend
        try:
            self._disk.hold(device, self.env.timeout)
        except VirtDiskError as e:
            # taking down must not stop here: without the lock, partx tries again while udev probes
            self.warnings.append("removing the partitions of %s without locking it: %s" % (device, e))
        ctx = self._map_context(device)
        if backend == "block":
            partmap.unmap_block(ctx, partx_numbers)
        else:
            partmap.unmap_all(ctx)
        self._did("removed the partition devices of %s" % device)

    def _do_detach(self, device, backend, pid=None, export=None):
        env = self.env
        self._disk.release()
        if backend == "nbd":
            nbd_connect.disconnect(env.runner, env.sysfs, device, env.timeout, env.procs)
            self._did("disconnected %s" % device)
            return
        if device is not None:
            loop_attach.detach(env.runner, device, env.timeout, env.sysfs)
            self._did("detached %s" % device)
        if backend == "fuse":
            forced = fuse_export.stop(env.runner, pid, export, env.timeout, env.procs, env.mountinfo_path)
            if forced:
                what = "qemu-storage-daemon of %s was gone or did not stop; its export %s was cleaned up by force" \
                    % (self.image.path, export)
                self.forced.append(what)
            self._did("stopped the FUSE export %s%s" % (export, " (forced)" if forced else ""))

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
