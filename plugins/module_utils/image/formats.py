# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Image formats: recognising a format from its header, without running qemu.

Only the magic numbers are read here: nothing follows a backing file name,
so a guest-written header cannot make the host open another file.
"""

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed")
HEADER_BYTES = 1024
VDI_SIGNATURE = b"\x7f\x10\xda\xbe"  # 0xbeda107f little-endian, at offset 0x40


def detect(head):
    """The format named by the header bytes head, "raw" when none matches."""
    if head[:4] == b"QFI\xfb":
        return "qcow2"
    if head[:4] == b"QED\x00":
        return "qed"
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:8] == b"conectix":
        return "vpc"
    if head[0x40:0x44] == VDI_SIGNATURE:
        return "vdi"
    if head[:4] in (b"KDMV", b"COWD"):
        return "vmdk"
    if head.lstrip()[:21] == b"# Disk DescriptorFile":
        return "vmdk"
    return "raw"


def read_head(path, size=HEADER_BYTES):
    with open(path, "rb") as f:
        return f.read(size)


def qemu_info(runner, path, fmt):
    """`qemu-img info` of path read as fmt (explicit: nothing probes, no backing file is opened)."""
    step = "inspect %s as %s with qemu-img" % (path, fmt)
    _rc, out, _err = runner.run(["qemu-img", "info", "--force-share", "--output=json", "-f", fmt, path], step=step)
    try:
        return json.loads(out)
    except ValueError:
        raise VirtDiskError("qemu-img info printed no JSON", step=step, tool_error=out)


def external_files(info, path):
    """Files outside the image that it refers to: backing file, data file, VMDK extents."""
    found = []
    backing = info.get("full-backing-filename") or info.get("backing-filename")
    if backing:
        found.append(("backing file", backing))
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("data-file"):
        found.append(("external data file", data["data-file"]))
    for extent in data.get("extents") or []:
        name = extent.get("filename")
        if name and os.path.realpath(name) != os.path.realpath(path):
            found.append(("VMDK extent", name))
    return found


def check_policy(info, path, fmt, allow_backing_file):
    """Refuse images that point outside themselves, or that qemu marks corrupt."""
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("corrupt"):
        raise VirtDiskError("%s image %s is marked corrupt; repair it with `qemu-img check -r all -f %s`"
                            % (fmt, path, fmt))
    external = external_files(info, path)
    if external and not allow_backing_file:
        raise VirtDiskError(
            "%s image %s refers to a file outside itself (%s); refused because it could expose host files: "
            "set allow_backing_file: true to accept it"
            % (fmt, path, ", ".join("%s %s" % (kind, name) for kind, name in external)))
    return external


CHECK_OK = (0, 3, 63)  # clean, only leaked clusters, check not supported by the format


def check_integrity(runner, path, fmt):
    """`qemu-img check`: a truncated or corrupt image fails here, before any helper starts."""
    step = "check %s image %s with qemu-img" % (fmt, path)
    rc, out, err = runner.run(["qemu-img", "check", "--force-share", "-f", fmt, path], step=step, check=False)
    if rc not in CHECK_OK:
        raise VirtDiskError("%s image %s is damaged or truncated (qemu-img check exited with %d)" % (fmt, path, rc),
                            step=step, tool_error=first_lines((err.strip() + "\n" + out.strip()).strip()))


def first_lines(text, count=6):
    """The first lines of a tool's report (qemu-img check prints one per bad cluster)."""
    lines = text.splitlines()
    if len(lines) <= count:
        return text
    return "\n".join(lines[:count] + ["... (%d more lines)" % (len(lines) - count)])
