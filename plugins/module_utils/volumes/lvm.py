# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""LVM inside an image, without the host's LVM seeing or touching it.

lvm2 only reads here: `lvs` and `pvs` run with a filter that accepts the
image's physical volumes and nothing else (no devices file, no hints,
read-only without locks), so a host volume group of the same name is not
seen, and the image's metadata is never written (its VG is not renamed).
The logical volumes are then made by this collection with device-mapper,
from the segment tables lvs reports, under names of ours (stack.lv_name):
lvm2's own activation would name them VG-LV in the one global namespace of
device-mapper, where the host's same-named VG has its volumes already.

Only plain linear and striped volumes are made; thin, raid, mirror, cache,
snapshot and origin volumes fail with what they are, since activating their
parts without lvm2's own logic could corrupt them.
"""

from __future__ import annotations

import json
import re

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.probe import probe_filesystem

SECTOR = 512
SAFE_SEGTYPES = ("linear", "striped")
LV_FIELDS = ("vg_name,vg_uuid,vg_extent_size,lv_name,lv_uuid,lv_attr,segtype,seg_start_pe,seg_size_pe,"
             "seg_pe_ranges,stripes,stripe_size")


def config(devices):
    """--config that limits lvm2 to devices (exact paths) on every lvm2 version."""
    accept = ", ".join('"a|^%s$|"' % re.escape(d).replace('"', '\\"') for d in devices)
    filt = "[%s%s\"r|.*|\"]" % (accept, ", " if accept else "")
    return ("devices { use_devicesfile=0 hints=\"none\" obtain_device_list_from_udev=0 filter=%s global_filter=%s } "
            "global { event_activation=0 }" % (filt, filt))


def _report(host, command, devices, fields, extra, step):
    args = [command, "--config", config(devices), "--readonly", "--reportformat", "json", "--units", "b",
            "--nosuffix", "-o", fields] + extra
    _rc, out, _err = host.runner.run(args, step=step)
    try:
        report = json.loads(out)["report"][0]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise VirtDiskError("cannot parse the output of %s: %s" % (command, e), step=step)
    rows = []
    for value in report.values():
        rows += value
    return rows


def read(host, devices, image):
    """The volume groups on devices: {vg: {"uuid", "extent", "pvs": {path: pe_start}, "lvs": {lv: info}}}."""
    step = "read the LVM metadata on %s of %s" % (", ".join(devices), image)
    vgs = {}
    for row in _report(host, "pvs", devices, "pv_name,vg_name,pe_start", [], step):
        if row.get("vg_name"):
            vg = vgs.setdefault(row["vg_name"], {"uuid": None, "extent": None, "pvs": {}, "lvs": {}})
            vg["pvs"][row["pv_name"]] = int(row["pe_start"])
    for row in _report(host, "lvs", devices, LV_FIELDS, ["--segments", "--all"], step):
        vg = vgs.setdefault(row["vg_name"], {"uuid": None, "extent": None, "pvs": {}, "lvs": {}})
        vg["uuid"] = row["vg_uuid"]
        vg["extent"] = int(row["vg_extent_size"])
        lv = vg["lvs"].setdefault(row["lv_name"], {"uuid": row["lv_uuid"], "attr": row["lv_attr"], "segments": []})
        lv["segments"].append({"type": row["segtype"], "start": int(row["seg_start_pe"]),
                               "size": int(row["seg_size_pe"]), "ranges": row["seg_pe_ranges"],
                               "stripes": int(row.get("stripes") or 1), "stripe_size": int(row.get("stripe_size") or 0)})
    return vgs


def parse_ranges(text):
    """"/dev/x:0-99 /dev/y:100-199" -> [("/dev/x", 0, 99), ...]."""
    out = []
    for item in (text or "").split():
        path, _sep, span = item.rpartition(":")
        first, _sep, last = span.partition("-")
        if not path or not first.isdigit() or not last.isdigit():
            raise ValueError("unreadable physical extent range %r" % item)
        out.append((path, int(first), int(last)))
    return out


def table(vgs, vg_name, lv_name, image):
    """The device-mapper table of vg/lv: a list of "start length target args" lines."""
    what = "logical volume %s/%s of %s" % (vg_name, lv_name, image)
    vg = vgs.get(vg_name)
    if vg is None:
        raise VirtDiskError("%s: no volume group %s on the image; volume groups seen: %s"
                            % (what, vg_name, ", ".join(sorted(vgs)) or "none"))
    lv = vg["lvs"].get(lv_name)
    if lv is None:
        raise VirtDiskError("%s: no such volume; volumes of %s: %s"
                            % (what, vg_name, ", ".join(sorted(n for n in vg["lvs"] if not n.startswith("["))) or "none"))
    if lv["attr"][:1] != "-" or any(s["type"] not in SAFE_SEGTYPES for s in lv["segments"]):
        kinds = sorted(set(s["type"] for s in lv["segments"]))
        raise VirtDiskError("%s is a %s volume (attributes %s); only linear and striped volumes are activated, "
                            "since the parts of others cannot be activated safely without lvm2"
                            % (what, "/".join(kinds), lv["attr"]))
    extent = vg["extent"] // SECTOR
    lines = []
    for seg in sorted(lv["segments"], key=lambda s: s["start"]):
        try:
            ranges = parse_ranges(seg["ranges"])
        except ValueError as e:
            raise VirtDiskError("%s: %s" % (what, e))
        for path, _first, _last in ranges:
            if path not in vg["pvs"]:
                raise VirtDiskError("%s: its physical volume %s is missing" % (what, path))
        start, length = seg["start"] * extent, seg["size"] * extent
        if seg["type"] == "linear" or seg["stripes"] == 1:
            path, first, _last = ranges[0]
            lines.append("%d %d linear %s %d" % (start, length, path, vg["pvs"][path] // SECTOR + first * extent))
        else:
            args = " ".join("%s %d" % (path, vg["pvs"][path] // SECTOR + first * extent) for path, first, _last in ranges)
            lines.append("%d %d striped %d %d %s" % (start, length, seg["stripes"], seg["stripe_size"] // SECTOR, args))
    return lines


def filesystems(host, vgs, image):
    """Every logical volume of vgs with the filesystem at its start, probed
    read-only through its first physical extent range (blkid at that
    offset: nothing is activated): [{"vg", "lv", "vg_uuid", "lv_uuid",
    "fstype", "uuid", "label"}]. A volume whose first segment is not
    linear (striped, thin, raid, ...) is listed without a filesystem."""
    found = []
    for vg_name, vg in sorted(vgs.items()):
        for lv_name, lv in sorted(vg["lvs"].items()):
            if lv_name.startswith("["):  # hidden sub-volumes of raid, thin, cache
                continue
            fs = {}
            first = min(lv["segments"], key=lambda s: s["start"]) if lv["segments"] else None
            if first is not None and lv["attr"][:1] == "-" and first["type"] in SAFE_SEGTYPES \
                    and first["stripes"] == 1:
                try:
                    path, start, _last = parse_ranges(first["ranges"])[0]
                except (ValueError, IndexError):
                    path = None
                if path in vg["pvs"]:
                    fs = probe_filesystem(host.runner, path, offset=vg["pvs"][path] + start * vg["extent"],
                                          size=first["size"] * vg["extent"])
            found.append({"vg": vg_name, "lv": lv_name, "vg_uuid": vg["uuid"], "lv_uuid": lv["uuid"],
                          "fstype": fs.get("TYPE"), "uuid": fs.get("UUID"), "label": fs.get("LABEL")})
    return found
