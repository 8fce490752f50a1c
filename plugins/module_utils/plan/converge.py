# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_mount's run: inspect the image, lock it, discover its stack, read its
partition table, plan, execute, remember, report.

A qemu image that is not attached has no readable partition table yet, so
its run has two phases: the first executes the steps up to the attach, then
the new device is probed, the partition selected, and the rest planned and
executed. Check mode stops after planning. A failure of anything during
execution (a tool, the kernel, a bug) rolls back what the run made.
"""

from __future__ import annotations

import os
import traceback

from ansible_collections.virt.disk.plugins.module_utils.backends import registry
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import formats, image as image_mod, selector
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import Table
from ansible_collections.virt.disk.plugins.module_utils.plan import result as res
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import PathInfo, Want, plan
from ansible_collections.virt.disk.plugins.module_utils.state import discovery, statefile
from ansible_collections.virt.disk.plugins.module_utils.state.imagecache import ImageCache
from ansible_collections.virt.disk.plugins.module_utils.state.locking import Lock
from ansible_collections.virt.disk.plugins.module_utils.volumes import stack
from ansible_collections.virt.disk.plugins.module_utils.volumes.key import LUKS_FSTYPE, LVM_FSTYPE, Key, pv_places


class ConvergeError(VirtDiskError):
    """A failure with the partial result to report."""

    def __init__(self, error, result):
        super(ConvergeError, self).__init__(str(error))
        self.result = result


def choose_format(image, wanted):
    """The format to read the image as: explicit, or recognised from the header."""
    if wanted != "auto":
        return wanted
    return image.detected


def check_image(runner, image, fmt, allow_backing_file, cache):
    """Before a qemu helper opens the image: refuse backing/data files and damaged images.

    An image file that passed as fmt, with nothing outside itself, and has not
    changed since (imagecache) is not checked again."""
    passed = cache.get("checked") or []
    if fmt in passed:
        return
    info = formats.qemu_info(runner, image.path, fmt)
    external = formats.check_policy(info, image.path, fmt, allow_backing_file)
    formats.check_integrity(runner, image.path, fmt)
    if not external:
        cache.put("checked", sorted(set(passed) | set([fmt])))


def cached_table(cache):
    """The partition table the image cache keeps for an unchanged image file, or None."""
    cached = cache.get("table")
    return Table.from_dict(cached) if cached else None


def probe_table(host, source, cache):
    """The partition table of source; for an image file, taken from the image
    cache while the file is unchanged, so a re-run starts no tools."""
    table = cached_table(cache)
    if table is not None:
        return table
    table = load_work().probe.probe(host.runner, source)
    cache.put("table", table.to_dict())
    return table


def read_table(host, image, fmt, att, cache, allow_backing_file):
    """The partition table where it can be read without attaching anything:
    from an attached device, a raw file, or the image cache; None for a qemu
    image that is not attached and was not seen unchanged before. A qemu image
    that is not attached is checked first, since a helper is to open it."""
    if att is None and fmt != "raw":
        check_image(host.runner, image, fmt, allow_backing_file, cache)
        return cached_table(cache)
    return probe_table(host, att.device if att is not None else image.path, cache)


def path_info(path, all_mounts):
    if not path:
        return PathInfo()
    exists = os.path.lexists(path)
    is_dir = os.path.isdir(path)
    empty = True
    if is_dir and not any(m.path == path for m in all_mounts):
        try:
            empty = not os.listdir(path)
        except OSError:
            empty = False
    return PathInfo(exists, is_dir, empty)


class _Work(object):
    def __init__(self, executor, probe):
        self.Executor = executor.Executor  # pylint: disable=invalid-name
        self.probe = probe


def load_work():
    """What a run needs only when it has work to do: the executor (and with it
    the backends' and mappers' tools and mount(8)), and the probe of partition
    tables. Imported here (as the tree layer is in Run.tree_pass), so that a
    run with nothing to do never compiles them (Ansible compiles every
    module_utils file a module imports, on each run);
    tests/unit/.../plan/test_converge.py guards it."""
    from ansible_collections.virt.disk.plugins.module_utils.image import probe  # pylint: disable=import-outside-toplevel
    from ansible_collections.virt.disk.plugins.module_utils.plan import executor  # pylint: disable=import-outside-toplevel
    return _Work(executor, probe)


def converge(params, host, check_mode):
    """Converge params["image"] to params["state"] on host (a state.host.Host); return the result dict."""
    result = res.empty(params)
    state = params["state"]
    if state == "mounted" and not params.get("path"):
        raise ConvergeError(VirtDiskError("state mounted needs path"), result)
    if params.get("path"):
        # mountinfo shows resolved paths: compare like with like
        params = dict(params, path=os.path.realpath(params["path"]))
        result["path"] = params["path"]
    teardown = state in ("unmapped", "absent")
    try:
        # taking down works on an image whose file is gone: what is attached from its path goes
        image = image_mod.inspect(params["image"], allow_gone=teardown,
                                  records=lambda: statefile.load_all(host.run_dir))
        result["image"] = image.path
        fmt = backend = None
        if image.kind != "gone":
            fmt = choose_format(image, params["format"])
            backend = registry.choose(image, fmt, params["backend"], host, snapshot=params.get("snapshot", False))
            result["format"] = fmt
        sel = selector.parse(params["partition"]) if not teardown else None
    except VirtDiskError as e:
        raise ConvergeError(e, result)
    tree = None
    if params.get("layout") == "tree" and state == "mounted":
        tree = {"source": params.get("tree_source") or "auto", "noauto": bool(params.get("tree_noauto"))}
    want = Want(state, params.get("path"), None, backend, params["partition_mapper"], params.get("fstype"),
                params["opts"], params["read_only"], backend_explicit=params["backend"] != "auto",
                selector_text=params["partition"], tree=tree, snapshot=bool(params.get("snapshot")),
                runtime=params.get("runtime") if state == "mounted" and params.get("runtime") != "none" else None,
                key=Key(params.get("passphrase"), params.get("keyfile")))
    # check mode writes nothing: it locks the image only when its lock file is already there
    with Lock(image.key, host.timeout, image.path, run_dir=host.run_dir, create=not check_mode):
        return Run(host, image, fmt, sel, want, params["allow_backing_file"], result).go(check_mode)


class Run(object):
    """One locked run on one image."""

    def __init__(self, host, image, fmt, sel, want, allow_backing_file, result):
        self.host = host
        self.image = image
        self.fmt = fmt
        self.sel = sel
        self.want = want
        self.allow_backing_file = allow_backing_file
        self.result = result
        self.record = statefile.load(image.key, host.run_dir)
        self.cache = ImageCache(image, host.run_dir)
        self.table = None
        self.tree = None  # the tree phase of a run with layout tree (treephase.Phase)
        self.runtime = None  # the runtime phase of a run with runtime chroot (runtime/chroot.Phase)

    def discover(self):
        obs = discovery.discover(self.host, self.image)
        obs.apply_record(self.record)
        return obs

    def select(self, table):
        """Resolve the selector on table (want.number), and the volume to
        mount instead of the partition: a logical volume, or the inside of a
        LUKS partition (want.volume)."""
        self.table = table
        self.want.number = selector.resolve(self.sel, table, self.image.path)
        if self.sel[0] == "lv":
            self.want.volume = {"kind": "lv", "vg": self.sel[1][0], "lv": self.sel[1][1]}
        elif selector.fstype_of(table, self.want.number) == LUKS_FSTYPE:
            self.want.volume = {"kind": "luks", "number": self.want.number}

    def fill(self, result, obs):
        """The result's fields from obs; a selected volume is the partition_device."""
        res.fill(result, obs, self.table, self.want.number, self.want.path)
        vol = obs.volume_of(obs.attachment, self.want) if self.want.volume is not None else None
        if vol is not None:
            mounted = obs.mounts_of_node(vol)
            result.update(partition_device=vol.device, mapper=None, fstype=mounted[0].fstype if mounted else None)

    def probed_fstype(self, number):
        """The filesystem the partition table probe saw on partition number (0: the whole device), or None."""
        return selector.fstype_of(self.table, number) if self.table is not None else None

    def fail(self, error):
        return ConvergeError(error, self.result)

    def go(self, check_mode):
        image, want, result = self.image, self.want, self.result
        try:
            obs = self.discover()
            if want.state in ("unmapped", "absent") and obs.mounts:
                obs.inside = self.host.procs.inside([m.path for m in obs.mounts])
            if image.kind == "gone":
                if not obs.attachments:
                    return self._gone_noop(obs, check_mode)  # nothing attached from a path where no image is
                result.setdefault("warnings", []).append(
                    "image %s no longer exists; taking down what is still attached from it (%s)"
                    % (image.path, ", ".join(a.device or a.export for a in obs.attachments)))
            if self.sel is not None:
                table = read_table(self.host, image, self.fmt, obs.attachment, self.cache, self.allow_backing_file)
                if table is not None:
                    self.select(table)
            steps = plan(obs, want, path_info(want.path, obs.all_mounts))
        except VirtDiskError as e:
            raise self.fail(e)

        info = path_info(want.path, obs.all_mounts)
        if want.state == "absent" and info.is_dir and not info.empty:
            result.setdefault("warnings", []).append("mount point %s is not empty; it was left in place" % want.path)
        before = res.snapshot(obs, want.number, want.path)
        tree = None
        if want.tree is not None and not steps:
            try:
                tree = self.tree_pass(obs, None)  # the root is mounted: the tree as it is now
            except VirtDiskError as e:
                self.fill(result, obs)
                raise self.fail(VirtDiskError("%s: %s" % (image.path, e)))
        more = tree.steps if tree is not None else []
        runtime = None
        if want.runtime is not None and not (steps or more):
            try:
                runtime = self.runtime_pass(None)  # the image is mounted as wanted: its runtime as it is now
            except VirtDiskError as e:
                self.fill(result, obs)
                raise self.fail(VirtDiskError("%s: %s" % (image.path, e)))
            more = runtime.steps
        result["changed"] = bool(steps or more)
        result["diff"] = {"before": before, "after": res.predict(before, steps, want, obs.attachment)}
        if check_mode or not (steps or more):
            result["actions"] = [s.desc for s in steps + more] if check_mode else []
            if check_mode and want.tree is not None and tree is None:
                result["actions"].append("mount the image's tree beneath %s (known once its root is mounted)"
                                         % want.path)
            if check_mode and want.runtime is not None and runtime is None:
                result["actions"].append("set up the chroot runtime in %s (known once the image is mounted)"
                                         % want.path)
            if not check_mode:
                self.cache.save()
            self.fill(result, obs)
            if tree is not None:
                res.fill_tree(result, tree)
            if runtime is not None:
                res.fill_runtime(result, runtime)
            if check_mode:
                res.fill_predicted(result, result["diff"]["after"])
            return result
        ex = self.execute(obs, steps)
        return self.finish(ex)

    def tree_pass(self, obs, ex):
        """The tree phase (plan/treephase.py) over the root mounted at path:
        with ex, the steps are done; without, only collected. Imported here:
        a run without layout tree does not compile the tree layer."""
        from ansible_collections.virt.disk.plugins.module_utils.plan import treephase  # pylint: disable=import-outside-toplevel
        want = self.want
        att = obs.attachment
        root_node = obs.volume_of(att, want) if want.volume is not None else obs.node_of(att, want.number,
                                                                                         want.mapper)

        def do(mount, steps):
            if ex is None:
                return None
            ex.run(steps)
            if mount.volume is not None:
                return ex.volume_for(mount.volume)
            return ex.node_for(mount.number)
        found = treephase.root_subvolume(want.path, self.table, want.number)
        if found is not None:
            subvol, fs_options = found
            steps = treephase.subvolume_root_steps(self.host, want.path, want.number, subvol, fs_options, want.opts,
                                                   obs.mount_records)
            if ex is None:
                return treephase.pending_root(self.host, want.path, want.number, subvol, fs_options, want.opts, steps,
                                              root_node)
            ex.run(steps)
        # without a key, the LUKS partitions that stay closed: those not open already (by hand or an earlier
        # run), which Executor.physical_volumes looks into as it does
        locked = [] if want.key else [
            p["number"] for p in pv_places(self.table) if p.get("fstype") == LUKS_FSTYPE
            and obs.volume_at(att, {"kind": "luks", "number": p["number"]}, want.mapper) is None]
        work = treephase.layout_of(self.host, want.path, self.table, want.number, want.tree, self.image.path,
                                   root_volume=want.volume, volumes=self._tree_volumes(obs, ex), locked=locked)
        nodes = {}
        for part in self.table.partitions:
            node = obs.node_of(att, part["number"], want.mapper)
            if node is not None:
                nodes[part["number"]] = node
        for mount in work.mounts:
            if mount.volume is not None:
                vol = obs.volume_at(att, mount.volume, want.mapper)
                if vol is not None:
                    nodes[mount.key] = vol
        return treephase.Phase(self.host, work, want.path, want.opts, want.read_only, want.mapper, nodes,
                               obs.mount_records, do, root_node=root_node).run()

    def _tree_volumes(self, obs, ex):
        """For the tree's fstab entries that are no partition: a callable that
        returns the image's logical volumes with the filesystems on them
        (volumes.lvm.filesystems) and the filesystems inside its LUKS
        partitions ({"number", "fstype", "uuid", "label"}), or None when no
        partition can hold either. Running (ex), it maps the partitions and
        opens the LUKS ones when a key is given; a dry pass reads those that
        are there."""
        parts = pv_places(self.table)
        if not parts:
            return None

        def volumes():
            from ansible_collections.virt.disk.plugins.module_utils.volumes import lvm  # pylint: disable=import-outside-toplevel
            if ex is not None:
                devices, _locked, insides = ex.physical_volumes()
            else:
                devices, insides = self._present_physical_volumes(obs.attachment, obs, parts)
            vgs = lvm.read(self.host, devices, self.image.path) if devices else {}
            return lvm.filesystems(self.host, vgs, self.image.path) + [
                {"number": number, "fstype": fs.get("TYPE"), "uuid": fs.get("UUID"), "label": fs.get("LABEL")}
                for number, fs in sorted(insides.items())]
        return volumes

    def _present_physical_volumes(self, att, obs, parts):
        """What of parts (LVM or LUKS partitions) is there now: (the devices
        of mapped physical volumes and open LUKS partitions that hold one,
        {number: blkid probe} of the open LUKS partitions that hold none)."""
        devices, insides = [], {}
        if att is None:
            return devices, insides
        for part in parts:
            number = part["number"]
            node = obs.node_of(att, number, self.want.mapper) if number else None
            if number and node is None:
                continue
            if part.get("fstype") == LVM_FSTYPE:
                devices.append(node.device if node is not None else att.device)
                continue
            kernel_name = stack.kernel_name(node) if node is not None else os.path.basename(att.device)
            vol = stack.find_luks(att.volumes, self.image.key, number, kernel_name)
            if vol is None:
                continue
            found = load_work().probe.probe_filesystem(self.host.runner, vol.device)
            if found.get("TYPE") == LVM_FSTYPE:
                devices.append(vol.device)
            else:
                insides[number] = found
        return devices, insides

    def runtime_pass(self, ex):
        """The runtime phase (runtime/chroot.py) at path: with ex, its steps
        are done; without, only collected. Imported here, as the tree layer is."""
        from ansible_collections.virt.disk.plugins.module_utils.runtime import chroot  # pylint: disable=import-outside-toplevel
        return chroot.Phase(self.host, self.want.path, self.want.read_only, ex.run if ex is not None else None).run()

    def execute(self, obs, steps):
        """Run the steps; for a qemu image attached by them, probe it, select
        the partition and run the rest. Any failure rolls back."""
        ex = load_work().Executor(self.host, self.image, self.want, obs.attachment, fmt=self.fmt,
                                  allow_backing_file=self.allow_backing_file, fstype_of=self.probed_fstype,
                                  table_of=lambda: self.table)
        try:
            probe_first = [s.op for s in steps][-1:] == ["resolve"]
            ex.run(steps[:-1] if probe_first else steps)
            if probe_first:
                self.select(probe_table(self.host, ex.device, self.cache))
                fresh = self.discover()
                ex.run(plan(fresh, self.want, path_info(self.want.path, fresh.all_mounts)))
            if self.want.tree is not None:
                self.tree = self.tree_pass(self.discover(), ex)
            if self.want.runtime is not None:
                self.runtime = self.runtime_pass(ex)
        except Exception as e:  # pylint: disable=broad-except
            self._rolled_back(ex, e)
        return ex

    def _rolled_back(self, ex, error):
        errors = ex.rollback()
        result = self.result
        result["actions"] = ex.actions
        result["changed"] = bool(errors) or ex.changed_for_good
        if isinstance(error, VirtDiskError):
            msg = "%s: %s" % (self.image.path, error)
        else:
            msg = "%s: %s: %s" % (self.image.path, type(error).__name__, error)
            result["exception"] = traceback.format_exc()
        if errors:
            msg += "; rolling back also failed: %s" % "; ".join(errors)
        try:
            self.fill(result, self.discover())
        except Exception:  # pylint: disable=broad-except
            pass  # the failure is what matters; the result stays as known before the run
        raise self.fail(VirtDiskError(msg))

    def finish(self, ex):
        """Remember what this run made (state file, image cache) and report the stack as it is now."""
        result, want = self.result, self.want
        result["actions"] = ex.actions
        result["warnings"] = result.get("warnings", []) + ex.warnings + ex.forced
        self.cache.save()
        after = discovery.discover(self.host, self.image)
        if want.state in ("unmapped", "absent"):
            for key in set([self.image.key] + [f["key"] for f in self.image.former]):
                statefile.drop(key, self.host.run_dir)
        else:
            self._remember(ex, after)
            after.apply_record(self.record)
        result["diff"]["after"] = res.snapshot(after, want.number, want.path)
        self.fill(result, after)
        if self.tree is not None:
            res.fill_tree(result, self.tree)
        if self.runtime is not None:
            res.fill_runtime(result, self.runtime)
        return result

    def _remember(self, ex, after):
        """The state record: the device, the mapper of the nodes made, the options of the mounts made."""
        record = self.record
        if record.get("device") != ex.device:
            record["mappers"] = {}
            record["mounts"] = {}
        record.update(device=ex.device, image=self.image.path)
        if ex.mapped_with:
            record["mappers"] = dict(record.get("mappers") or {},
                                     **dict((str(n), used) for n, used in ex.mapped_with.items()))
        mounted_now = set(m.path for m in after.mounts)
        mounts = dict(record.get("mounts") or {}, **ex.mounted)
        record["mounts"] = dict((p, m) for p, m in mounts.items() if p in mounted_now)
        statefile.save(self.image.key, record, self.host.run_dir)

    def _gone_noop(self, obs, check_mode):
        """Taking down an image that is gone and of which nothing is attached."""
        result, path = self.result, self.want.path
        info = path_info(path, obs.all_mounts)
        before = res.snapshot(obs, None, path)
        result["diff"] = {"before": before, "after": dict(before)}
        if self.want.state != "absent" or not (path and info.is_dir and info.empty):
            return result
        # absent still removes an empty mount point
        result.update(changed=True, actions=["remove the mount point %s if it is empty" % path])
        if not check_mode:
            try:
                os.rmdir(path)
                result["actions"] = ["removed the mount point %s" % path]
            except OSError as e:
                raise self.fail(VirtDiskError("cannot remove %s: %s" % (path, e.strerror),
                                              step="remove the mount point"))
        return result
