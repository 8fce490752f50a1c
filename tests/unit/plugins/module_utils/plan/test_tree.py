# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel.mountinfo import Mount as Live
from ansible_collections.virt.disk.plugins.module_utils.plan import tree
from ansible_collections.virt.disk.plugins.module_utils.tree.layout import Mount


class Node(object):
    def __init__(self, device, major, minor):
        self.device, self.major, self.minor = device, major, minor


HOME = Mount("/home", 5, "btrfs", ["subvol=@home", "compress=zstd"], "fstab", "PARTLABEL=home", 5)
VAR = Mount("/var", 4, "xfs", [], "fstab", "PARTUUID=x", 4)
NODE5 = Node("/dev/loop0p5", 259, 5)
NODE4 = Node("/dev/loop0p4", 259, 4)


def live(path, source, major, minor, root="/", options="rw,nosuid,nodev,relatime", fstype="xfs"):
    return Live(mount_id=1, parent_id=0, major=major, minor=minor, root=root, path=path, options=options,
                fstype=fstype, source=source, super_options="")


def test_options_merge_fstab_then_module():
    assert tree.wanted_options(HOME, "nodev,nosuid") == "subvol=@home,compress=zstd,nodev,nosuid"
    assert tree.subvolume(["compress=zstd", "subvol=/@home"]) == "@home"


def test_new_mount_maps_creates_and_mounts():
    steps, skip = tree.decide(VAR, "/mnt/img/var", False, None, None, None, "nodev,nosuid", False)
    assert skip is None
    assert [s.op for s in steps] == ["map", "mkdir", "mount_tree"]
    assert steps[2].args == {"path": "/mnt/img/var", "number": 4, "fstype": "xfs", "opts": "nodev,nosuid"}


def test_existing_directory_and_node():
    steps, _skip = tree.decide(VAR, "/mnt/img/var", True, None, NODE4, None, "nodev,nosuid", False)
    assert [s.op for s in steps] == ["mount_tree"]


def test_read_only_never_creates_a_mount_point():
    steps, skip = tree.decide(VAR, "/mnt/img/var", False, None, NODE4, None, "nodev,nosuid", True)
    assert steps == [] and "has no /var" in skip


def test_adopted_when_mounted_as_wanted():
    top = live("/mnt/img/var", "/dev/loop0p4", 259, 4)
    assert tree.decide(VAR, "/mnt/img/var", True, top, NODE4, None, "nodev,nosuid", False) == ([], None)


def test_flags_differ_remount():
    top = live("/mnt/img/var", "/dev/loop0p4", 259, 4, options="ro,nosuid,nodev,relatime")
    steps, _skip = tree.decide(VAR, "/mnt/img/var", True, top, NODE4, None, "nodev,nosuid", False)
    assert [s.op for s in steps] == ["remount"]


def test_something_else_mounted_there_fails_and_names_it():
    top = live("/mnt/img/var", "/dev/sdb1", 8, 17)
    with pytest.raises(VirtDiskError, match=r"already has xfs /dev/sdb1 mounted, not partition 4 as its fstab line 4"):
        tree.decide(VAR, "/mnt/img/var", True, top, NODE4, None, "nodev,nosuid", False)


def test_btrfs_subvolume_is_part_of_the_identity():
    # btrfs mounts show an anonymous device number; the source names the node
    right = live("/mnt/img/home", "/dev/loop0p5", 0, 51, root="/@home", fstype="btrfs")
    assert tree.decide(HOME, "/mnt/img/home", True, right, NODE5, None, "nodev,nosuid", False) == ([], None)
    wrong = live("/mnt/img/home", "/dev/loop0p5", 0, 51, root="/@", fstype="btrfs")
    with pytest.raises(VirtDiskError, match="subvolume /@"):
        tree.decide(HOME, "/mnt/img/home", True, wrong, NODE5, None, "nodev,nosuid", False)
