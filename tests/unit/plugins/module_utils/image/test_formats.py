# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import struct

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import formats
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeRunner


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


# qemu-img: format policy and integrity -----------------------------------

QCOW2_OVERLAY = {
    "format": "qcow2", "filename": "/img/ov.qcow2", "backing-filename": "base.qcow2",
    "full-backing-filename": "/img/base.qcow2", "backing-filename-format": "qcow2",
    "format-specific": {"type": "qcow2", "data": {"corrupt": False}},
}
QCOW2_DATA_FILE = {
    "format": "qcow2", "filename": "/img/d.qcow2",
    "format-specific": {"type": "qcow2", "data": {"corrupt": False, "data-file": "/etc/shadow"}},
}
VMDK_TWO_EXTENTS = {
    "format": "vmdk", "filename": "/img/d.vmdk",
    "format-specific": {"type": "vmdk", "data": {"extents": [
        {"filename": "/img/d.vmdk", "format": "monolithicSparse"},
        {"filename": "/etc/passwd", "format": "FLAT"}]}},
}
VMDK_SPARSE = {
    "format": "vmdk", "filename": "/img/s.vmdk",
    "format-specific": {"type": "vmdk", "data": {"extents": [{"filename": "/img/s.vmdk"}]}},
}


@pytest.mark.parametrize("info, kind, name", [
    (QCOW2_OVERLAY, "backing file", "/img/base.qcow2"),
    (QCOW2_DATA_FILE, "external data file", "/etc/shadow"),
    (VMDK_TWO_EXTENTS, "VMDK extent", "/etc/passwd"),
])
def test_policy_refuses_files_outside_the_image(info, kind, name):
    with pytest.raises(VirtDiskError) as e:
        formats.check_policy(info, info["filename"], info["format"], allow_backing_file=False)
    assert name in str(e.value)
    assert kind in str(e.value)
    assert "allow_backing_file" in str(e.value)
    assert info["filename"] in str(e.value)


def test_policy_allows_them_when_asked():
    assert formats.check_policy(QCOW2_OVERLAY, "/img/ov.qcow2", "qcow2", True) == [
        ("backing file", "/img/base.qcow2")]


def test_policy_accepts_self_contained_images():
    assert formats.check_policy(VMDK_SPARSE, "/img/s.vmdk", "vmdk", False) == []
    plain = {"format": "vdi", "filename": "/img/x.vdi"}
    assert formats.check_policy(plain, "/img/x.vdi", "vdi", False) == []


def test_policy_refuses_a_qcow2_marked_corrupt():
    info = {"format": "qcow2", "format-specific": {"type": "qcow2", "data": {"corrupt": True}}}
    with pytest.raises(VirtDiskError, match="marked corrupt"):
        formats.check_policy(info, "/img/c.qcow2", "qcow2", True)


def test_qemu_info_always_names_the_format():
    runner = FakeRunner([(["qemu-img", "info"], (0, json.dumps(QCOW2_OVERLAY), ""))])
    assert formats.qemu_info(runner, "/img/ov.qcow2", "qcow2")["backing-filename"] == "base.qcow2"
    assert runner.calls == [["qemu-img", "info", "--force-share", "--output=json", "-f", "qcow2", "/img/ov.qcow2"]]


@pytest.mark.parametrize("rc, ok", [(0, True), (3, True), (63, True), (2, False), (1, False)])
def test_integrity_check_exit_codes(rc, ok):
    runner = FakeRunner([(["qemu-img", "check"], (rc, "", "ERROR: cluster beyond end of file"))])
    if ok:
        formats.check_integrity(runner, "/img/t.qcow2", "qcow2")
    else:
        with pytest.raises(VirtDiskError) as e:
            formats.check_integrity(runner, "/img/t.qcow2", "qcow2")
        assert "/img/t.qcow2" in str(e.value) and "cluster beyond end of file" in str(e.value)
    assert runner.calls[0][:5] == ["qemu-img", "check", "--force-share", "-f", "qcow2"]


def test_integrity_failure_keeps_only_the_first_lines_of_a_long_report():
    report = "\n".join("ERROR: counting reference for region %d" % i for i in range(1000))
    runner = FakeRunner([(["qemu-img", "check"], (2, "", report))])
    with pytest.raises(VirtDiskError) as e:
        formats.check_integrity(runner, "/img/t.qcow2", "qcow2")
    text = str(e.value)
    assert "region 0" in text and "region 5" in text and "region 6" not in text
    assert "(994 more lines)" in text
