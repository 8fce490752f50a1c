# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Image formats: recognising a format from its header, without running qemu.

Only the magic numbers are read here: nothing follows a backing file name,
so a guest-written header cannot make the host open another file.
"""

from __future__ import annotations

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
