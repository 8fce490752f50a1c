# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image_mount's work: inspect the image, lock it, discover, probe, plan, execute.

Check mode stops after planning. A failed execution is rolled back and the
error carries the result known so far.
"""

from __future__ import annotations

import os
import traceback

from ansible_collections.virt.disk.plugins.module_utils.state import discovery
from ansible_collections.virt.disk.plugins.module_utils.image import formats
from ansible_collections.virt.disk.plugins.module_utils.kernel import qsd as fuse
from ansible_collections.virt.disk.plugins.module_utils.kernel import nbd
from ansible_collections.virt.disk.plugins.module_utils.image import selector
from ansible_collections.virt.disk.plugins.module_utils.image import image as image_mod
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts
from ansible_collections.virt.disk.plugins.module_utils.state import statefile
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.state.imagecache import ImageCache
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR, Lock
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import Table
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import PathInfo, Want, current_state, plan
from ansible_collections.virt.disk.plugins.module_utils.kernel.procs import Procs
from ansible_collections.virt.disk.plugins.module_utils.kernel.sysfs import SysFS


class Env(object):
    """The host the executor works on; paths injectable for tests."""

    def __init__(self, runner, sysfs, timeout, procs, run_dir, dev_root="/dev",
                 mountinfo_path=mountinfo.DEFAULT_PATH):
        self.runner = runner
        self.sysfs = sysfs
        self.timeout = timeout
        self.procs = procs
        self.run_dir = run_dir
        self.dev_root = dev_root
        self.mountinfo_path = mountinfo_path


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


def choose_backend(image, fmt, wanted, sysfs, runner):
    """The backend of the contract: block devices as they are, raw files on loop,
    qemu formats on nbd where the kernel has it, else through FUSE."""
    if wanted == "block":
        if image.kind != "block":
            raise VirtDiskError("backend block needs a block device, and %s is a file" % image.path)
        if fmt != "raw":
            raise VirtDiskError("backend block reads raw devices; %s is read as %s: use backend nbd or fuse"
                                % (image.path, fmt))
        return "block"
    if wanted == "loop":
        if fmt != "raw":
            raise VirtDiskError("backend loop reads raw images only; %s is %s: use backend nbd or fuse "
                                "(or auto)" % (image.path, fmt))
        if image.kind == "block":
            raise VirtDiskError("backend loop is for image files; %s is a block device (backend block)"
                                % image.path)
        return "loop"
    if wanted in ("nbd", "fuse"):
        return wanted
    if fmt == "raw":
        return "block" if image.kind == "block" else "loop"
    if nbd.available(sysfs, runner):
        return "nbd"
    if os.path.exists("/dev/fuse") and runner.which(fuse.DAEMON, required=False):
        return "fuse"
    raise VirtDiskError(
        "%s is a %s image, and this host can serve it neither through nbd (%s) nor through FUSE (%s); "
        "the virt.disk.image_host role installs the tools and loads the modules"
        % (image.path, fmt,
           "qemu-nbd is installed but the nbd module is not loaded: modprobe nbd max_part=16"
           if runner.which(nbd.SERVER, required=False) else "install qemu-utils and load the nbd module",
           "install qemu-system-common for qemu-storage-daemon" if os.path.exists("/dev/fuse")
           else "/dev/fuse is missing: load the fuse module"))


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


def partitions_of(table, att):
    if table is None:
        return []
    out = []
    for part in table.partitions:
        node = att.nodes.get(part["number"]) if att is not None else None
        out.append({
            "number": part["number"],
            "device": node["device"] if node else None,
            "start": part["start"],
            "size": part["size"],
            "fstype": part["fstype"],
            "label": part["label"],
            "uuid": part["uuid"],
            "partlabel": part["partlabel"],
            "partuuid": part["partuuid"],
            "type": part["type"],
        })
    return out


def _apply_record(obs, record):
    """Name the mapper of partition nodes this collection made, and the options
    it mounted with (state file hints)."""
    obs.mount_records = dict(record.get("mounts") or {}) if obs.attachment is not None and \
        record.get("device") == obs.attachment.device else {}
    for att in obs.attachments:
        if record.get("device") != att.device:
            continue
        for number, mapper in (record.get("mappers") or {}).items():
            node = att.nodes.get(int(number))
            if node is not None and node["mapper"] == "kernel":
                node["mapper"] = mapper


def snapshot(obs, number, path):
    att = obs.attachment
    node = obs.node_of(att, number) if att is not None and number is not None else None
    return {
        "state": current_state(obs, number, path),
        "backend": att.backend if att is not None else None,
        "device": att.device if att is not None else None,
        "partition_device": node["device"] if node else None,
        "read_only": _read_only(obs, path),
        "mounts": [_mount_entry(m, obs.mount_records.get(m.path)) for m in obs.mounts],
    }


def _mount_entry(m, record=None):
    return {"path": m.path, "device": m.source, "fstype": m.fstype, "options": mountopts.describe(m, record)}


def _read_only(obs, path):
    """Whether what is at path (the mount, else the device) is read-only, for whatever reason."""
    att = obs.attachment
    if att is None:
        return False
    top = mountinfo.top_mount_at(obs.mounts, path) if path else None
    return bool(att.read_only or (top is not None and top.read_only))


def predict(before, steps, want, att):
    """The diff's "after" in check mode: what the planned steps lead to, as far
    as it can be known without doing them (a new device has no name yet)."""
    after = dict(before, mounts=list(before["mounts"]))
    gone = set(s.args["path"] for s in steps if s.op == "umount")
    after["mounts"] = [m for m in after["mounts"] if m["path"] not in gone]
    ops = [s.op for s in steps]
    if "detach" in ops:
        after.update(backend=None, device=None, partition_device=None)
    if "attach" in ops:
        after.update(backend=want.backend, device="(a new %s device)" % want.backend, partition_device=None)
    if want.state in ("mounted", "mapped") and after["device"] is not None and not after["partition_device"]:
        after["partition_device"] = after["device"] if want.number == 0 else \
            "(partition %s of %s)" % (want.number if want.number is not None else want.selector_text, after["device"])
    if "mount" in ops or "remount" in ops:
        flags, fs_options = mountopts.wanted(want.opts, want.read_only)
        was = [m for m in before["mounts"] if m["path"] == want.path]
        after["mounts"] = [m for m in after["mounts"] if m["path"] != want.path]
        after["mounts"].append({"path": want.path, "device": after["partition_device"],
                                "fstype": want.fstype or (was[0]["fstype"] if was else None),
                                "options": mountopts.render(flags, fs_options)})
    if want.state in ("unmapped", "absent"):
        after.update(state="unmapped", backend=None, device=None, partition_device=None, mounts=[], read_only=False)
    else:
        after["state"] = want.state if after["mounts"] or want.state == "mapped" else current_state_name(after)
        mine = [m for m in after["mounts"] if m["path"] == want.path]
        after["read_only"] = bool(want.read_only or (att is not None and att.read_only and "attach" not in ops)
                                  or (mine and mine[0]["options"].startswith("ro")))
    return after


def current_state_name(snap):
    return "mounted" if snap["mounts"] else "mapped" if snap["device"] else "unmapped"


def converge(params, runner, check_mode, sysfs=None, dev_root="/dev", procs=None, run_dir=RUN_DIR):
    """Converge params["image"] to params["state"]; return the result dict."""
    sysfs = sysfs or SysFS()
    procs = procs or Procs()
    state = params["state"]
    result = {"changed": False, "image": params["image"], "path": params.get("path"), "actions": [],
              "read_only": False, "format": None, "backend": None, "device": None,
              "partition": None, "partition_device": None, "fstype": None, "mapper": None, "pid": None,
              "partitions": [], "mounts": []}
    if state == "mounted" and not params.get("path"):
        raise ConvergeError(VirtDiskError("state mounted needs path"), result)
    if params.get("path"):
        # mountinfo shows resolved paths: compare like with like
        params = dict(params, path=os.path.realpath(params["path"]))
        result["path"] = params["path"]
    teardown = state in ("unmapped", "absent")
    try:
        # taking down works on an image whose file is gone: what is attached from its path goes
        image = image_mod.inspect(params["image"], allow_gone=teardown, records=lambda: statefile.load_all(run_dir))
        result["image"] = image.path
        fmt = backend = None
        if image.kind != "gone":
            fmt = choose_format(image, params["format"])
            backend = choose_backend(image, fmt, params["backend"], sysfs, runner)
            result["format"] = fmt
        sel = selector.parse(params["partition"]) if not teardown else None
    except VirtDiskError as e:
        raise ConvergeError(e, result)

    env = Env(runner, sysfs, params["timeout"], procs, run_dir, dev_root)
    # check mode writes nothing: it locks the image only when its lock file is already there
    with Lock(image.key, params["timeout"], image.path, run_dir=run_dir, create=not check_mode):
        return _converge_locked(params, env, image, fmt, backend, sel, check_mode, result)


def discover_in(env, image):
    return discovery.discover(image, env.sysfs, dev_root=env.dev_root, procs=env.procs, run_dir=env.run_dir,
                              mountinfo_path=env.mountinfo_path)


def cached_table(cache):
    """The partition table the image cache keeps for an unchanged image file, or None."""
    cached = cache.get("table")
    return Table.from_dict(cached) if cached else None


def probe_table(env, source, cache):
    """The partition table of source; for an image file, taken from the image
    cache while the file is unchanged, so a re-run starts no tools."""
    cached = cached_table(cache)
    if cached is not None:
        return cached
    # Imported only on a cache miss, so a no-op re-run does not compile it (see the executor below).
    from ansible_collections.virt.disk.plugins.module_utils.image import probe  # pylint: disable=import-outside-toplevel
    table = probe.probe(env.runner, source)
    cache.put("table", table.to_dict())
    return table


def _converge_locked(params, env, image, fmt, backend, sel, check_mode, result):
    state = params["state"]
    record = statefile.load(image.key, env.run_dir)
    cache = ImageCache(image, env.run_dir)
    holder = {}
    try:
        obs = discover_in(env, image)
        _apply_record(obs, record)
        if image.kind == "gone":
            if not obs.attachments:
                # nothing attached from a path where no image is: nothing to take down
                return _gone_noop(params, obs, result, check_mode)
            result.setdefault("warnings", []).append(
                "image %s no longer exists; taking down what is still attached from it (%s)"
                % (image.path, ", ".join(a.device or a.export for a in obs.attachments)))
        table = None
        number = None
        att = obs.attachment
        if sel is not None:
            if att is None and fmt != "raw":
                check_image(env.runner, image, fmt, params["allow_backing_file"], cache)
            if att is not None or fmt == "raw":
                table = probe_table(env, att.device if att is not None else image.path, cache)
                number = selector.resolve(sel, table, image.path)
        want = Want(state, params.get("path"), number, backend, params["partition_mapper"], params.get("fstype"),
                    params["opts"], params["read_only"], backend_explicit=params["backend"] != "auto")
        want.selector_text = params["partition"]
        steps = plan(obs, want, path_info(want.path, obs.all_mounts))
    except VirtDiskError as e:
        raise ConvergeError(e, result)

    def resolver(ex):
        """After attaching a qemu image: probe it, select the partition, plan the rest."""
        fresh = discover_in(env, image)
        holder["table"] = probe_table(env, ex.device, cache)
        want.number = selector.resolve(sel, holder["table"], image.path)
        return plan(fresh, want, path_info(want.path, fresh.all_mounts))

    info = path_info(want.path, obs.all_mounts)
    if state == "absent" and info.is_dir and not info.empty:
        result.setdefault("warnings", []).append("mount point %s is not empty; it was left in place" % want.path)
    before = snapshot(obs, number, want.path)
    result["changed"] = bool(steps)
    result["diff"] = {"before": before, "after": predict(before, steps, want, obs.attachment)}
    if check_mode or not steps:
        result["actions"] = [s.desc for s in steps] if check_mode else []
        if not check_mode:
            cache.save()
        _fill(result, obs, table, number, want.path)
        if check_mode:
            # the result tells what the run would lead to, like the diff's "after"
            after = result["diff"]["after"]
            result.update(backend=after["backend"], device=after["device"], read_only=after["read_only"],
                          partition_device=after["partition_device"],
                          mounts=[{"path": m["path"], "device": m["device"]} for m in after["mounts"]])
            if after["device"] is None:
                result.update(pid=None, mapper=None)
        return result

    # Imported only when there is work to do: a no-op re-run (the common case
    # under Ansible, which compiles every imported module_utils file each run)
    # then skips compiling the executor, the backends' attach and detach halves
    # (loop_attach, nbd_connect, fuse_export), mounts and the partition mappers.
    from ansible_collections.virt.disk.plugins.module_utils.plan.executor import Executor  # pylint: disable=import-outside-toplevel
    ex = Executor(env, image, want, obs.attachment, fmt=fmt, allow_backing_file=params["allow_backing_file"],
                  resolver=resolver)
    try:
        ex.run(steps)
    except Exception as e:  # pylint: disable=broad-except
        # anything at all (a tool, the kernel, a bug) undoes what this run made
        errors = ex.rollback()
        result["actions"] = ex.actions
        result["changed"] = bool(errors) or ex.changed_for_good
        msg = "%s: %s" % (image.path, e if isinstance(e, VirtDiskError) else "%s: %s" % (type(e).__name__, e))
        if errors:
            msg += "; rolling back also failed: %s" % "; ".join(errors)
        if not isinstance(e, VirtDiskError):
            result["exception"] = traceback.format_exc()
        _fill_after_failure(result, env, image, table, want, record)
        raise ConvergeError(VirtDiskError(msg), result)
    result["actions"] = ex.actions
    result["warnings"] = result.get("warnings", []) + ex.warnings + ex.forced
    cache.save()
    table = holder.get("table", table)
    number = want.number

    after = discover_in(env, image)
    if state in ("unmapped", "absent"):
        for key in set([image.key] + [f["key"] for f in image.former]):
            statefile.drop(key, env.run_dir)
    else:
        if record.get("device") != ex.device:
            record["mappers"] = {}
            record["mounts"] = {}
        record.update(device=ex.device, image=image.path)
        if ex.mapped_with:
            record["mappers"] = dict(record.get("mappers") or {}, **{str(number): ex.mapped_with})
        mounted_now = set(m.path for m in after.mounts)
        mounts = dict(record.get("mounts") or {}, **ex.mounted)
        record["mounts"] = dict((p, m) for p, m in mounts.items() if p in mounted_now)
        statefile.save(image.key, record, env.run_dir)
        _apply_record(after, record)
    result["diff"]["after"] = snapshot(after, number, want.path)
    _fill(result, after, table, number, want.path)
    return result


def _fill_after_failure(result, env, image, table, want, record):
    """The result of a failed run: what the kernel holds after the rollback, as far as it can be read."""
    try:
        after = discover_in(env, image)
    except Exception:  # pylint: disable=broad-except
        return  # the failure is what matters; the result stays as known before the run
    _apply_record(after, record)
    _fill(result, after, table, want.number, want.path)


def _gone_noop(params, obs, result, check_mode):
    """The result of taking down an image that is gone and of which nothing is attached."""
    path = params.get("path")
    info = path_info(path, obs.all_mounts)
    before = snapshot(obs, None, path)
    result["diff"] = {"before": before, "after": dict(before)}
    if params["state"] != "absent" or not (path and info.is_dir and info.empty):
        return result
    # absent still removes an empty mount point
    result.update(changed=True, actions=["remove the mount point %s if it is empty" % path])
    if not check_mode:
        try:
            os.rmdir(path)
            result["actions"] = ["removed the mount point %s" % path]
        except OSError as e:
            raise ConvergeError(VirtDiskError("cannot remove %s: %s" % (path, e.strerror),
                                              step="remove the mount point"), result)
    return result


def _fill(result, obs, table, number, path=None):
    att = obs.attachment
    result["mounts"] = [{"path": m.path, "device": m.source} for m in obs.mounts]
    result["read_only"] = _read_only(obs, path)
    if att is None:
        return
    result["device"] = att.device
    result["backend"] = att.backend
    result["pid"] = att.pid
    result["partitions"] = partitions_of(table, att)
    if number is None:
        return
    result["partition"] = number
    node = obs.node_of(att, number)
    if node is not None:
        result["partition_device"] = node["device"]
        result["mapper"] = node.get("mapper")
    if table is not None:
        part = table.get(number) if number else table.whole
        if part:
            result["fstype"] = part.get("fstype")
