# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""volumes.stack: the dm devices stacked on an image's devices, from a fake sysfs; names and adoption."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.volumes import stack

KEY = "file-8-1-1000"
LUKS_UUID = "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-" + stack.luks_name(KEY, 2)


def luks_lvm(systree):
    """loop0 with p1 and p2; LUKS on p2 (ours), an LV of ours on it, and a host LV on another disk."""
    systree.loop("loop0", 0, backing="/srv/disk.img")
    systree.partition("loop0", 1, 2048, 1024, 259, 0)
    systree.partition("loop0", 2, 4096, 8192, 259, 1)
    systree.dm("loop0p2", 0, stack.luks_name(KEY, 2), LUKS_UUID)
    systree.dm("dm-0", 1, stack.lv_name(KEY, "vg0", "root"), stack.lv_uuid(KEY, "a-b", "c-d"))
    systree.loop("loop1", 1, backing="/srv/host.img")
    systree.dm("loop1", 2, "vg0-root", "LVM-hostvguuidhostlvuuid")


def test_scan_finds_the_stack_topmost_first_and_not_the_hosts(systree):
    luks_lvm(systree)
    found = stack.scan(systree.sysfs, ["loop0", "loop0p1", "loop0p2"])
    assert [(v.name, v.kernel_name, v.kind, v.depth, v.slaves) for v in found] == [
        (stack.lv_name(KEY, "vg0", "root"), "dm-1", "lvm", 2, ["dm-0"]),
        (stack.luks_name(KEY, 2), "dm-0", "luks", 1, ["loop0p2"])]
    assert found[0].device == "/dev/mapper/virtdisk-file-8-1-1000-vg0-root"
    assert found[0].ours(KEY) and not found[0].ours("file-8-1-2000")


def test_scan_skips_the_partition_maps_of_kpartx(systree):
    systree.loop("loop0", 0, backing="/srv/disk.img")
    systree.dm("loop0", 0, "loop0p2", "part2-devnode_7:0_Wh5pYvM")
    systree.dm("dm-0", 1, "vg0-root", "LVM-x")
    found = stack.scan(systree.sysfs, ["loop0", "dm-0"], skip_names={"loop0p2"})
    assert [v.name for v in found] == ["vg0-root"]


def test_names_double_dashes_as_lvm2_does():
    assert stack.lv_name(KEY, "ubuntu-vg", "ubuntu-lv") == "virtdisk-file-8-1-1000-ubuntu--vg-ubuntu--lv"
    assert stack.lvm_name("ubuntu-vg", "ubuntu-lv") == "ubuntu--vg-ubuntu--lv"
    assert stack.luks_name(KEY, 3) == "virtdisk-file-8-1-1000-p3"
    assert stack.lv_uuid(KEY, "Ab-Cd", "Ef-Gh") == "VIRTDISK-LVM-AbCdEfGh-file-8-1-1000"


def test_adoption_ours_first_then_made_by_hand(systree):
    luks_lvm(systree)
    found = stack.scan(systree.sysfs, ["loop0", "loop0p1", "loop0p2"])
    assert stack.find_luks(found, KEY, 2, "loop0p2").kernel_name == "dm-0"
    assert stack.find_lv(found, KEY, "vg0", "root").kernel_name == "dm-1"
    assert stack.find_lv(found, KEY, "vg0", "var") is None
    assert stack.find_luks(found, KEY, 1, "loop0p1") is None


def test_a_mapping_by_hand_is_adopted_and_a_host_lv_is_not_ours(systree):
    systree.loop("loop0", 0, backing="/srv/disk.img")
    systree.partition("loop0", 2, 4096, 8192, 259, 1)
    systree.dm("loop0p2", 0, "by-hand", "CRYPT-LUKS1-00-by-hand")
    systree.dm("dm-0", 1, "vg0-root", "LVM-vguuidlvuuid")
    found = stack.scan(systree.sysfs, ["loop0", "loop0p2"])
    assert stack.find_luks(found, KEY, 2, "loop0p2").name == "by-hand"
    assert stack.find_lv(found, KEY, "vg0", "root").name == "vg0-root"
    assert [v.to_dict(KEY)["ours"] for v in found] == [False, False]
    assert [v.name for v in stack.above(found, found[1])] == ["vg0-root"]
