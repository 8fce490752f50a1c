# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every image attached on this host, whoever attached it: loop devices over
files, nbd connections, FUSE exports; with their partitions and mounts."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import qsd as fuse
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.kernel import nbd
from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes
from ansible_collections.virt.disk.plugins.module_utils.state import statefile
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR

DELETED = " (deleted)"


def _strip_deleted(path):
    return path[:-len(DELETED)] if path and path.endswith(DELETED) else path


def attachments(sysfs, procs, dev_root="/dev", run_dir=RUN_DIR):
    """Raw attachment records: image, format, backend, device, read_only, pid."""
    found = []
    daemons = dict((d["export"], d) for d in fuse.find_daemons(procs))
    exported = set()
    for name in sysfs.block_devices("loop"):
        info = sysfs.loop_info(name)
        if info is None:
            continue
        backing = _strip_deleted(info["backing_file"])
        device = os.path.join(dev_root, name)
        if backing in daemons or fuse.key_of_export(backing, run_dir):
            daemon = daemons.get(backing)
            exported.add(backing)
            found.append({"image": daemon["image_path"] if daemon else None, "format": daemon["format"] if daemon
                          else None, "backend": "fuse", "device": device, "read_only": info["read_only"],
                          "pid": daemon["pid"] if daemon else None, "export": backing})
        else:
            found.append({"image": backing, "format": "raw", "backend": "loop", "device": device,
                          "read_only": info["read_only"], "pid": None, "export": None})
    for export, daemon in daemons.items():
        if export not in exported:
            found.append({"image": daemon["image_path"], "format": daemon["format"], "backend": "fuse",
                          "device": None, "read_only": not daemon["writable"], "pid": daemon["pid"],
                          "export": export})
    for name, pid, path, argv in nbd.connections(sysfs, procs):
        fmt = None
        for i, arg in enumerate(argv[:-1]):
            if arg in ("-f", "--format"):
                fmt = argv[i + 1]
            elif arg.startswith("--format="):
                fmt = arg.split("=", 1)[1]
        found.append({"image": path, "format": fmt, "backend": "nbd", "device": os.path.join(dev_root, name),
                      "read_only": sysfs.read_only(name), "pid": pid, "export": None})
    return found


def describe(sysfs, procs, mountinfo_path=mountinfo.DEFAULT_PATH, dev_root="/dev", run_dir=RUN_DIR,
             image_filter=None):
    """The `images` list of image_mount_info: attachments with partitions and mounts."""
    all_mounts = mountinfo.read(mountinfo_path)
    images = []
    for att in attachments(sysfs, procs, dev_root, run_dir):
        if image_filter is not None and not _same(att["image"], image_filter):
            continue
        nodes = {}
        numbers = []
        if att["device"]:
            name = os.path.basename(att["device"])
            nodes = partnodes.existing(sysfs, name, dev_root)
            _apply_record(att, nodes, run_dir)
            dev_numbers = sysfs.dev_numbers(name)
            numbers = ([dev_numbers] if dev_numbers else []) + [(n["major"], n["minor"]) for n in nodes.values()]
        found = mountinfo.mounts_of(all_mounts, numbers, [n["device"] for n in nodes.values()] +
                                    ([att["device"]] if att["device"] else []))
        mappers = sorted(set(n["mapper"] for n in nodes.values()))
        att.update({
            "mapper": mappers[0] if len(mappers) == 1 else (mappers or None),
            "partitions": [{"number": n["number"], "device": n["device"], "size": n["size"],
                            "mapper": n["mapper"]} for n in sorted(nodes.values(), key=lambda n: n["number"])],
            "mounts": [{"path": m.path, "device": m.source, "fstype": m.fstype, "read_only": m.read_only}
                       for m in found],
        })
        images.append(att)
    return teardown_order(images)


def _depends_on(inner, outer):
    """True if inner must come down before outer: its file or a mount lies beneath outer's mounts."""
    paths = [m["path"] for m in inner["mounts"]] + ([inner["image"]] if inner["image"] else [])
    return any(p != m["path"] and mountinfo.is_below(p, m["path"]) for p in paths for m in outer["mounts"])


def teardown_order(images):
    """Images in an order safe to take down one by one: an image whose file or
    mounts lie beneath another image's mounts comes before that image."""
    pending = list(images)
    ordered = []
    while pending:
        for candidate in pending:
            if not any(_depends_on(other, candidate) for other in pending if other is not candidate):
                break
        else:
            candidate = pending[0]  # a cycle cannot happen with real mounts; keep going anyway
        pending.remove(candidate)
        ordered.append(candidate)
    return ordered


def _apply_record(att, nodes, run_dir):
    """Name the mapper of nodes the collection made, from its state file (a hint only)."""
    try:
        st = os.stat(att["image"])
    except (OSError, TypeError):
        return
    key = "file-%d-%d-%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    record = statefile.load(key, run_dir)
    if record.get("device") != att["device"]:
        return
    for number, mapper in (record.get("mappers") or {}).items():
        node = nodes.get(int(number))
        if node is not None and node["mapper"] == "kernel":
            node["mapper"] = mapper


def _same(path, image_filter):
    if path is None:
        return False
    try:
        a = os.stat(path)
        b = os.stat(image_filter)
    except OSError:
        return os.path.realpath(path) == os.path.realpath(image_filter)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
