# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.mounts import clones

UUID_A = "6b0e8a3c-0004-4c1d-9e2f-000000000004"
UUID_B = "6b0e8a3c-0004-4c1d-9e2f-0000000000bb"


def superblock(tmp_path, name, fstype, value):
    magic_at, magic, uuid_at = clones.SUPERBLOCKS[fstype]
    data = bytearray(max(magic_at, uuid_at) + 64)
    data[magic_at:magic_at + len(magic)] = magic
    data[uuid_at:uuid_at + 16] = bytes.fromhex(value.replace("-", ""))
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return str(path)


def test_fs_uuid_reads_xfs_and_btrfs_superblocks(tmp_path):
    assert clones.fs_uuid(superblock(tmp_path, "x", "xfs", UUID_A), "xfs") == UUID_A
    assert clones.fs_uuid(superblock(tmp_path, "b", "btrfs", UUID_B), "btrfs") == UUID_B


def test_fs_uuid_wants_the_magic_and_a_readable_device(tmp_path):
    xfs = superblock(tmp_path, "x", "xfs", UUID_A)
    assert clones.fs_uuid(xfs, "btrfs") is None  # no btrfs magic at 64 KiB
    assert clones.fs_uuid(xfs, "ext4") is None  # ext4 copies need nothing
    assert clones.fs_uuid(str(tmp_path / "missing"), "xfs") is None


def mounts(*lines):
    text = "".join("%d 1 %s / %s rw,relatime shared:1 - %s %s rw\n" % (20 + i, number, path, fstype, source)
                   for i, (number, path, fstype, source) in enumerate(lines))
    return mountinfo.parse(text)


def test_twins_are_other_devices_with_the_same_uuid_once_each(tmp_path):
    mine = superblock(tmp_path, "mine", "xfs", UUID_A)
    same = superblock(tmp_path, "same", "xfs", UUID_A)
    other = superblock(tmp_path, "other", "xfs", UUID_B)
    table = mounts(("7:1", "/mnt/a/var", "xfs", same),
                   ("7:1", "/mnt/bind", "xfs", same),  # a second mount of the same device
                   ("7:2", "/srv", "xfs", other),
                   ("7:3", "/mnt/e", "ext4", same))
    found = clones.twins(table, mine, "xfs", dev_root=str(tmp_path / "dev"))
    assert [(m.source, m.path) for m in found] == [(same, "/mnt/a/var")]


def test_twins_reads_the_mounted_device_by_its_number(tmp_path):
    mine = superblock(tmp_path, "mine", "xfs", UUID_A)
    block = tmp_path / "dev" / "block"
    block.mkdir(parents=True)
    os.symlink(superblock(tmp_path, "by-number", "xfs", UUID_A), str(block / "7:1"))
    table = mounts(("7:1", "/mnt/a/var", "xfs", "/dev/loop-renamed"))
    assert [m.path for m in clones.twins(table, mine, "xfs", dev_root=str(tmp_path / "dev"))] == ["/mnt/a/var"]


def test_no_twins_for_other_fstypes_or_unreadable_devices(tmp_path):
    table = mounts(("7:1", "/mnt/a", "ext4", "/dev/loop1"))
    assert clones.twins(table, "/dev/loop2", "ext4") == []
    assert clones.twins(table, str(tmp_path / "missing"), "xfs") == []


def test_xfs_copies_get_nouuid_once():
    twin = mounts(("7:1", "/mnt/a/var", "xfs", "/dev/loop1p4"))
    assert clones.nouuid_needed("nodev,nosuid", "xfs", twin)
    assert not clones.nouuid_needed("nodev,nouuid", "xfs", twin)
    assert not clones.nouuid_needed("nodev", "xfs", [])
    assert not clones.nouuid_needed("nodev", "btrfs", twin)


def test_btrfs_copies_need_temp_fsid():
    twin = mounts(("7:1", "/mnt/a/home", "btrfs", "/dev/loop1p5"))
    message = clones.btrfs_refusal("btrfs", twin, temp_fsid=False)
    assert "/dev/loop1p5 at /mnt/a/home" in message and "temp_fsid" in message
    assert clones.btrfs_refusal("btrfs", twin, temp_fsid=True) is None
    assert clones.btrfs_refusal("btrfs", [], temp_fsid=False) is None
    assert clones.btrfs_refusal("xfs", twin, temp_fsid=False) is None
