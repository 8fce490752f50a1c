# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fuse backend: qemu-storage-daemon exports the image as a raw file
through FUSE under /run/virt-disk/fuse/, and a loop device goes over it.

For kernels without nbd (containers, microVMs). The export file is named
after the image's identity, so a loop device over it still tells which image
it serves after the daemon or the state file is gone.

With snapshot the daemon opens the image read-only as the backing node of a
qcow2 overlay beside the export (KEY.overlay.qcow2, no backing file named in
its header: the daemon's command line links the two), exports the overlay,
and the overlay is deleted when the export is stopped.
"""

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils.backends import loop
from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment, Backend
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import formats
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.kernel.loop import strip_deleted
from ansible_collections.virt.disk.plugins.module_utils.state import distro
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

DAEMON = "qemu-storage-daemon"
BACKING_FORMATS = ("qcow2", "qed")


def export_dir(run_dir=RUN_DIR):
    return os.path.join(run_dir, "fuse")


def export_path(key, run_dir=RUN_DIR):
    return os.path.join(export_dir(run_dir), key + ".raw")


def overlay_path(export):
    """The throwaway overlay of a snapshot export."""
    return export[:-len(".raw")] + ".overlay.qcow2"


def key_of_export(path, run_dir=None):
    """The image key an export file was named after, or None if it is not one
    of ours (with run_dir: not in its export directory)."""
    if run_dir is not None and os.path.dirname(path) != export_dir(run_dir):
        return None
    name = os.path.basename(path)
    return name[:-len(".raw")] if name.endswith(".raw") else None


def daemon_args(image_path, fmt, export, pidfile, read_only, allow_backing_file, overlay=None):
    """qemu-storage-daemon arguments, in JSON so no file name needs escaping.
    With overlay, the image is the read-only backing node of that qcow2 file,
    which is what is exported (writable)."""
    image_read_only = read_only or overlay is not None
    protocol = {"driver": "file", "node-name": "vd-file", "filename": image_path, "read-only": image_read_only}
    node = {"driver": fmt, "node-name": "vd-fmt", "file": "vd-file", "read-only": image_read_only}
    if fmt in BACKING_FORMATS and not allow_backing_file:
        node["backing"] = None
    blockdevs = [protocol, node]
    if overlay is not None:
        node["node-name"] = "vd-image"
        blockdevs += [{"driver": "file", "node-name": "vd-overlay-file", "filename": overlay},
                      {"driver": "qcow2", "node-name": "vd-fmt", "file": "vd-overlay-file", "backing": "vd-image"}]
    export_opts = {"type": "fuse", "id": "vd-export", "node-name": "vd-fmt", "mountpoint": export,
                   "writable": not read_only or overlay is not None}
    args = [DAEMON]
    for blockdev in blockdevs:
        args += ["--blockdev", json.dumps(blockdev, sort_keys=True)]
    return args + ["--export", json.dumps(export_opts, sort_keys=True), "--daemonize", "--pidfile", pidfile]


def parse_daemon_argv(argv):
    """What a qemu-storage-daemon serves: image file, format, FUSE export,
    writable; and, when the exported node is an overlay over the image's
    node (snapshot), the overlay's file."""
    blockdevs = []
    exports = []
    for i, arg in enumerate(argv[:-1]):
        value = argv[i + 1]
        if arg in ("--blockdev", "-blockdev"):
            blockdevs.append(_options(value))
        elif arg in ("--export", "-export"):
            exports.append(_options(value))
    nodes = dict((b.get("node-name"), b) for b in blockdevs)
    for exp in exports:
        if exp.get("type") != "fuse" or not exp.get("mountpoint"):
            continue
        node = nodes.get(exp.get("node-name"), {})
        overlay = None
        if isinstance(node.get("backing"), str) and node["backing"] in nodes:
            overlay = _protocol(node, nodes).get("filename")
            node = nodes[node["backing"]]
        return {"image": _protocol(node, nodes).get("filename"), "format": node.get("driver"),
                "export": exp["mountpoint"], "writable": _true(exp.get("writable")), "overlay": overlay}
    return None


def _protocol(node, nodes):
    """The protocol (file) node under a format node, by reference or inline."""
    if isinstance(node.get("file"), str):
        return nodes.get(node["file"], {})
    if isinstance(node.get("file"), dict):
        return node["file"]
    return node


def _true(value):
    return value is True or str(value).lower() in ("on", "true", "yes")


def _options(text):
    """--blockdev/--export value: JSON, or qemu's key=value,key=value (",," escapes a comma)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return {}
    opts = {}
    for item in text.replace(",,", "\0").split(","):
        key, _sep, value = item.partition("=")
        opts[key] = value.replace("\0", ",")
    return opts


def find_daemons(procs):
    """Live qemu-storage-daemons with a FUSE export: (pid, parsed argv, resolved image path)."""
    found = []
    for pid, argv in procs.named(DAEMON):
        parsed = parse_daemon_argv(argv)
        if parsed and parsed["image"]:
            parsed["pid"] = pid
            parsed["image_path"] = procs.resolve(pid, parsed["image"])
            parsed["export"] = procs.resolve(pid, parsed["export"])
            if parsed["overlay"]:
                parsed["overlay"] = procs.resolve(pid, parsed["overlay"])
            found.append(parsed)
    return found


class Fuse(Backend):
    name = "fuse"
    formats = None
    kinds = ("file", "block")
    helper = DAEMON
    loop_device = True
    snapshots = True

    def unusable(self, host):
        if not os.path.exists(host.dev("fuse")):
            return "/dev/fuse is missing (modprobe fuse)"
        return _daemon_missing(host) or loop.BACKEND.unusable(host)

    def scan(self, host, claimed, loops=None):
        """Loop devices over a FUSE export, and daemons exporting without one.

        An export is recognised by the daemon's command line, or, when the
        daemon is gone, by its file under this collection's export directory.
        """
        daemons = dict((d["export"], d) for d in find_daemons(host.procs))
        found = []
        exported = set()
        # the backing file alone tells an export; the other attributes are read only for those
        for name, backing in host.sysfs.attached_loops() if loops is None else loops:
            export = strip_deleted(backing)
            if export not in daemons and key_of_export(export, host.run_dir) is None:
                continue
            info = host.sysfs.loop_info(name)
            if info is None:
                continue
            daemon = daemons.get(export)
            device = host.dev(name)
            claimed.add(device)
            exported.add(export)
            if daemon is None:
                # the daemon is gone: a snapshot export leaves its overlay beside it
                overlay = overlay_path(export)
                found.append(Attachment(self, device, info["read_only"], partscan=info["partscan"], export=export,
                                        snapshot=os.path.exists(overlay), overlay=overlay))
                continue
            found.append(Attachment(self, device, info["read_only"], image=daemon["image_path"],
                                    fmt=daemon["format"], partscan=info["partscan"], pid=daemon["pid"], export=export,
                                    snapshot=bool(daemon["overlay"]), overlay=daemon["overlay"]))
        for export, daemon in daemons.items():
            if export not in exported:
                found.append(Attachment(self, None, not daemon["writable"], image=daemon["image_path"],
                                        fmt=daemon["format"], pid=daemon["pid"], export=export,
                                        snapshot=bool(daemon["overlay"]), overlay=daemon["overlay"]))
        return found

    def matches(self, att, image):
        if att.image is not None:
            return image.is_file(att.image)
        # the daemon is gone (scan kept only exports of ours): the file is named after the image's identity
        return key_of_export(att.export) in [image.key] + [f["key"] for f in image.former]

    def attach(self, host, image, fmt, read_only, allow_backing_file, did, snapshot=False):
        pid, export = start(host, image.path, fmt, image.key, read_only, allow_backing_file, snapshot)
        how = ", writes to the throwaway overlay %s" % overlay_path(export) if snapshot else \
            ", read-only" if read_only else ""
        did("exported %s as %s through FUSE (qemu-storage-daemon pid %d%s)"
            % (image.path, export, pid, how), lambda: stop(host, pid, export))
        return loop.attach_file(host, export, read_only and not snapshot, did, direct_io=False), pid

    def detach(self, host, att, did):
        if att.device is not None:
            loop.detach(host, att.device)
            did("detached %s" % att.device)
        forced = stop(host, att.pid, att.export)
        did("stopped the FUSE export %s%s%s" % (att.export, " (forced)" if forced else "",
                                                ", deleted its overlay %s" % att.overlay if att.snapshot else ""))
        if forced:
            return "qemu-storage-daemon of %s was gone or did not stop; its export %s was cleaned up by force" \
                % (att.image or "the image", att.export)
        return None

    def describe_detach(self, att):
        what = "detach %s and stop the FUSE export %s" % (att.device, att.export) if att.device else \
            "stop the FUSE export %s" % att.export
        if att.snapshot:
            what += " and delete its overlay"
        if att.pid is None:
            return what + " (its qemu-storage-daemon is gone)"
        return what + " (qemu-storage-daemon pid %d)" % att.pid


def start(host, image_path, fmt, key, read_only, allow_backing_file, snapshot=False):
    """Start the daemon; return (pid, export path) once the export is live."""
    step = "export %s through FUSE with %s" % (image_path, DAEMON)
    export = export_path(key, host.run_dir)
    pidfile = export[:-len(".raw")] + ".pid"
    try:
        os.makedirs(os.path.dirname(export), mode=0o700, exist_ok=True)
        if not os.path.exists(export):
            with open(export, "a"):
                pass
    except OSError as e:
        raise VirtDiskError("cannot create the export file %s: %s" % (export, e.strerror), step=step)
    overlay = None
    if snapshot:
        overlay = overlay_path(export)
        try:
            create_overlay(host, image_path, fmt, overlay)
        except VirtDiskError:
            _remove(export)
            raise
    if not os.path.exists(host.dev("fuse")):
        raise VirtDiskError("/dev/fuse does not exist: load the fuse module or use backend nbd", step=step)
    missing = _daemon_missing(host)
    if missing:
        raise VirtDiskError(missing, step=step)
    try:
        host.runner.run(daemon_args(image_path, fmt, export, pidfile, read_only, allow_backing_file, overlay),
                        step=step)
    except VirtDiskError as e:
        _remove(export)
        _remove(overlay_path(export))
        why = unsupported(e.tool_error)
        if why:
            raise VirtDiskError(why, step=step, tool_error=e.tool_error)
        raise

    def live():
        mounted = any(m.path == export and m.fstype.startswith("fuse")
                      for m in mountinfo.read(host.mountinfo_path))
        return mounted and _read_pid(pidfile)
    pid = poll(live, host.timeout, "the FUSE export %s" % export, step=step)
    return pid, export


def create_overlay(host, image_path, fmt, overlay):
    """An empty qcow2 file as large as the image reads, naming no backing file
    (the daemon is given the image as its backing node)."""
    step = "create the throwaway overlay %s for %s" % (overlay, image_path)
    _remove(overlay)
    if fmt == "raw":
        try:
            with open(image_path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
        except (IOError, OSError) as e:
            raise VirtDiskError("cannot read the size of %s: %s" % (image_path, e.strerror), step=step)
    else:
        size = formats.qemu_info(host.runner, image_path, fmt).get("virtual-size")
        if not size:
            raise VirtDiskError("qemu-img info of %s tells no virtual size" % image_path, step=step)
    host.runner.run(["qemu-img", "create", "-q", "-f", "qcow2", overlay, str(size)], step=step)
    os.chmod(overlay, 0o600)


def _daemon_missing(host):
    """Why qemu-storage-daemon cannot be run (not installed, and what to do), or None."""
    if host.which(DAEMON) is None:
        return "%s is not installed (%s)" % (DAEMON, distro.storage_daemon_package(distro.read()))
    return None


def unsupported(error):
    """Why this qemu-storage-daemon cannot serve a FUSE export, from its error
    text; None when the error says something else."""
    error = error or ""
    if "daemonize" in error:
        return "this %s is older than QEMU 7.0 (no --daemonize); the fuse backend needs 7.0 or later" % DAEMON
    if "'fuse'" in error:
        return ("this %s was built without the FUSE export (%s)"
                % (DAEMON, distro.storage_daemon_package(distro.read())))
    return None


def stop(host, pid, export):
    """Stop the daemon (it flushes and closes the image), then remove the export file.

    Returns True when the daemon had to be killed or was already gone.
    """
    forced = pid is None or not host.procs.alive(pid)
    if not forced:
        forced = host.procs.terminate(pid, host.timeout, DAEMON)
    step = "remove the FUSE export %s" % export

    def unmounted():
        return not any(m.path == export for m in mountinfo.read(host.mountinfo_path))
    if not unmounted():
        try:
            poll(unmounted, 1 if forced else host.timeout, "%s to be unmounted" % export)
        except VirtDiskError:
            # the daemon died without unmounting its export: the FUSE mount is stale
            host.runner.run(["umount", "--lazy", export], step=step)
            forced = True
    _remove(export)
    _remove(export[:-len(".raw")] + ".pid")
    _remove(overlay_path(export))
    return forced


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _read_pid(pidfile):
    try:
        with open(pidfile) as f:
            return int(f.read().strip())
    except (IOError, OSError, ValueError):
        return None


BACKEND = Fuse()
