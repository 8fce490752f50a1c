# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import sysfs as sysfs_mod

BLKEXT = 259


def test_attached_loop_device(systree):
    systree.loop("loop0", 0, backing="/var/lib/images/disk.img", partscan=True, autoclear=True)
    info = systree.sysfs.loop_info("loop0")
    assert info == {
        "name": "loop0",
        "backing_file": "/var/lib/images/disk.img",
        "offset": 0,
        "sizelimit": 0,
        "partscan": True,
        "autoclear": True,
        "read_only": False,
    }


def test_attached_loop_with_offset_sizelimit_readonly_no_partscan(systree):
    systree.loop("loop3", 3, backing="/srv/a b.img", offset=1048576, sizelimit=4194304, partscan=False, ro=True)
    info = systree.sysfs.loop_info("loop3")
    assert info["backing_file"] == "/srv/a b.img"
    assert (info["offset"], info["sizelimit"]) == (1048576, 4194304)
    assert info["partscan"] is False
    assert info["read_only"] is True
    assert systree.sysfs.read_only("loop3")


def test_free_loop_device(systree):
    systree.loop("loop1", 1)
    sysfs = systree.sysfs
    assert sysfs.loop_info("loop1") is None
    assert sysfs.loop_backing_file("loop1") is None
    assert sysfs.exists("block", "loop1")
    assert sysfs.size_bytes("loop1") == 0


def test_block_devices_natural_order_and_prefix(systree):
    for minor in (10, 2, 0, 1):
        systree.loop("loop%d" % minor, minor)
    systree.nbd("nbd0", 0)
    systree.disk("sda", 8, 0)
    sysfs = systree.sysfs
    assert sysfs.block_devices("loop") == ["loop0", "loop1", "loop2", "loop10"]
    assert sysfs.block_devices("nbd") == ["nbd0"]
    assert sysfs.block_devices() == ["loop0", "loop1", "loop2", "loop10", "nbd0", "sda"]


def test_block_devices_without_sysfs(tmp_path):
    assert sysfs_mod.SysFS(root=str(tmp_path)).block_devices("loop") == []


def test_dev_numbers_size_and_name_of(systree):
    systree.loop("loop0", 0, backing="/x.img", sectors=20480)
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 3)
    sysfs = systree.sysfs
    assert sysfs.dev_numbers("loop0") == (7, 0)
    assert sysfs.dev_numbers("loop0p1") == (BLKEXT, 3)
    assert sysfs.dev_numbers("nope") is None
    assert sysfs.size_bytes("loop0") == 20480 * 512
    assert sysfs.size_bytes("nope") is None
    assert sysfs.name_of(7, 0) == "loop0"
    assert sysfs.name_of(BLKEXT, 3) == "loop0p1"
    assert sysfs.name_of(7, 99) is None


def test_partitions_read_from_class_block(systree):
    systree.loop("loop0", 0, backing="/x.img")
    systree.partition("loop0", 2, 10240, 16384, BLKEXT, 1)
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 0)
    systree.partition("loop0", 10, 30000, 100, BLKEXT, 2)
    parts = systree.sysfs.partitions("loop0")
    assert [p["number"] for p in parts] == [1, 2, 10]
    assert parts[0] == {"name": "loop0p1", "number": 1, "start": 2048 * 512, "size": 8192 * 512,
                        "major": BLKEXT, "minor": 0}
    assert parts[2]["name"] == "loop0p10"


def test_partitions_of_a_disk_without_digit(systree):
    systree.disk("sdb", 8, 16)
    systree.partition("sdb", 1, 2048, 100, 8, 17)
    assert [(p["name"], p["major"], p["minor"]) for p in systree.sysfs.partitions("sdb")] == [("sdb1", 8, 17)]


def test_partitions_of_missing_disk_and_of_disk_without_partitions(systree):
    systree.loop("loop0", 0, backing="/x.img")
    assert systree.sysfs.partitions("loop0") == []
    assert systree.sysfs.partitions("loop9") == []


def test_dm_maps_kpartx_uuid_name_fallback_and_foreign(systree):
    systree.loop("loop0", 0, backing="/x.img")
    systree.dm("loop0", 0, "loop0p1", "part1-devnode_7:0_Wh5pYvM", sectors=8192)
    systree.dm("loop0", 1, "loop0p2", "", sectors=4096)
    systree.dm("loop0", 2, "vg0-data", "LVM-Abc123", sectors=100)
    maps = systree.sysfs.dm_maps("loop0")
    by_kname = dict((m["kernel_name"], m) for m in maps)
    assert by_kname["dm-0"] == {"name": "loop0p1", "kernel_name": "dm-0", "uuid": "part1-devnode_7:0_Wh5pYvM",
                                "number": 1, "size": 8192 * 512, "major": 253, "minor": 0}
    assert by_kname["dm-1"]["number"] == 2
    assert by_kname["dm-2"]["number"] is None
    assert by_kname["dm-2"]["name"] == "vg0-data"


def test_dm_map_uuid_number_wins_over_name(systree):
    systree.loop("loop0", 0, backing="/x.img")
    systree.dm("loop0", 0, "custom-name7", "part3-whatever")
    (m,) = systree.sysfs.dm_maps("loop0")
    assert m["number"] == 3


def test_holders_only_dm(systree):
    systree.loop("loop0", 0, backing="/x.img")
    assert systree.sysfs.holders("loop0") == []
    systree.dm("loop0", 0, "loop0p1", "part1-x")
    assert systree.sysfs.holders("loop0") == ["dm-0"]
    assert systree.sysfs.holders("missing") == []


def test_nbd_pid(systree):
    systree.nbd("nbd0", 0, pid=4242)
    systree.nbd("nbd1", 32)
    assert systree.sysfs.nbd_pid("nbd0") == 4242
    assert systree.sysfs.nbd_pid("nbd1") is None


def test_read_strips_and_handles_absent(systree):
    systree.loop("loop0", 0, backing="/x.img")
    sysfs = systree.sysfs
    assert sysfs.read("block", "loop0", "loop", "backing_file") == "/x.img"
    assert sysfs.read("block", "loop0", "loop", "nothing") is None
    assert sysfs.read_int("block", "loop0", "loop", "backing_file") is None
    assert sysfs.read_int("block", "loop0", "loop", "offset") == 0


def test_backing_file_with_invalid_utf8_round_trips(tmp_path, systree):
    systree.loop("loop0", 0, backing="/x.img")
    path = tmp_path / "sys" / "block" / "loop0" / "loop" / "backing_file"
    path.write_bytes(b"/srv/\xff.img\n")
    assert os.fsencode(systree.sysfs.loop_backing_file("loop0")) == b"/srv/\xff.img"
