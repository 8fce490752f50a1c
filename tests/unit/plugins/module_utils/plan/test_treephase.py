# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tree phase against a real directory as the image's root and an
injected mount table: where the mount points of a hostile image land."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.plan import treephase
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host
from ansible_collections.virt.disk.plugins.module_utils.tree import fstab, layout

from ansible_collections.virt.disk.plugins.module_utils.image.parttable import Table
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.tree.test_layout import TABLE, part


class Filesystems(object):
    def __init__(self, missing=()):
        self.missing = missing

    def can_mount(self, fstype):
        return fstype not in self.missing


@pytest.fixture
def root(tmp_path):
    top = tmp_path / "root"
    for name in ("etc", "boot", "srv"):
        (top / name).mkdir(parents=True)
    (top / "srv" / "file").write_text(u"x")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(u"")
    return top, Host(mountinfo_path=str(mountinfo), filesystems=Filesystems())


def phase_of(top, host, text, nodes=None):
    tree = layout.from_fstab(TABLE, 3, fstab.parse(text), "/img/os.img", host.filesystems.can_mount)
    done = []

    def do(mount, steps):
        done.append((mount.number, [(s.op, s.args.get("path")) for s in steps]))
        return None
    phase = treephase.Phase(host, tree, str(top), "nodev,nosuid", False, "auto", nodes or {}, {}, do)
    return phase, done


def test_mount_points_resolve_inside_the_image(root):
    top, host = root
    os.symlink("/etc", str(top / "var"))
    os.symlink("../../../../../tmp", str(top / "home"))
    phase, done = phase_of(top, host, "LABEL=boot /../../boot ext4 defaults 0 2\n"
                                      "PARTUUID=pu-4 /var xfs defaults 0 2\n"
                                      "PARTLABEL=home /home btrfs subvol=@home 0 0\n")
    phase.run()
    assert [e["path"] for e in phase.entries] == [str(top), str(top / "boot"), str(top / "etc"), str(top / "tmp")]
    assert done == [
        (2, [("map", None), ("mount_tree", str(top / "boot"))]),
        (4, [("map", None), ("mount_tree", str(top / "etc"))]),
        (5, [("map", None), ("mkdir", str(top / "tmp")), ("mount_tree", str(top / "tmp"))]),
    ]


def test_two_mount_points_that_are_one_directory_fail(root):
    top, host = root
    os.symlink("srv", str(top / "srv2"))
    phase, done = phase_of(top, host, "LABEL=boot /srv ext4 defaults 0 2\nPARTUUID=pu-4 /srv2 xfs defaults 0 2\n")
    with pytest.raises(VirtDiskError, match=r"fstab line 2: the mount point /srv2 is the same directory as /srv"):
        phase.run()
    assert [number for number, _steps in done] == [2]


def test_a_mount_point_that_is_the_root_fails(root):
    top, host = root
    os.symlink("/", str(top / "var"))
    phase, _done = phase_of(top, host, "PARTUUID=pu-4 /var xfs defaults 0 2\n")
    with pytest.raises(VirtDiskError, match=r"fstab line 1: the mount point /var is the image's root"):
        phase.run()


def test_a_mount_point_that_is_a_file_fails(root):
    top, host = root
    (top / "var").write_text(u"not a directory")
    phase, _done = phase_of(top, host, "PARTUUID=pu-4 /var xfs defaults 0 2\n")
    with pytest.raises(VirtDiskError, match=r"fstab line 1: the image's /var \(.*\) is not a directory"):
        phase.run()


def test_an_fstab_that_points_out_of_the_image_is_no_fstab(root):
    top, host = root
    os.symlink("/proc/self/mounts", str(top / "etc" / "fstab"))
    tree = treephase.read_layout(str(top), TABLE, 3, "auto", False, "/img/os.img", everything)
    assert tree.origin == "dps"
    with pytest.raises(VirtDiskError, match=r"its root \(partition 3\) has no /etc/fstab \(tree_source: fstab\)"):
        treephase.read_layout(str(top), TABLE, 3, "fstab", False, "/img/os.img", everything)


def test_an_fstab_without_entries_falls_back_to_the_partition_types(root):
    top, host = root
    (top / "etc" / "fstab").write_text(u"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n")
    tree = treephase.read_layout(str(top), TABLE, 3, "auto", False, "/img/os.img", everything)
    assert tree.origin == "dps"
    # /boot is empty: XBOOTLDR goes there, and the ESP to /efi; /srv has files
    assert [(m.target, m.number) for m in tree.mounts] == [
        ("/", 3), ("/efi", 1), ("/boot", 2), ("/var", 4), ("/home", 5)]
    with pytest.raises(VirtDiskError, match=r"has no entries in its /etc/fstab"):
        treephase.read_layout(str(top), TABLE, 3, "fstab", False, "/img/os.img", everything)


def test_the_architecture_comes_from_the_root_partition_type():
    assert treephase.architecture(TABLE, 3) in ("x86_64", "amd64")


def everything(fstype):
    return True


def btrfs_top(tmp_path, subvolumes):
    """A btrfs root's top level: {name: fstab text or None (no etc/fstab)}."""
    top = tmp_path / "top"
    top.mkdir()
    for name, text in subvolumes.items():
        (top / name / "etc").mkdir(parents=True)
        if text is not None:
            (top / name / "etc" / "fstab").write_text(text)
    return str(top)


BTRFS_TABLE = Table("gpt", [part(1, "btrfs", uuid="B7")])
ROOT_AT = u"UUID=B7 / btrfs defaults,subvol=%s,compress=zstd 0 1\nUUID=B7 /home btrfs subvol=@home 0 2\n"


def test_the_root_subvolume_is_the_one_whose_fstab_mounts_it_at_root(tmp_path):
    top = btrfs_top(tmp_path, {"@": ROOT_AT % "/@", "@home": None, "decoy": ROOT_AT % "@"})
    os.symlink("/", os.path.join(top, "host-root"))  # the host's root has an /etc/fstab: never looked at
    assert treephase.root_subvolume(top, BTRFS_TABLE, 1) == ("@", ["subvol=/@", "compress=zstd"])


def test_the_root_subvolume_is_mounted_with_its_fstab_options_and_the_modules():
    assert treephase.subvolume_root_options("@", ["subvol=/@", "compress=zstd"], "nodev,nosuid") \
        == "subvol=@,compress=zstd,nodev,nosuid"


def test_no_root_subvolume_with_an_fstab_at_the_top_or_another_filesystem(tmp_path):
    top = btrfs_top(tmp_path, {"etc": None, "@": ROOT_AT % "@"})
    assert treephase.root_subvolume(top, Table("gpt", [part(1, "ext4", uuid="B7")]), 1) is None
    with open(os.path.join(top, "etc", "fstab"), "w") as f:
        f.write(ROOT_AT % "@")
    assert treephase.root_subvolume(top, BTRFS_TABLE, 1) is None


def test_a_subvolume_whose_fstab_names_another_partition_is_not_the_root(tmp_path):
    table = Table("gpt", [part(1, "btrfs", uuid="B7"), part(2, "btrfs", uuid="OTHER")])
    top = btrfs_top(tmp_path, {"@": u"UUID=OTHER / btrfs subvol=@ 0 1\n"})
    assert treephase.root_subvolume(top, table, 1) is None


def test_two_root_subvolumes_fail_and_name_both(tmp_path):
    top = btrfs_top(tmp_path, {"@": ROOT_AT % "@", "root": ROOT_AT % "root"})
    with pytest.raises(VirtDiskError) as info:
        treephase.root_subvolume(top, BTRFS_TABLE, 1)
    assert "@, root" in str(info.value)


class FakeVolume(object):
    def __init__(self, device, major, minor):
        self.device, self.major, self.minor = device, major, minor


def test_logical_volumes_of_the_tree_are_activated_then_mounted(root, tmp_path):
    top, host = root
    (top / "var").mkdir()
    lvs = [{"vg": "vg0", "lv": "var", "vg_uuid": "V", "lv_uuid": "L1", "fstype": "xfs", "uuid": "7a5", "label": None},
           {"vg": "vg0", "lv": "srv", "vg_uuid": "V", "lv_uuid": "L2", "fstype": "ext4", "uuid": "5e7", "label": "srv"}]
    tree = layout.from_fstab(TABLE, 3, fstab.parse("/dev/vg0/var /var auto defaults 0 2\nLABEL=srv /srv ext4 ro 0 2\n"),
                             "/img/os.img", host.filesystems.can_mount, volumes=lambda: lvs)
    srv = FakeVolume("/dev/mapper/virtdisk-k-vg0-srv", 253, 4)
    (tmp_path / "mountinfo").write_text(u"90 1 253:4 / %s ro,nosuid,nodev,relatime - ext4 %s ro\n" % (top / "srv", srv.device))
    done = []

    def do(mount, steps):
        done.append((mount.key, [(s.op, s.args) for s in steps]))
        return FakeVolume("/dev/mapper/virtdisk-k-vg0-var", 253, 3)
    phase = treephase.Phase(host, tree, str(top), "nodev,nosuid", False, "auto", {("lv", "vg0", "srv"): srv}, {}, do)
    phase.run()
    assert [key for key, _steps in done] == [("lv", "vg0", "var")]
    ops = done[0][1]
    assert [op for op, _args in ops] == ["volume", "mount_tree"]
    assert ops[0][1]["spec"] == {"kind": "lv", "vg": "vg0", "lv": "var"}
    assert ops[1][1]["volume"] == {"kind": "lv", "vg": "vg0", "lv": "var"} and ops[1][1]["fstype"] == "xfs"
    by_target = {e["target"]: e for e in phase.entries}
    assert by_target["/var"]["volume"] == "vg0/var" and by_target["/var"]["partition"] is None
    assert by_target["/var"]["device"] == "/dev/mapper/virtdisk-k-vg0-var"
    assert by_target["/srv"]["device"] == srv.device  # mounted already: nothing to do
