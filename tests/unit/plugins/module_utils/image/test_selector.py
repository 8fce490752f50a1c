# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import selector
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import Table

MIB = 1 << 20
IMG = "/srv/images/disk.img"
ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"
ROOT_X86_64 = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
ROOT_ARM64 = "b921b045-1df0-41c3-af44-4c6f280d3fae"
SWAP = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"


def part(number, size_mib, fstype=None, ptype=LINUX, label=None, uuid=None, partlabel=None, partuuid=None,
         usage="filesystem"):
    return {"number": number, "start": number * MIB, "size": size_mib * MIB, "type": ptype,
            "fstype": fstype, "label": label, "uuid": uuid, "partlabel": partlabel, "partuuid": partuuid,
            "usage": usage if fstype else None}


def gpt(*parts):
    return Table("gpt", list(parts))


def whole(fstype="ext4", label="data", uuid="0A1B2C3D-1111-2222-3333-444455556666"):
    return Table(None, [], whole={"fstype": fstype, "label": label, "uuid": uuid, "usage": "filesystem"})


SAMPLE = gpt(
    part(1, 100, "vfat", ESP, label="EFI", uuid="ABCD-1234", partlabel="esp",
         partuuid="be7cfa7c-83f4-9345-971a-e16e314a5677"),
    part(2, 500, "swap", SWAP, uuid="9b9c7d6e-aaaa-bbbb-cccc-ddddeeeeffff", partlabel="swap",
         partuuid="11111111-2222-3333-4444-555555555555", usage="other"),
    part(3, 4000, "ext4", LINUX, label="root", uuid="0a1b2c3d-1111-2222-3333-444455556666", partlabel="Root FS",
         partuuid="f02aa57b-321a-3c44-a27e-2e572c418c5f"),
    part(4, 1000, "xfs", LINUX, label="root", uuid="5e6f7a8b-0000-1111-2222-333344445555", partlabel="data",
         partuuid="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
)


# parse


@pytest.mark.parametrize("text, parsed", [
    ("auto", ("auto", None)),
    ("AUTO", ("auto", None)),
    (None, ("auto", None)),
    ("", ("auto", None)),
    ("  auto ", ("auto", None)),
    ("0", ("number", 0)),
    ("3", ("number", 3)),
    ("012", ("number", 12)),
    (" 2 ", ("number", 2)),
    ("LABEL=root", ("label", "root")),
    ("label=Root", ("label", "Root")),
    ("LABEL=a=b", ("label", "a=b")),
    ("LABEL=my disk", ("label", "my disk")),
    ("UUID=0A1B2C3D-1111-2222-3333-444455556666", ("uuid", "0a1b2c3d-1111-2222-3333-444455556666")),
    ("uuid=ABCD-1234", ("uuid", "abcd-1234")),
    ("PARTLABEL=Root FS", ("partlabel", "Root FS")),
    ("PartLabel=EFI", ("partlabel", "EFI")),
    ("PARTUUID=F02AA57B-321A-3C44-A27E-2E572C418C5F", ("partuuid", "f02aa57b-321a-3c44-a27e-2e572c418c5f")),
    ("partuuid=DEADBEEF-01", ("partuuid", "deadbeef-01")),
])
def test_parse_valid(text, parsed):
    assert selector.parse(text) == parsed


@pytest.mark.parametrize("text", ["-1", "1.5", "p1", "first", "LABEL=", "UUID", "FOO=bar", "=root", "1 2",
                                  "NAME=root", "0x1"])
def test_parse_invalid(text):
    with pytest.raises(VirtDiskError) as info:
        selector.parse(text)
    msg = str(info.value)
    assert "invalid partition selector" in msg and repr(text.strip()) in msg
    assert "LABEL=" in msg and "PARTUUID=" in msg and "auto" in msg


def test_parse_unicode_superscript_digit_is_a_clear_error():
    with pytest.raises(VirtDiskError, match="invalid partition selector"):
        selector.parse(u"²")


# resolve: numbers


def test_resolve_number():
    assert selector.resolve(("number", 3), SAMPLE, IMG) == 3


def test_resolve_zero_is_the_whole_device_even_with_a_table():
    assert selector.resolve(("number", 0), SAMPLE, IMG) == 0
    assert selector.resolve(("number", 0), whole(), IMG) == 0


def test_resolve_number_out_of_range_lists_partitions():
    with pytest.raises(VirtDiskError) as info:
        selector.resolve(("number", 7), SAMPLE, IMG)
    msg = str(info.value)
    assert msg.startswith("partition 7 not found on %s" % IMG)
    assert "1 (100 MiB, vfat, label EFI, partlabel esp)" in msg
    assert "3 (3.9 GiB, ext4, label root, partlabel Root FS)" in msg
    assert "4 (1000 MiB, xfs, label root, partlabel data)" in msg


def test_resolve_number_without_table():
    with pytest.raises(VirtDiskError, match="it has no partition table; partitions seen: no partition table; "
                                            "whole device: ext4, label data"):
        selector.resolve(("number", 1), whole(), IMG)


# resolve: keys


@pytest.mark.parametrize("text, number", [
    ("LABEL=EFI", 1),
    ("UUID=ABCD-1234", 1),
    ("UUID=0A1B2C3D-1111-2222-3333-444455556666", 3),
    ("PARTLABEL=Root FS", 3),
    ("PARTLABEL=data", 4),
    ("PARTUUID=F02AA57B-321A-3C44-A27E-2E572C418C5F", 3),
    ("partuuid=be7cfa7c-83f4-9345-971a-e16e314a5677", 1),
])
def test_resolve_keys(text, number):
    assert selector.resolve(selector.parse(text), SAMPLE, IMG) == number


def test_resolve_uuid_case_insensitive_on_the_table_side_too():
    table = gpt(part(1, 10, "ext4", uuid="0A1B2C3D-AAAA-BBBB-CCCC-DDDDEEEEFFFF", partuuid="DEADBEEF-01"))
    assert selector.resolve(selector.parse("UUID=0a1b2c3d-aaaa-bbbb-cccc-ddddeeeeffff"), table, IMG) == 1
    assert selector.resolve(selector.parse("PARTUUID=deadbeef-01"), table, IMG) == 1


def test_resolve_labels_are_case_sensitive():
    with pytest.raises(VirtDiskError, match="no partition of .* matches LABEL=efi"):
        selector.resolve(selector.parse("LABEL=efi"), SAMPLE, IMG)


def test_resolve_no_match_lists_partitions():
    with pytest.raises(VirtDiskError) as info:
        selector.resolve(selector.parse("PARTLABEL=home"), SAMPLE, IMG)
    msg = str(info.value)
    assert msg.startswith("no partition of %s matches PARTLABEL=home; partitions seen: " % IMG)
    assert "2 (500 MiB, swap, partlabel swap)" in msg


def test_resolve_several_matches():
    with pytest.raises(VirtDiskError) as info:
        selector.resolve(selector.parse("LABEL=root"), SAMPLE, IMG)
    msg = str(info.value)
    assert "LABEL=root matches several partitions of %s (3, 4)" % IMG in msg
    assert "by number" in msg


def test_resolve_label_and_uuid_on_a_whole_disk_filesystem():
    assert selector.resolve(selector.parse("LABEL=data"), whole(), IMG) == 0
    assert selector.resolve(selector.parse("UUID=0a1b2c3d-1111-2222-3333-444455556666"), whole(), IMG) == 0


def test_resolve_partlabel_on_a_whole_disk_filesystem_matches_nothing():
    with pytest.raises(VirtDiskError, match="no partition of .* matches PARTLABEL=data"):
        selector.resolve(selector.parse("PARTLABEL=data"), whole(), IMG)


# resolve: auto


def test_auto_without_table_is_the_whole_device():
    assert selector.resolve(("auto", None), whole(), IMG) == 0
    assert selector.resolve(("auto", None), Table(None, [], whole={}), IMG) == 0


def test_auto_single_dps_root_for_the_arch():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 300, "ext4", ROOT_X86_64), part(3, 5000, "ext4", LINUX))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 2


def test_auto_dps_root_of_another_arch_is_not_special():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 300, "ext4", ROOT_ARM64), part(3, 5000, "ext4", LINUX))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 3
    assert selector.resolve(("auto", None), table, IMG, arch="aarch64") == 2


def test_auto_dps_root_even_when_its_filesystem_is_unknown():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 300, None, ROOT_X86_64), part(3, 5000, "ext4", LINUX))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 2


def test_auto_two_dps_roots_fall_through_to_largest_linux():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 300, "ext4", ROOT_X86_64), part(3, 800, "xfs", ROOT_X86_64))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 3


def test_auto_dps_only_on_gpt():
    table = Table("dos", [part(1, 100, "vfat", ROOT_X86_64), part(2, 300, "ext4", "0x83")])
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 2


def test_auto_unknown_arch_skips_dps():
    table = gpt(part(1, 300, "ext4", ROOT_X86_64), part(2, 800, "ext4", LINUX))
    assert selector.resolve(("auto", None), table, IMG, arch="mips") == 2


def test_auto_single_mountable_even_if_not_linux():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 500, "swap", SWAP, usage="other"), part(3, 900, None))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 1


def test_auto_swap_is_never_mountable():
    table = gpt(part(1, 500, "swap", SWAP, usage="filesystem"), part(2, 100, "ext4"))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 2


def test_auto_several_mountable_largest_linux():
    table = gpt(part(1, 9000, "vfat", ESP), part(2, 300, "ext4"), part(3, 800, "btrfs"), part(4, 500, "xfs"))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 3


def test_auto_ties_pick_the_lowest_number():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 800, "ext4"), part(3, 800, "xfs"), part(4, 800, "ext2"))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 2


def test_auto_crypto_and_raid_members_are_not_mountable():
    table = gpt(part(1, 800, "crypto_LUKS", usage="crypto"), part(2, 100, "ext4"))
    assert selector.resolve(("auto", None), table, IMG, arch="x86_64") == 2


def test_auto_none_mountable_is_an_error_listing_partitions():
    table = gpt(part(1, 500, "swap", SWAP, usage="other"), part(2, 900, None))
    with pytest.raises(VirtDiskError) as info:
        selector.resolve(("auto", None), table, IMG, arch="x86_64")
    msg = str(info.value)
    assert "partition: auto found no partition with a mountable Linux filesystem on %s" % IMG in msg
    assert "1 (500 MiB, swap); 2 (900 MiB, no filesystem)" in msg


def test_auto_several_non_linux_is_an_error():
    table = gpt(part(1, 100, "vfat", ESP), part(2, 900, "ntfs"))
    with pytest.raises(VirtDiskError, match="found no partition with a mountable Linux filesystem"):
        selector.resolve(("auto", None), table, IMG, arch="x86_64")


def test_auto_empty_table_is_an_error():
    with pytest.raises(VirtDiskError, match="an empty gpt partition table"):
        selector.resolve(("auto", None), gpt(), IMG, arch="x86_64")


def test_lv_selects_a_logical_volume_by_vg_and_lv():
    assert selector.parse("LV=vg0/root") == ("lv", ("vg0", "root"))
    assert selector.parse("lv=ubuntu-vg/ubuntu-lv") == ("lv", ("ubuntu-vg", "ubuntu-lv"))
    for bad in ("LV=root", "LV=/root", "LV=vg0/", "LV=a/b/c"):
        with pytest.raises(VirtDiskError, match="LV= takes <volume group>/<logical volume>"):
            selector.parse(bad)
