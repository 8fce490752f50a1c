# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""FUSE exports of qemu-storage-daemon: where ours live (/run/virt-disk/fuse/,
named after the image's identity), the daemon's command line as it is written
and as it is read back, and the live daemons with an export.

The export file is named after the image's identity, so a loop device over it
still tells which image it serves after the daemon or the state file is gone.
Starting and stopping the export (the fuse backend) is in fuse_export.py.
"""

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR

DAEMON = "qemu-storage-daemon"
BACKING_FORMATS = ("qcow2", "qed")


def export_dir(run_dir=RUN_DIR):
    return os.path.join(run_dir, "fuse")


def export_path(key, run_dir=RUN_DIR):
    return os.path.join(export_dir(run_dir), key + ".raw")


def key_of_export(path, run_dir=RUN_DIR):
    """The image key an export file was named after, or None if it is not one of ours."""
    if os.path.dirname(path) != export_dir(run_dir) or not path.endswith(".raw"):
        return None
    return os.path.basename(path)[:-len(".raw")]


def daemon_args(image_path, fmt, export, pidfile, read_only, allow_backing_file):
    """qemu-storage-daemon arguments, in JSON so no file name needs escaping."""
    protocol = {"driver": "file", "node-name": "vd-file", "filename": image_path, "read-only": read_only}
    node = {"driver": fmt, "node-name": "vd-fmt", "file": "vd-file", "read-only": read_only}
    if fmt in BACKING_FORMATS and not allow_backing_file:
        node["backing"] = None
    export_opts = {"type": "fuse", "id": "vd-export", "node-name": "vd-fmt", "mountpoint": export,
                   "writable": not read_only}
    return [DAEMON,
            "--blockdev", json.dumps(protocol, sort_keys=True),
            "--blockdev", json.dumps(node, sort_keys=True),
            "--export", json.dumps(export_opts, sort_keys=True),
            "--daemonize", "--pidfile", pidfile]


def parse_daemon_argv(argv):
    """What a qemu-storage-daemon serves: image file, format, FUSE export, writable."""
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
        protocol = node
        if isinstance(node.get("file"), str):
            protocol = nodes.get(node["file"], {})
        elif isinstance(node.get("file"), dict):
            protocol = node["file"]
        return {"image": protocol.get("filename"), "format": node.get("driver"),
                "export": exp["mountpoint"], "writable": _true(exp.get("writable"))}
    return None


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
            found.append(parsed)
    return found
