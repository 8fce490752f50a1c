# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Partition table and filesystem probing with sfdisk and blkid.

The table is read with `sfdisk --json`, each filesystem with `blkid -p` at the
partition's offset, so a raw image file or block device is probed before it
is attached and nothing depends on udev. Sizes and starts are in bytes. What a
probe found is a parttable.Table.
"""

from __future__ import annotations

import json
import re

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import Table

DOS_EXTENDED = ("0x5", "0xf", "0x85")
_NO_TABLE = re.compile(r"does not contain a recognized partition table", re.I)


def _number_from_node(node, device):
    tail = node[len(device):] if node.startswith(device) else node
    match = re.search(r"(\d+)$", tail)
    if not match:
        raise ValueError("cannot tell the partition number of %r" % node)
    return int(match.group(1))


def parse_sfdisk_json(text, device):
    """Parse `sfdisk --json DEVICE` into a Table without filesystem details."""
    data = json.loads(text)["partitiontable"]
    label = data.get("label")
    sector = int(data.get("sectorsize", 512))
    disk_id = (data.get("id") or "").lower()
    parts = []
    for entry in data.get("partitions", []):
        number = _number_from_node(entry["node"], device)
        ptype = str(entry.get("type", "")).lower()
        if label == "dos":
            ptype = "0x" + ptype.lstrip("0x") if ptype else ""
            partuuid = "%s-%02x" % (disk_id[2:] if disk_id.startswith("0x") else disk_id, number)
            partlabel = None
        else:
            partuuid = (entry.get("uuid") or "").lower() or None
            partlabel = entry.get("name")
        parts.append({
            "number": number,
            "start": int(entry["start"]) * sector,
            "size": int(entry["size"]) * sector,
            "type": ptype,
            "partuuid": partuuid,
            "partlabel": partlabel,
            "fstype": None,
            "label": None,
            "uuid": None,
            "usage": None,
        })
    parts.sort(key=lambda p: p["number"])
    return Table(label, parts, disk_id=disk_id)


def udev_decode(value):
    """Undo blkid's udev encoding (\\xNN for unsafe bytes, UTF-8 kept as it is)."""
    raw = value.encode("utf-8", "surrogateescape")
    raw = re.sub(br"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
    return raw.decode("utf-8", "replace")


def parse_blkid_udev(text):
    """Parse `blkid -o udev` of one device into TYPE/LABEL/UUID/USAGE (decoded)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep:
            fields[key] = value
    found = {}
    for name in ("TYPE", "USAGE", "LABEL", "UUID"):
        if "ID_FS_%s_ENC" % name in fields:
            found[name] = udev_decode(fields["ID_FS_%s_ENC" % name])
        elif "ID_FS_%s" % name in fields:
            found[name] = fields["ID_FS_%s" % name]
    return found


def _fs_fields(found):
    return {
        "fstype": found.get("TYPE"),
        "label": found.get("LABEL"),
        "uuid": found.get("UUID"),
        "usage": found.get("USAGE"),
    }


def probe_filesystem(runner, source, offset=None, size=None):
    """blkid -p of source (at offset, of size): dict of TYPE/LABEL/UUID/USAGE."""
    args = ["blkid", "-p", "-o", "udev"]
    if offset is not None:
        args += ["-O", str(offset)]
    if size is not None:
        args += ["-S", str(size)]
    args.append(source)
    rc, out, err = runner.run(args, step="probe %s" % source, check=False)
    if rc == 2 or (rc == 0 and not out.strip()):
        return {}
    if rc != 0:
        raise VirtDiskError("blkid exited with %d" % rc, step="probe %s" % source,
                            tool_error=err or out)
    return parse_blkid_udev(out)


def probe(runner, source):
    """The partition table of source with each partition's filesystem."""
    rc, out, err = runner.run(["sfdisk", "--json", source], step="read the partition table of %s" % source,
                              check=False)
    if rc != 0:
        if _NO_TABLE.search(err or "") or _NO_TABLE.search(out or ""):
            whole = probe_filesystem(runner, source)
            return Table(None, [], whole=_fs_fields(whole))
        raise VirtDiskError("sfdisk exited with %d" % rc, step="read the partition table of %s" % source,
                            tool_error=err or out)
    try:
        table = parse_sfdisk_json(out, source)
    except (ValueError, KeyError, TypeError) as e:
        raise VirtDiskError("cannot parse the output of sfdisk --json: %s" % e,
                            step="read the partition table of %s" % source)
    for part in table.partitions:
        if part["type"] in DOS_EXTENDED:
            continue
        part.update(_fs_fields(probe_filesystem(runner, source, part["start"], part["size"])))
    return table
