# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The executor: runs planned steps bottom-up, checks the kernel after each,
and on a failure undoes what this run made, top-down.

Every layer reports what it made with did(description, undo) as soon as it
exists, so a failure half-way through a step is undone too. It works on a
state.host.Host. This module and what only it needs (the backends' and
mappers' tools, mount(8)) load only when there is work to do (converge.py).
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import probe
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo, partnodes
from ansible_collections.virt.disk.plugins.module_utils.mappers import registry as mappers
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import MapContext, remove_stale_node
from ansible_collections.virt.disk.plugins.module_utils.mounts import clones, mount as mnt, options as mountopts
from ansible_collections.virt.disk.plugins.module_utils.state.locking import DiskLock
from ansible_collections.virt.disk.plugins.module_utils.volumes import dm, luks, lvm, stack
from ansible_collections.virt.disk.plugins.module_utils.volumes.key import LUKS_FSTYPE, LVM_FSTYPE, pv_places, spec_text


class Executor(object):
    def __init__(self, host, image, want, attachment=None, fmt="raw", allow_backing_file=False, fstype_of=None,
                 table_of=None):
        self.host = host
        self.image = image
        self.want = want
        self.fmt = fmt
        self.allow_backing_file = allow_backing_file
        self.fstype_of = fstype_of or (lambda number: None)  # the probed filesystem of a partition
        self.table_of = table_of or (lambda: None)  # the probed partition table (parttable.Table)
        self.volume_device = None  # the volume the volume step opened or activated
        self.device = attachment.device if attachment is not None else None
        self.backend = attachment.backend if attachment is not None else want.backend
        self.pid = attachment.pid if attachment is not None else None
        self.forced = []
        self.node = None
        self.mapped_with = {}  # partition number -> the mapper that mapped it in this run
        self.actions = []
        self.warnings = []
        self.changed_for_good = False
        self.mounted = {}  # path -> {"opts", "fstype"}: the mounts this run made or remounted
        self._undo = []
        self._disk = DiskLock()  # held from attach until mapping and mounting are done

    # running

    def run(self, steps):
        """Run steps in order; may be called again with more steps (after the
        attached image was probed), and rollback() then undoes both runs."""
        try:
            for step in steps:
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
        """Record an action; with undo, a rollback takes it back."""
        self.actions.append(desc)
        if undo is not None:
            self._undo.append((desc, undo))
        else:
            self.changed_for_good = True

    def _map_context(self, device=None, backend=None):
        return MapContext(self.host, device or self.device, loop=(backend or self.backend).loop_device)

    # steps, bottom-up: device, partitions, mount point, mounts

    def _do_attach(self, backend, read_only, snapshot=False):
        self.backend = backend

        def did(desc, undo=None):
            self._did(desc, self._unmapping_first(undo) if undo is not None else None)
        device, pid = backend.attach(self.host, self.image, self.fmt, read_only, self.allow_backing_file, did,
                                     snapshot=snapshot)
        self.device = device
        self.pid = pid
        self._disk.hold(device, self.host.timeout)

    def _unmapping_first(self, undo):
        """undo, after removing whatever partition devices hold the attached device."""
        def run():
            if self.device is not None:
                mappers.unmap_all(self._map_context())
            undo()
        return run

    def _do_map(self, number, mapper):
        self._disk.hold(self.device, self.host.timeout)
        ctx = self._map_context()
        node, used, created = mappers.map_partition(ctx, number, mapper, self.backend.partscan_wait(self.host))
        self.node = node
        if used is not None:
            self.mapped_with[number] = used
            self._did("mapped partition %d of %s as %s (%s)" % (number, self.device, node.device, used),
                      lambda: mappers.unmap_partition(ctx, number, used))
        if created:
            self._did("created the missing node %s (%d:%d)" % (node.device, node.major, node.minor),
                      lambda: remove_stale_node(node))

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

    def node_for(self, number):
        """The device node of partition number (None for the whole device); fails when it has none."""
        if self.node is not None and self.node.number == number:
            return self.node
        if number == 0:
            return None
        node = mappers.find(self._map_context(), number, self.want.mapper)
        if node is None:
            raise VirtDiskError("partition %d of %s has no device" % (number, self.device), step="mount")
        return node

    # volumes: LUKS mappings and logical volumes (volumes/)

    def volumes(self):
        """The volumes on the attached device now."""
        disk = os.path.basename(self.device)
        return stack.on_disk(self.host.sysfs, disk, partnodes.kernel_nodes(self.host.sysfs, disk, self.host.dev_root),
                             partnodes.dm_nodes(self.host.sysfs, disk, self.host.dev_root), self.host.dev_root)

    def volume_for(self, spec):
        """The volume that spec ({"kind": "luks", "number"} or {"kind": "lv", "vg", "lv"}) names, as it is
        now, ours or made by hand; None when it is not there."""
        if spec["kind"] == "luks":
            node = self.node_for(spec["number"]) if spec["number"] else None
            kernel_name = stack.kernel_name(node) if node is not None else os.path.basename(self.device)
            return stack.find_luks(self.volumes(), self.image.key, spec["number"], kernel_name)
        return stack.find_lv(self.volumes(), self.image.key, spec["vg"], spec["lv"])

    def _do_volume(self, spec):
        self._disk.hold(self.device, self.host.timeout)
        if spec["kind"] == "luks":
            if spec["number"]:
                self._do_map(spec["number"], self.want.mapper)
            device = self._open_luks(spec["number"])
        else:
            device = self._activate_lv(spec["vg"], spec["lv"])
        if spec == self.want.volume:
            self.volume_device = device

    def _open_luks(self, number):
        """Open the LUKS partition number (0: the whole device) as ours, or
        take the mapping there is; its device."""
        node = self.node_for(number) if number else None
        device = node.device if node is not None else self.device
        kernel_name = stack.kernel_name(node) if node is not None else os.path.basename(self.device)
        there = stack.find_luks(self.volumes(), self.image.key, number, kernel_name)
        if there is not None:
            return there.device
        name = stack.luks_name(self.image.key, number)
        luks.open_(self.host, device, name, self.want.key, self.want.device_read_only, self.image.path)
        opened = self.host.dev("mapper", name)

        def close():
            vol = stack.named(self.volumes(), name)
            if vol is not None:
                dm.remove(self.host, vol, "the LUKS mapping %s" % name)
        how = " read-only" if self.want.device_read_only else ""
        self._did("opened the LUKS partition %s as %s%s" % (device, opened, how), close)
        return opened

    def physical_volumes(self):
        """The devices holding LVM physical volumes: partitions (mapped here
        if need be), and the insides of LUKS partitions when a key is given.
        Returns (devices, LUKS partitions left closed for want of a key,
        {number: blkid probe} of the LUKS partitions opened that hold no
        physical volume)."""
        devices, locked, insides = [], [], {}
        for part in pv_places(self.table_of()):
            fstype, number = part.get("fstype"), part["number"]
            if number:
                self._do_map(number, self.want.mapper)
            if fstype == LUKS_FSTYPE:
                # without a key only a mapping that is open already (by hand, or by an earlier run) is looked into
                if not self.want.key and self.volume_for({"kind": "luks", "number": number}) is None:
                    locked.append(number)
                    continue
                inside = self._open_luks(number)
                found = probe.probe_filesystem(self.host.runner, inside)
                if found.get("TYPE") != LVM_FSTYPE:
                    insides[number] = found
                    continue
                devices.append(inside)
            else:
                devices.append(self.node_for(number).device if number else self.device)
        return devices, locked, insides

    def _activate_lv(self, vg, lv):
        devices, locked, _insides = self.physical_volumes()
        vgs = lvm.read(self.host, devices, self.image.path) if devices else {}
        if vg not in vgs and locked:
            numbers = ", ".join(map(str, locked))
            raise VirtDiskError("no volume group %s on the unencrypted partitions of %s, and partitions %s are "
                                "LUKS-encrypted: give passphrase or keyfile" % (vg, self.image.path, numbers),
                                step="activate the logical volume %s/%s" % (vg, lv))
        lines = lvm.table(vgs, vg, lv, self.image.path)
        # the host's lvm2 may have activated it meanwhile (udev event activation of a new physical volume):
        # a second map of the same volume would let it be mounted twice, so that one is used
        there = stack.find_lv(self.volumes(), self.image.key, vg, lv)
        if there is not None:
            return there.device
        name = stack.lv_name(self.image.key, vg, lv)
        meta = vgs[vg]
        dm.create(self.host, name, stack.lv_uuid(self.image.key, meta["uuid"], meta["lvs"][lv]["uuid"]), lines,
                  self.want.device_read_only)
        made = self.host.dev("mapper", name)

        def remove():
            vol = stack.named(self.volumes(), name)
            if vol is not None:
                dm.remove(self.host, vol, "the logical volume %s/%s" % (vg, lv))
        how = " read-only" if self.want.device_read_only else ""
        self._did("activated the logical volume %s/%s as %s%s" % (vg, lv, made, how), remove)
        return made

    def _do_close(self, vol):
        what = {"luks": "the LUKS mapping", "lvm": "the logical volume"}.get(vol.kind, "the device-mapper device")
        dm.remove(self.host, vol, "%s %s" % (what, vol.name))
        self._did("closed %s %s" % (what, vol.device))

    def _do_mount(self, path, number, device=None):
        if self.want.volume is not None:
            device = device or self.volume_device
        self._mount(path, number, self.want.fstype, self.want.opts, device=device)

    def _do_mount_tree(self, path, number, fstype, opts, record=None, volume=None):
        """Mount a partition of a tree (plan/treephase.py), or the volume
        volume (a logical volume or the inside of a LUKS partition, opened by
        a volume step before); path is resolved inside the tree. record: what
        the state file keeps instead of the options mounted with (the root's
        subvolume is the tree's, not asked for)."""
        device = None
        if volume is not None:
            vol = self.volume_for(volume)
            if vol is None:
                raise VirtDiskError("%s is not open" % spec_text(volume), step="mount it at %s" % path)
            device = vol.device
        self._mount(path, number, fstype, opts, tree=True, device=device)
        if record is not None:
            self.mounted[path] = record

    def _mount(self, path, number, fstype, opts, tree=False, device=None):
        self._disk.hold(self.device, self.host.timeout)
        if device is None:
            node = self.node_for(number)
            device = node.device if node is not None else self.device
            probed = self.fstype_of(number)
        else:  # a volume: its filesystem is not in the partition table
            probed = probe.probe_filesystem(self.host.runner, device).get("TYPE")
        # nouuid for an XFS copy is how it is mounted, not what was asked: the
        # record keeps opts, so that the next run compares what was asked
        probed = fstype if fstype and fstype != "auto" else probed
        mount_opts, copy_note = self._copies(device, path, probed, opts)
        # XFS refuses a UUID it has mounted; a copy being mounted at the same moment by a run on another image
        # (each image has its own lock) is not in mountinfo yet when _copies looks: nouuid is its fallback
        added = mnt.mount(self.host.runner, device, path, fstype, mount_opts, self.want.read_only,
                          probed_fstype=probed, canonicalize=not tree,
                          fallbacks=["nouuid"] if probed == "xfs" else [])
        if "nouuid" in added:
            copy_note = " with nouuid (a copy with the same XFS UUID was mounted meanwhile)"
        no_replay = next((o for o in added if o != "nouuid"), None)
        how = " read-only" if self.want.read_only or no_replay else ""
        subvol = mountopts.subvol(mountopts.split(mount_opts))
        how += " (subvolume %s)" % subvol if subvol else ""
        how += copy_note
        if no_replay:
            how += " without replaying its journal (%s)" % no_replay
            self.warnings.append(
                "the filesystem on %s of %s was not cleanly unmounted and its journal cannot be replayed on a "
                "read-only device: mounted at %s with %s, so it shows the filesystem as of its last checkpoint "
                "and may lack the last writes; snapshot: true replays the journal into a throwaway overlay, "
                "read_only: false into the image"
                % (device, self.image.path, path, no_replay))
        self._did("mounted %s at %s%s" % (device, path, how), lambda: mnt.umount(self.host.runner, path))
        if mountinfo.top_mount_at(mountinfo.read(self.host.mountinfo_path), path) is None:
            raise VirtDiskError("mount reported success but nothing is mounted at %s" % path,
                                step="mount %s at %s" % (device, path))
        self.mounted[path] = {"opts": opts, "fstype": fstype}

    def _copies(self, device, path, fstype, opts):
        """Options for mounting a copy of a filesystem that is mounted already
        (mounts/clones.py): XFS gets nouuid; btrfs on a kernel without
        temp_fsid fails here, naming the mounted copy. Returns (opts, note)."""
        if fstype not in clones.SUPERBLOCKS:
            return opts, ""
        found = clones.twins(mountinfo.read(self.host.mountinfo_path), device, fstype, dev_root=self.host.dev())
        if clones.nouuid_needed(opts, fstype, found):
            return ",".join(mountopts.split(opts) + ["nouuid"]), (
                " with nouuid (%s mounted at %s has the same XFS UUID)" % (found[0].source, found[0].path))
        refusal = clones.btrfs_refusal(fstype, found, self.host.sysfs.exists("fs", "btrfs", "features", "temp_fsid"))
        if refusal:
            raise VirtDiskError(refusal, step="mount %s at %s" % (device, path))
        return opts, ""

    def _do_remount(self, path, source, opts=None, fstype=None):
        """Change the generic flags of the mount at path to the module's (or, for a tree mount, opts)."""
        if opts is None:
            opts, fstype = self.want.opts, self.want.fstype
        mnt.remount(self.host.runner, source, path, opts, self.want.read_only)
        flags = mountopts.wanted(opts, self.want.read_only)[0]
        self._did("remounted %s with %s" % (path, mountopts.render(flags)))
        self.mounted[path] = {"opts": opts, "fstype": fstype}

    def _do_runtime_mount(self, path, fstype, source, options):
        """A mount of the chroot runtime (runtime/chroot.py); path is resolved inside the image. A bind is
        made private, so that what is mounted beneath it (devpts at /dev/pts) never reaches the host's."""
        args = ["mount", "--no-canonicalize"] + (["--bind"] if fstype is None else ["-t", fstype])
        args += (["-o", options] if options else []) + [source, path]
        step = "mount the chroot runtime's %s" % path
        self.host.runner.run(args, step=step)
        self._did("%s at %s" % ("bound " + source if fstype is None else "mounted " + fstype, path),
                  lambda: mnt.umount(self.host.runner, path))
        if fstype is None:
            self.host.runner.run(["mount", "--no-canonicalize", "--make-private", path], step=step)

    def _do_runtime_file(self, path):
        """An empty file on the runtime's /run (a tmpfs), to bind the host's resolv.conf on."""
        try:
            if not os.path.isdir(os.path.dirname(path)):
                os.makedirs(os.path.dirname(path), 0o755)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
        except OSError as e:
            raise VirtDiskError("cannot create %s: %s" % (path, e.strerror), step="runtime")
        self._did("created %s on the runtime's /run" % path, lambda: os.unlink(path))

    # steps, top-down: processes, mounts, partitions, device

    def _do_stop(self, procs):
        """Stop the processes chrooted into the image's mounts: TERM, then KILL after the timeout."""
        for pid, comm, root in procs:
            killed = self.host.procs.terminate(pid, self.host.timeout, comm)
            how = " with SIGKILL" if killed else ""
            self._did("stopped process %d (%s, chrooted into %s)%s" % (pid, comm, root, how))

    def _do_umount(self, path, source, restore=None):
        """Unmount path; with restore ({"fstype", "opts"}), a rollback mounts it again so."""
        mnt.umount(self.host.runner, path)
        undo = None
        if restore is not None:
            def undo():
                mnt.mount(self.host.runner, source, path, restore["fstype"], restore["opts"], False)
        self._did("unmounted %s (%s)" % (path, source), undo)

    def _do_unmap(self, att, nodes):
        try:
            self._disk.hold(att.device, self.host.timeout)
        except VirtDiskError as e:
            # taking down must not stop here: without the lock, partx tries again while udev probes
            self.warnings.append("removing the partitions of %s without locking it: %s" % (att.device, e))
        ctx = self._map_context(att.device, att.backend)
        if att.backend.detaches:
            mappers.unmap_all(ctx)
        else:
            mappers.unmap_some(ctx, nodes)
        self._did("removed the partition devices of %s" % att.device)

    def _do_detach(self, att):
        self._disk.release()
        forced = att.backend.detach(self.host, att, self._did)
        if forced:
            self.forced.append(forced)

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
