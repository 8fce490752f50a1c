# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import struct

import pytest

from ansible_collections.virt.disk.plugins.module_utils.image import formats


def pad(head, size=formats.HEADER_BYTES):
    return head + b"\0" * (size - len(head))


# Header starts as qemu-img writes them.
QCOW2 = pad(b"QFI\xfb" + struct.pack(">I", 3) + struct.pack(">Q", 0) + struct.pack(">I", 0) + struct.pack(">I", 16))
QED = pad(b"QED\x00" + struct.pack("<I", 65536))
VHDX = pad(b"vhdxfile" + "QEMU v8.2".encode("utf-16-le"))
VPC = pad(b"conectix" + struct.pack(">I", 2) + struct.pack(">I", 0x10000))
VDI = pad(b"<<< QEMU VM Virtual Disk Image >>>\n".ljust(0x40, b"\0") + b"\x7f\x10\xda\xbe" + struct.pack("<I", 0x10001))
VMDK_SPARSE = pad(b"KDMV" + struct.pack("<I", 1))
VMDK_COWD = pad(b"COWD" + struct.pack("<I", 1))
VMDK_DESCRIPTOR = (b"# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
                   b"createType=\"monolithicFlat\"\n\nRW 2048 FLAT \"disk-flat.vmdk\" 0\n")
MBR = pad(b"\xeb\x63\x90" + b"\0" * 437 + b"\xef\xbe\xad\xde" + b"\0" * 66 + b"\x55\xaa")


@pytest.mark.parametrize("head, fmt", [
    (QCOW2, "qcow2"),
    (QED, "qed"),
    (VHDX, "vhdx"),
    (VPC, "vpc"),
    (VDI, "vdi"),
    (VMDK_SPARSE, "vmdk"),
    (VMDK_COWD, "vmdk"),
    (VMDK_DESCRIPTOR, "vmdk"),
    (b"\n  " + VMDK_DESCRIPTOR, "vmdk"),
])
def test_detect_each_magic(head, fmt):
    assert formats.detect(head) == fmt


@pytest.mark.parametrize("head", [
    b"\0" * formats.HEADER_BYTES,
    MBR,
    b"#!/bin/sh\necho this is a text file\n",
    b"QFI\x00" + b"\0" * 100,
    b"QFI",
    b"QED\x01" + b"\0" * 100,
    b"VHDXFILE" + b"\0" * 100,
    b"\x7f\x10\xda\xbe" + b"\0" * 100,
    b"\0" * 0x3f + b"\x7f\x10\xda\xbe" + b"\0" * 100,
    b"kdmv" + b"\0" * 100,
    b"# Disk descriptorfile\n",
    b"x# Disk DescriptorFile\n",
    b"\0",
])
def test_detect_raw_lookalikes(head):
    assert formats.detect(head) == "raw"


def test_vdi_magic_must_be_at_0x40():
    assert formats.detect(b"\0" * 0x40 + b"\x7f\x10\xda\xbe") == "vdi"
    assert formats.detect(b"\0" * 0x41 + b"\x7f\x10\xda\xbe") == "raw"


def test_read_head(tmp_path):
    path = tmp_path / "disk.qcow2"
    path.write_bytes(QCOW2 + b"\xff" * 4096)
    head = formats.read_head(str(path))
    assert len(head) == formats.HEADER_BYTES
    assert formats.detect(head) == "qcow2"
    small = tmp_path / "small"
    small.write_bytes(b"QFI\xfb")
    assert formats.read_head(str(small)) == b"QFI\xfb"


def test_formats_list_matches_the_contract():
    assert set(formats.FORMATS) == {"raw", "qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed"}
