# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes

BLKEXT = 259


def test_existing_kernel_partitions(systree):
    systree.loop("loop0", 0, backing="/x.img")
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 0)
    systree.partition("loop0", 2, 10240, 16384, BLKEXT, 1)
    nodes = partnodes.existing(systree.sysfs, "loop0")
    assert nodes == {
        1: partnodes.Node(1, "/dev/loop0p1", BLKEXT, 0, "kernel", 8192 * 512),
        2: partnodes.Node(2, "/dev/loop0p2", BLKEXT, 1, "kernel", 16384 * 512),
    }


def test_existing_kpartx_maps_under_dev_mapper(systree):
    systree.loop("loop0", 0, backing="/x.img")
    systree.dm("loop0", 4, "loop0p1", "part1-devnode_7:0_x", sectors=8192)
    systree.dm("loop0", 5, "loop0p2", "part2-devnode_7:0_x", sectors=16384)
    nodes = partnodes.existing(systree.sysfs, "loop0", dev_root="/fake/dev")
    assert sorted(nodes) == [1, 2]
    assert nodes[1] == partnodes.Node(1, "/fake/dev/mapper/loop0p1", 253, 4, "kpartx", 8192 * 512, "loop0p1")
    assert nodes[2].device == "/fake/dev/mapper/loop0p2"


def test_existing_dm_map_wins_over_kernel_partition_and_foreign_holders_ignored(systree):
    # while dm maps hold the disk, its own partitions cannot be mounted: the map is the usable node
    systree.loop("loop0", 0, backing="/x.img")
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 0)
    systree.dm("loop0", 0, "loop0p1", "part1-x")
    systree.dm("loop0", 1, "loop0p3", "part3-x")
    systree.dm("loop0", 2, "cryptdata", "CRYPT-LUKS2-abc-cryptdata")
    nodes = partnodes.existing(systree.sysfs, "loop0")
    assert sorted(nodes) == [1, 3]
    assert nodes[1].mapper == "kpartx" and nodes[1].device == "/dev/mapper/loop0p1"
    assert nodes[3].mapper == "kpartx"


def test_pick_honours_an_explicit_mapper(systree):
    systree.loop("loop0", 0, backing="/x.img")
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 0)
    systree.dm("loop0", 0, "loop0p1", "part1-x")
    kernel = partnodes.kernel_nodes(systree.sysfs, "loop0")
    dm = partnodes.dm_nodes(systree.sysfs, "loop0")
    assert partnodes.pick(kernel, dm, 1, "kernel").device == "/dev/loop0p1"
    assert partnodes.pick(kernel, dm, 1, "partx").device == "/dev/loop0p1"
    assert partnodes.pick(kernel, dm, 1, "kpartx").device == "/dev/mapper/loop0p1"
    assert partnodes.pick(kernel, dm, 1, "auto").device == "/dev/mapper/loop0p1"
    assert partnodes.pick(kernel, {}, 1, "kpartx") is None


def test_existing_nothing(systree):
    systree.loop("loop0", 0, backing="/x.img")
    assert partnodes.existing(systree.sysfs, "loop0") == {}
    assert partnodes.existing(systree.sysfs, "loop7") == {}


def test_existing_image_named_like_a_disk_with_digit(systree):
    systree.nbd("nbd2", 64, pid=99)
    systree.partition("nbd2", 1, 2048, 8192, 43, 65)
    nodes = partnodes.existing(systree.sysfs, "nbd2")
    assert nodes[1].device == "/dev/nbd2p1"
    assert nodes[1].numbers == (43, 65)
