# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import Table
from ansible_collections.virt.disk.plugins.module_utils.image import dps
from ansible_collections.virt.disk.plugins.module_utils.tree import crypttab, fstab, layout

X86_ROOT = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"


def part(number, fstype, ptype=LINUX, label=None, uuid=None, partlabel=None, partuuid=None, size=1 << 20):
    return {"number": number, "fstype": fstype, "type": ptype, "label": label, "uuid": uuid,
            "partlabel": partlabel, "partuuid": partuuid, "size": size, "start": number << 20,
            "usage": "filesystem" if fstype else None}


# the GPT image of the issue: ESP, /boot ext4, / ext4, /var xfs, /home btrfs
TABLE = Table("gpt", [
    part(1, "vfat", dps.ESP, uuid="ABCD-1234", partlabel="esp"),
    part(2, "ext4", dps.XBOOTLDR, label="boot", uuid="2222", partlabel="boot"),
    part(3, "ext4", X86_ROOT, label="root", uuid="3333", partlabel="root", partuuid="pu-3"),
    part(4, "xfs", "4d21b016-b534-45c2-a9fb-5c16e091fd2d", label="var", uuid="4444", partuuid="PU-4"),
    part(5, "btrfs", "933ac7e1-2eb4-4f13-b844-0e14e2aef915", label="home", uuid="5555", partlabel="home"),
    part(6, "swap", dps.SWAP),
])
FSTAB = """
UUID=3333 / ext4 errors=remount-ro 0 1
LABEL=boot /boot ext4 defaults 0 2
/dev/disk/by-uuid/abcd-1234 /boot/efi vfat umask=0077 0 1
PARTUUID=pu-4 /var xfs defaults 0 2
PARTLABEL=home /home btrfs subvol=@home,compress=zstd 0 0
/dev/vda6 none swap sw 0 0
tmpfs /tmp tmpfs defaults 0 0
"""


def everything(fstype):
    return True


def no_vfat(fstype):
    return fstype != "vfat"


def tree_of(text, can_mount=everything, table=TABLE, root=3):
    return layout.from_fstab(table, root, fstab.parse(text), "/img/os.qcow2", can_mount)


def test_the_fstab_tree_parents_first():
    tree = tree_of(FSTAB)
    assert [(m.target, m.number, m.origin) for m in tree.mounts] == [
        ("/", 3, "fstab"), ("/boot", 2, "fstab"), ("/var", 4, "fstab"), ("/home", 5, "fstab"),
        ("/boot/efi", 1, "fstab")]
    assert tree.mounts[0].options == ["errors=remount-ro"]
    assert tree.mounts[3].options == ["subvol=@home", "compress=zstd"] and tree.mounts[3].fstype == "btrfs"
    assert [(s["target"], s["reason"]) for s in tree.skipped] == [("none", "swap"), ("/tmp", "not on a disk (tmpfs)")]
    assert tree.warnings == [] and tree.origin == "fstab"


def test_a_filesystem_the_kernel_cannot_mount_is_skipped_with_a_warning():
    tree = tree_of(FSTAB, no_vfat)
    assert "/boot/efi" not in [m.target for m in tree.mounts]
    assert {"target": "/boot/efi", "source": "/dev/disk/by-uuid/abcd-1234", "fstab_line": 4,
            "reason": "this kernel cannot mount vfat"} in tree.skipped
    assert any("cannot mount vfat" in w for w in tree.warnings)


def test_a_root_the_kernel_cannot_mount_fails():
    with pytest.raises(VirtDiskError, match="root of /img/os.qcow2 .* is ext4, which this kernel cannot mount"):
        tree_of(FSTAB, lambda fstype: fstype != "ext4")


def test_a_missing_source_fails_and_lists_the_partitions():
    with pytest.raises(VirtDiskError) as info:
        tree_of(FSTAB + "UUID=0000 /srv ext4 defaults 0 2\n")
    text = str(info.value)
    assert "fstab line 9: UUID=0000 for /srv is not in /img/os.qcow2: no partition of the image has UUID=0000" in text
    assert "label root" in text and "partlabel home" in text


def test_a_missing_source_with_nofail_is_a_warning():
    tree = tree_of(FSTAB + "UUID=0000 /srv ext4 defaults,nofail 0 2\n/dev/mapper/vg-lv /lv ext4 nofail 0 0\n")
    assert [s["target"] for s in tree.skipped if s["reason"] == "not in this image (nofail)"] == ["/srv", "/lv"]
    assert len(tree.warnings) == 2


def test_lvm_source_fails_without_nofail():
    with pytest.raises(VirtDiskError, match="neither a partition nor a volume of the image is /dev/mapper/vg-lv"):
        tree_of(FSTAB + "/dev/mapper/vg-lv /lv ext4 defaults 0 0\n")


def test_device_names_are_taken_as_partition_numbers_with_a_warning():
    tree = tree_of("/dev/sda3 / ext4 defaults 0 1\n/dev/nvme0n1p4 /var xfs defaults 0 2\n")
    assert [(m.target, m.number) for m in tree.mounts] == [("/", 3), ("/var", 4)]
    assert len(tree.warnings) == 2 and "taken as partition 3" in tree.warnings[0]


def test_duplicate_mount_point_fails():
    with pytest.raises(VirtDiskError, match="fstab lines 5 and 8 of /img/os.qcow2 both mount at /var"):
        tree_of(FSTAB.replace("tmpfs /tmp tmpfs defaults 0 0", "LABEL=boot /var/../var/ ext4 defaults 0 0"))


def test_hostile_mount_points_stay_inside():
    tree = tree_of("LABEL=root / ext4 defaults 0 1\nLABEL=var /../../../etc xfs defaults 0 0\n"
                   "LABEL=boot /./boot//x/.. ext4 defaults 0 0\n")
    assert [m.target for m in tree.mounts] == ["/", "/etc", "/boot"]


def test_fstab_root_on_another_partition_warns_and_keeps_the_selection():
    tree = tree_of("LABEL=boot / ext4 defaults 0 1\n")
    assert tree.mounts[0].number == 3 and tree.mounts[0].origin == "selector"
    assert "partition 3 was selected as the root" in tree.warnings[0]


def test_btrfs_root_subvolume_options():
    table = Table("gpt", [part(1, "vfat", dps.ESP, uuid="E"), part(2, "btrfs", X86_ROOT, uuid="B")])
    tree = tree_of("UUID=B / btrfs subvol=@,defaults 0 0\nUUID=B /home btrfs subvol=@home 0 0\n"
                   "UUID=e /boot/efi vfat umask=0077 0 1\n", table=table, root=2)
    assert [(m.target, m.number, m.options) for m in tree.mounts] == [
        ("/", 2, ["subvol=@"]), ("/home", 2, ["subvol=@home"]), ("/boot/efi", 1, ["umask=0077"])]


def test_ambiguous_label_fails():
    table = Table("gpt", [part(1, "ext4", label="x"), part(2, "ext4", label="x")])
    with pytest.raises(VirtDiskError, match="matches several partitions"):
        tree_of("LABEL=x /data ext4 defaults 0 0\n", table=table, root=1)


def test_whole_disk_filesystem():
    table = Table(None, [], whole={"fstype": "ext4", "uuid": "W", "label": "w"})
    tree = tree_of("UUID=W / ext4 defaults 0 1\n", table=table, root=0)
    assert [(m.target, m.number, m.origin) for m in tree.mounts] == [("/", 0, "fstab")]


def test_dps_places_partitions_by_type():
    state = {"/efi": "missing", "/boot": "empty", "/home": "empty", "/var": "full"}
    tree = layout.from_dps(TABLE, 3, "x86_64", lambda p: state.get(p, "missing"), everything)
    assert [(m.target, m.number, m.origin) for m in tree.mounts] == [
        ("/", 3, "selector"), ("/efi", 1, "dps"), ("/boot", 2, "dps"), ("/home", 5, "dps")]
    assert [s["source"] for s in tree.skipped] == ["partition 4"]  # /var has files
    assert "has files" in tree.skipped[0]["reason"]


def test_dps_esp_at_boot_without_xbootldr():
    table = Table("gpt", [part(1, "vfat", dps.ESP), part(2, "ext4", X86_ROOT)])
    tree = layout.from_dps(table, 2, "x86_64", lambda p: "missing", no_vfat)
    assert [m.target for m in tree.mounts] == ["/"]
    assert tree.skipped[0]["target"] == "/boot" and "cannot mount vfat" in tree.skipped[0]["reason"]
    tree = layout.from_dps(table, 2, "x86_64", lambda p: "empty" if p == "/efi" else "missing", everything)
    assert [m.target for m in tree.mounts] == ["/", "/efi"]


def test_dps_first_of_a_type_wins_and_mbr_has_none():
    home = "933ac7e1-2eb4-4f13-b844-0e14e2aef915"
    table = Table("gpt", [part(1, "ext4", X86_ROOT), part(2, "ext4", home), part(3, "ext4", home)])
    tree = layout.from_dps(table, 1, "x86_64", lambda p: "missing", everything)
    assert [(m.target, m.number) for m in tree.mounts] == [("/", 1), ("/home", 2)]
    assert "partition 2 of the same type comes first" in tree.skipped[0]["reason"]
    mbr = Table("dos", [part(1, "ext4", "0x83"), part(2, "ext4", "0x83")])
    assert [m.target for m in layout.from_dps(mbr, 1, "x86_64", lambda p: "missing", everything).mounts] == ["/"]


# An installer's LVM layout: /boot on partition 1, a PV on partition 2 with VG "ubuntu-vg" (a "-" in its name)
LVM_TABLE = Table("gpt", [part(1, "ext4", label="boot", uuid="b007"), part(2, "LVM2_member", uuid="pv-uuid")])
LVS = [{"vg": "ubuntu-vg", "lv": "ubuntu-lv", "vg_uuid": "AAAA-BB", "lv_uuid": "CCCC-DD", "fstype": "ext4",
        "uuid": "r007", "label": "root"},
       {"vg": "ubuntu-vg", "lv": "var", "vg_uuid": "AAAA-BB", "lv_uuid": "EEEE-FF", "fstype": "xfs",
        "uuid": "7a5", "label": None},
       {"vg": "ubuntu-vg", "lv": "srv", "vg_uuid": "AAAA-BB", "lv_uuid": "GGGG-HH", "fstype": "ext4",
        "uuid": "5e7", "label": "srv"},
       {"vg": "data", "lv": "pool", "vg_uuid": "XXXX", "lv_uuid": "YYYY", "fstype": None, "uuid": None,
        "label": None}]
ROOT_LV = {"kind": "lv", "vg": "ubuntu-vg", "lv": "ubuntu-lv"}


def lvm_tree(text, root_volume=None, volumes=None):
    root_volume = root_volume or ROOT_LV
    volumes = volumes or LVS
    calls = []

    def read():
        calls.append(1)
        return volumes
    tree = layout.from_fstab(LVM_TABLE, 0, fstab.parse(text), "/img/server.qcow2", everything,
                             root_volume=root_volume, volumes=read)
    return tree, calls


def test_logical_volumes_by_every_name_an_installer_writes():
    tree, calls = lvm_tree("/dev/disk/by-id/dm-uuid-LVM-AAAABBCCCCDD / ext4 defaults 0 1\n"
                           "UUID=b007 /boot ext4 defaults 0 2\n"
                           "/dev/mapper/ubuntu--vg-var /var auto defaults 0 2\n"
                           "LABEL=srv /srv ext4 defaults 0 2\n"
                           "/dev/ubuntu-vg/ubuntu-lv /mnt/again ext4 defaults 0 2\n")
    got = [(m.target, m.number, m.volume and (m.volume["vg"], m.volume["lv"]), m.fstype) for m in tree.mounts]
    assert got == [("/", 0, ("ubuntu-vg", "ubuntu-lv"), "ext4"), ("/boot", 1, None, "ext4"),
                   ("/var", None, ("ubuntu-vg", "var"), "xfs"), ("/srv", None, ("ubuntu-vg", "srv"), "ext4"),
                   ("/mnt/again", None, ("ubuntu-vg", "ubuntu-lv"), "ext4")]
    assert tree.mounts[0].origin == "fstab" and tree.warnings == []
    assert calls == [1]  # read once, and only for entries that are not partitions
    assert tree.mounts[2].to_dict()["volume"] == "ubuntu-vg/var" and tree.mounts[2].to_dict()["partition"] is None


def test_volumes_are_not_read_when_every_entry_is_a_partition():
    _tree, calls = lvm_tree("UUID=b007 /boot ext4 defaults 0 2\n")
    assert calls == []


def test_a_root_entry_the_image_cannot_show_keeps_the_selected_root():
    tree, _calls = lvm_tree("/dev/mapper/luks-1234 / ext4 defaults 0 1\n/dev/mapper/ubuntu--vg-var /var xfs defaults 0 2\n")
    assert [m.target for m in tree.mounts] == ["/", "/var"]
    assert tree.mounts[0].volume == ROOT_LV and tree.mounts[0].origin == "selector"
    assert "/dev/mapper/luks-1234 at /" in tree.warnings[0]
    assert "the logical volume ubuntu-vg/ubuntu-lv was selected as the root" in tree.warnings[0]


def test_a_root_entry_naming_another_volume_is_a_warning():
    tree, _calls = lvm_tree("/dev/ubuntu-vg/srv / ext4 defaults 0 1\n")
    assert tree.mounts[0].volume == ROOT_LV
    assert "(the logical volume ubuntu-vg/srv) at /" in tree.warnings[0]


def test_missing_and_ambiguous_volumes():
    with pytest.raises(VirtDiskError, match="neither a partition nor a volume of the image is /dev/vg9/x"):
        lvm_tree("/dev/vg9/x /x ext4 defaults 0 2\n")
    twins = LVS + [dict(LVS[2], vg="other", lv="srv2")]
    with pytest.raises(VirtDiskError, match=r"LABEL=srv matches several volumes of the image "
                                            r"\(the logical volume ubuntu-vg/srv, the logical volume other/srv2\)"):
        lvm_tree("LABEL=srv /srv ext4 defaults 0 2\n", volumes=twins)


def test_lvm_names_without_lvm_in_the_image_are_not_read():
    tree = tree_of(FSTAB + "/dev/mapper/vg-lv /lv ext4 nofail 0 0\n")
    assert [s["target"] for s in tree.skipped if s["reason"] == "not in this image (nofail)"] == ["/lv"]


@pytest.mark.parametrize("name, split", [("vg0-root", ("vg0", "root")), ("ubuntu--vg-ubuntu--lv", ("ubuntu-vg", "ubuntu-lv")),
                                         ("a---b", ("a-", "b")), ("nodash", None), ("-x", None), ("x-", None)])
def test_split_dm_name(name, split):
    assert layout.split_dm_name(name) == split


# an image whose data and home filesystems are directly inside LUKS partitions, named in its crypttab
LUKS_TABLE = Table("gpt", [
    part(1, "ext4", label="boot", uuid="b007"),
    part(2, "ext4", X86_ROOT, label="root", uuid="7007"),
    part(3, "crypto_LUKS", uuid="c3c3-AAAA", partlabel="data", partuuid="pu-3"),
    part(4, "crypto_LUKS", uuid="c4c4"),
    part(5, "crypto_LUKS", uuid="c5c5"),
])
CRYPTTAB = """
# <name> <device> <key file> <options>
cryptdata UUID=C3C3-aaaa none luks,discard
crypthome PARTUUID=missing /etc/keys/home.key luks
cryptswap /dev/vda4 /dev/urandom swap
lonely
"""
INSIDES = [{"number": 4, "fstype": "ext4", "uuid": "1n51de", "label": "home"},
           {"number": 5, "fstype": "xfs", "uuid": "5f5f", "label": None}]


def luks_tree(text, insides=None, locked=(), crypt_text=CRYPTTAB, root_volume=None):
    calls = []

    def read():
        calls.append(1)
        return INSIDES if insides is None else insides
    crypt = layout.crypt_names(crypttab.parse(crypt_text), LUKS_TABLE)
    tree = layout.from_fstab(LUKS_TABLE, 2, fstab.parse(text), "/img/crypt.qcow2", everything,
                             root_volume=root_volume, volumes=read, crypt=crypt, locked=locked)
    return tree, calls


def test_crypttab_parse_and_names():
    entries = crypttab.parse(CRYPTTAB)
    assert [(e.line, e.name, e.kind, e.value) for e in entries] == [
        (3, "cryptdata", "uuid", "C3C3-aaaa"), (4, "crypthome", "partuuid", "missing"),
        (5, "cryptswap", "device", 4)]
    # names only LUKS partitions the table has (UUIDs without regard to case); the rest is left out
    assert layout.crypt_names(entries, LUKS_TABLE) == {"cryptdata": 3, "cryptswap": 4}
    assert layout.crypt_names(crypttab.parse("x UUID=b007 none\ny /dev/sda9 none\n"), LUKS_TABLE) == {}


def test_filesystems_inside_luks_by_crypttab_name_and_by_uuid():
    tree, calls = luks_tree("UUID=7007 / ext4 defaults 0 1\n"
                            "/dev/mapper/cryptdata /srv/data ext4 defaults 0 2\n"
                            "UUID=1n51DE /home auto defaults 0 2\n"
                            "LABEL=boot /boot ext4 defaults 0 2\n")
    got = [(m.target, m.number, m.volume, m.fstype, m.key) for m in tree.mounts]
    assert got == [("/", 2, None, "ext4", 2), ("/home", 4, {"kind": "luks", "number": 4}, "ext4", ("luks", 4)),
                   ("/boot", 1, None, "ext4", 1), ("/srv/data", 3, {"kind": "luks", "number": 3}, "ext4", ("luks", 3))]
    assert calls == [1]  # the crypttab name needs no look inside; the UUID does
    home = tree.mounts[1].to_dict()
    assert home["partition"] == 4 and home["encrypted"] is True and home["volume"] is None
    assert tree.mounts[2].to_dict()["encrypted"] is False
    assert tree.mounts[1].what == "the LUKS partition 4"


def test_a_crypttab_name_needs_no_key_to_be_placed():
    # the partition is known from the crypttab; opening it (and failing without a key) is the executor's
    tree, calls = luks_tree("/dev/disk/by-id/dm-name-cryptdata /data auto defaults 0 2\n", locked=[3, 4, 5])
    assert [(m.target, m.volume, m.fstype) for m in tree.mounts[1:]] == [("/data", {"kind": "luks", "number": 3}, None)]
    assert calls == []


def test_without_a_key_a_source_that_may_be_inside_luks_names_the_options():
    with pytest.raises(VirtDiskError, match=r"no partition or volume of the image has UUID=1n51de \(partitions 3, 4, 5 "
                                            r"are LUKS-encrypted and no key was given: set passphrase or keyfile"):
        luks_tree("UUID=1n51de /home ext4 defaults 0 2\n", insides=[], locked=[3, 4, 5])
    with pytest.raises(VirtDiskError, match=r"is /dev/mapper/vg0-var \(partition 3 is LUKS-encrypted"):
        luks_tree("/dev/mapper/vg0-var /var ext4 defaults 0 2\n", insides=[], locked=[3])


def test_a_luks_root_named_by_its_crypttab_name_is_the_selected_root():
    root = {"kind": "luks", "number": 3}
    tree, _calls = luks_tree("/dev/mapper/cryptdata / ext4 noatime 0 1\n", root_volume=root)
    assert tree.mounts[0].volume == root and tree.mounts[0].origin == "fstab" and tree.warnings == []
    assert tree.mounts[0].options == ["noatime"]


def test_a_luks_inside_and_a_logical_volume_with_one_label_are_ambiguous():
    lv = {"vg": "vg0", "lv": "home", "vg_uuid": "A", "lv_uuid": "B", "fstype": "ext4", "uuid": "x", "label": "home"}
    with pytest.raises(VirtDiskError, match=r"the LUKS partition 4, the logical volume vg0/home"):
        luks_tree("LABEL=home /home ext4 defaults 0 2\n", insides=INSIDES + [lv])
