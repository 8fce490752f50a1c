# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sfdisk --json and blkid parsing, and probe() with a fake runner.

The fixtures are real output of util-linux 2.38 (sfdisk, blkid -p) for images
built with sfdisk, mkfs.ext4 and mkswap; only device paths were rewritten.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import parttable, probe

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
MIB = 1 << 20
NO_TABLE = "sfdisk: /srv/images/whole.img: does not contain a recognized partition table\n"


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return f.read()


class FakeRunner(object):
    """Answers sfdisk with canned output and blkid -p from the fixture of the
    filesystem at the requested offset, in whichever output format is asked."""

    def __init__(self, sfdisk, filesystems=None, blkid_rc=None):
        self.sfdisk = sfdisk
        self.filesystems = filesystems or {}
        self.blkid_rc = blkid_rc
        self.calls = []

    def run(self, args, step=None, check=True):
        self.calls.append(list(args))
        if args[0] == "sfdisk":
            return self.sfdisk
        assert args[0] == "blkid"
        if self.blkid_rc is not None:
            return self.blkid_rc
        offset = int(args[args.index("-O") + 1]) if "-O" in args else None
        name = self.filesystems.get(offset)
        if name is None:
            return (2, "", "")
        fmt = args[args.index("-o") + 1]
        assert fmt in ("export", "udev"), "fake blkid has no %s output" % fmt
        return (0, fixture("blkid-%s.%s" % (name, fmt)), "")


# parse_sfdisk_json


def test_gpt_with_names_and_image_name_ending_in_a_digit():
    table = probe.parse_sfdisk_json(fixture("sfdisk-gpt-disk2.json"), "/srv/images/disk2")
    assert table.label == "gpt"
    assert table.disk_id == "0e3c2a8e-9b44-4f0b-a9d8-2c3e1a6b7f10"
    assert [p["number"] for p in table.partitions] == [1, 2]
    p1, p2 = table.partitions
    assert (p1["start"], p1["size"]) == (1 * MIB, 4 * MIB)
    assert (p2["start"], p2["size"]) == (5 * MIB, 8 * MIB)
    assert p1["type"] == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    assert p2["type"] == "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"
    assert p1["partlabel"] == "EFI System" and p2["partlabel"] == "root x86-64"
    assert p1["partuuid"] == "be7cfa7c-83f4-9345-971a-e16e314a5677"
    assert all(p[k] is None for p in table.partitions for k in ("fstype", "label", "uuid", "usage"))


def test_gpt_sector_size_4096():
    table = probe.parse_sfdisk_json(fixture("sfdisk-gpt-4k-nbd0.json"), "/dev/nbd0")
    p1, p2 = table.partitions
    assert (p1["start"], p1["size"]) == (1 * MIB, 4 * MIB)
    assert (p2["start"], p2["size"]) == (5 * MIB, 8 * MIB)


def test_mbr_disk_id_partuuid_extended_and_logical():
    table = probe.parse_sfdisk_json(fixture("sfdisk-dos-extended.json"), "/dev/loop7")
    assert table.label == "dos"
    assert table.disk_id == "0xdeadbeef"
    assert [p["number"] for p in table.partitions] == [1, 2, 5, 6]
    assert [p["partuuid"] for p in table.partitions] == ["deadbeef-01", "deadbeef-02", "deadbeef-05", "deadbeef-06"]
    assert [p["type"] for p in table.partitions] == ["0x83", "0x5", "0x83", "0x83"]
    assert all(p["partlabel"] is None for p in table.partitions)
    p5 = table.get(5)
    assert (p5["start"], p5["size"]) == (12288 * 512, 4096 * 512)
    assert table.get(3) is None


@pytest.mark.parametrize("sfdisk_type, expected", [
    ("83", "0x83"), ("c", "0xc"), ("ef", "0xef"), ("f", "0xf"), ("85", "0x85"), ("7", "0x7"),
])
def test_mbr_type_normalised(sfdisk_type, expected):
    text = ('{"partitiontable": {"label": "dos", "id": "0x0000abcd", "device": "/dev/sda", "unit": "sectors",'
            ' "partitions": [{"node": "/dev/sda1", "start": 2048, "size": 2048, "type": "%s"}]}}' % sfdisk_type)
    (part,) = probe.parse_sfdisk_json(text, "/dev/sda").partitions
    assert part["type"] == expected
    assert part["partuuid"] == "0000abcd-01"


def test_node_numbers_of_disks_without_a_trailing_digit():
    text = ('{"partitiontable": {"label": "gpt", "id": "X", "device": "/srv/vm", "unit": "sectors",'
            ' "partitions": [{"node": "/srv/vm10", "start": 34, "size": 1, "type": "T"},'
            ' {"node": "/srv/vm2", "start": 35, "size": 1, "type": "T"}]}}')
    table = probe.parse_sfdisk_json(text, "/srv/vm")
    assert [p["number"] for p in table.partitions] == [2, 10]
    # sectorsize absent (older sfdisk): 512
    assert table.get(10)["start"] == 34 * 512


def test_empty_gpt():
    text = '{"partitiontable": {"label": "gpt", "id": "X", "device": "/dev/loop0", "unit": "sectors"}}'
    table = probe.parse_sfdisk_json(text, "/dev/loop0")
    assert (table.label, table.partitions) == ("gpt", [])
    assert parttable.describe(table) == "an empty gpt partition table"


# probe


def test_probe_gpt_fills_filesystems_at_each_offset():
    runner = FakeRunner((0, fixture("sfdisk-gpt-disk2.json"), ""), {1 * MIB: "swap", 5 * MIB: "fs1"})
    table = probe.probe(runner, "/srv/images/disk2")
    p1, p2 = table.partitions
    assert (p1["fstype"], p1["label"], p1["usage"]) == ("swap", "swp", "other")
    assert (p2["fstype"], p2["uuid"], p2["usage"]) == ("ext4", "2f1c4c5e-7f0c-4d2b-9a3e-1b2c3d4e5f60", "filesystem")
    assert runner.calls[0] == ["sfdisk", "--json", "/srv/images/disk2"]
    blkid = runner.calls[1:]
    assert [c[:2] for c in blkid] == [["blkid", "-p"], ["blkid", "-p"]]
    assert blkid[1][blkid[1].index("-O") + 1] == str(5 * MIB)
    assert blkid[1][blkid[1].index("-S") + 1] == str(8 * MIB)
    assert blkid[1][-1] == "/srv/images/disk2"


def test_probe_skips_extended_partitions_and_tolerates_empty_ones():
    runner = FakeRunner((0, fixture("sfdisk-dos-extended.json"), ""), {2048 * 512: "fs1", 18432 * 512: "swap"})
    table = probe.probe(runner, "/dev/loop7")
    offsets = [int(c[c.index("-O") + 1]) for c in runner.calls if c[0] == "blkid"]
    assert 10240 * 512 not in offsets
    assert len(offsets) == 3
    assert [table.get(n)["fstype"] for n in (1, 2, 5, 6)] == ["ext4", None, None, "swap"]


def test_probe_whole_disk_filesystem_without_table():
    runner = FakeRunner((1, "", NO_TABLE), {None: "swap"})
    table = probe.probe(runner, "/srv/images/whole.img")
    assert table.label is None and table.partitions == []
    assert table.whole == {"fstype": "swap", "label": "swp", "uuid": "9b9c7d6e-aaaa-bbbb-cccc-ddddeeeeffff",
                           "usage": "other"}
    blkid = runner.calls[1]
    assert "-O" not in blkid and blkid[-1] == "/srv/images/whole.img"
    assert parttable.describe(table) == "no partition table; whole device: swap, label swp"


def test_probe_blank_disk():
    table = probe.probe(FakeRunner((1, "", NO_TABLE), {}), "/srv/images/whole.img")
    assert table.label is None
    assert table.whole == {"fstype": None, "label": None, "uuid": None, "usage": None}
    assert parttable.describe(table) == "no partition table; whole device: no filesystem"


def test_probe_sfdisk_failure_names_the_tool_error():
    runner = FakeRunner((1, "", "sfdisk: cannot open /srv/x.img: Permission denied\n"))
    with pytest.raises(VirtDiskError) as info:
        probe.probe(runner, "/srv/x.img")
    text = str(info.value)
    assert "read the partition table of /srv/x.img" in text
    assert "Permission denied" in text


def test_probe_unparsable_sfdisk_output():
    with pytest.raises(VirtDiskError, match="cannot parse the output of sfdisk --json"):
        probe.probe(FakeRunner((0, "{not json", "")), "/srv/x.img")


def test_probe_blkid_failure_raises_with_its_error():
    runner = FakeRunner((0, fixture("sfdisk-gpt-disk2.json"), ""), blkid_rc=(4, "", "blkid: error: /x: usage\n"))
    with pytest.raises(VirtDiskError, match="blkid exited with 4.*usage"):
        probe.probe(runner, "/srv/images/disk2")


def test_probe_blkid_rc0_without_output_is_no_filesystem():
    runner = FakeRunner((0, fixture("sfdisk-gpt-disk2.json"), ""), blkid_rc=(0, "\n", ""))
    table = probe.probe(runner, "/srv/images/disk2")
    assert [p["fstype"] for p in table.partitions] == [None, None]


def test_probe_label_with_space_and_backslash():
    runner = FakeRunner((0, fixture("sfdisk-gpt-disk2.json"), ""), {5 * MIB: "fs1"})
    table = probe.probe(runner, "/srv/images/disk2")
    assert table.get(2)["label"] == "my disk\\x"


def test_probe_non_ascii_label():
    runner = FakeRunner((0, fixture("sfdisk-gpt-disk2.json"), ""), {5 * MIB: "fs2"})
    table = probe.probe(runner, "/srv/images/disk2")
    assert table.get(2)["label"] == u"dür$a\"b"


# describe and human_size


def test_describe_lists_partitions():
    runner = FakeRunner((0, fixture("sfdisk-gpt-disk2.json"), ""), {1 * MIB: "swap"})
    table = probe.probe(runner, "/srv/images/disk2")
    assert parttable.describe(table) == ("1 (4 MiB, swap, label swp, partlabel EFI System); "
                                         "2 (8 MiB, no filesystem, partlabel root x86-64)")
    assert parttable.describe(None) == "nothing (the image could not be probed)"


@pytest.mark.parametrize("size, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"),
                                        (4 * MIB, "4 MiB"), (3 << 30, "3 GiB"), (5 << 40, "5 TiB"),
                                        (2048 << 40, "2048 TiB")])
def test_human_size(size, text):
    assert parttable.human_size(size) == text
