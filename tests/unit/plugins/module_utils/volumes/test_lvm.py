# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""volumes.lvm: the isolating lvm2 configuration, the report, and the dm tables made from it."""

from __future__ import annotations

import json

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.volumes import lvm
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeRunner

MIB = 1 << 20
PVS = {"report": [{"pv": [{"pv_name": "/dev/loop0p2", "vg_name": "vg0", "pe_start": str(MIB)},
                          {"pv_name": "/dev/loop0p3", "vg_name": "vg0", "pe_start": str(MIB)}]}]}


def seg(lv, segtype, start, size, ranges, stripes=1, stripe_size=0, attr="-wi-------"):
    return {"vg_name": "vg0", "vg_uuid": "VGUU-ID", "vg_extent_size": str(4 * MIB), "lv_name": lv,
            "lv_uuid": "LVUU-ID-" + lv, "lv_attr": attr, "segtype": segtype, "seg_start_pe": str(start),
            "seg_size_pe": str(size), "seg_pe_ranges": ranges, "stripes": str(stripes),
            "stripe_size": str(stripe_size)}


def report(*segments):
    return {"report": [{"seg": list(segments)}]}


class Host(object):
    def __init__(self, runner):
        self.runner = runner


def read(*segments):
    """lvm.read over the answers of pvs and lvs; (volume groups, the commands run)."""
    runner = FakeRunner([(["pvs"], (0, json.dumps(PVS), "")), (["lvs"], (0, json.dumps(report(*segments)), ""))])
    return lvm.read(Host(runner), ["/dev/loop0p2", "/dev/loop0p3"], "/srv/disk.img"), runner.calls


def test_the_config_accepts_the_images_devices_alone():
    text = lvm.config(["/dev/loop0p2", "/dev/mapper/virtdisk-file-8-1-9-p3"])
    assert 'filter=["a|^/dev/loop0p2$|", "a|^/dev/mapper/virtdisk\\-file\\-8\\-1\\-9\\-p3$|", "r|.*|"]' in text
    assert "global_filter=" in text and "use_devicesfile=0" in text and 'hints="none"' in text


def test_every_lvm_command_is_limited_and_read_only():
    _vgs, calls = read(seg("root", "linear", 0, 10, "/dev/loop0p2:0-9"))
    assert [c[0] for c in calls] == ["pvs", "lvs"]
    for call in calls:
        assert "--readonly" in call and call[call.index("--config") + 1] == lvm.config(["/dev/loop0p2", "/dev/loop0p3"])


def test_a_linear_volume_in_two_segments_on_two_pvs():
    vgs, _calls = read(seg("root", "linear", 0, 10, "/dev/loop0p2:5-14"), seg("root", "linear", 10, 2, "/dev/loop0p3:0-1"))
    extent = 4 * MIB // 512
    assert lvm.table(vgs, "vg0", "root", "disk.img") == [
        "0 %d linear /dev/loop0p2 %d" % (10 * extent, 2048 + 5 * extent),
        "%d %d linear /dev/loop0p3 2048" % (10 * extent, 2 * extent)]


def test_a_striped_volume():
    vgs, _calls = read(seg("data", "striped", 0, 4, "/dev/loop0p2:0-1 /dev/loop0p3:0-1", stripes=2,
                           stripe_size=64 * 1024))
    extent = 4 * MIB // 512
    assert lvm.table(vgs, "vg0", "data", "disk.img") == [
        "0 %d striped 2 128 /dev/loop0p2 2048 /dev/loop0p3 2048" % (4 * extent)]


@pytest.mark.parametrize("segtype,attr,word", [("thin", "Vwi-a-tz--", "thin"), ("raid1", "rwi-a-r---", "raid1"),
                                               ("linear", "owi-a-s---", "linear")])
def test_what_cannot_be_made_safely_fails_saying_what_it_is(segtype, attr, word):
    vgs, _calls = read(seg("pool", segtype, 0, 4, "/dev/loop0p2:0-3", attr=attr))
    with pytest.raises(VirtDiskError) as e:
        lvm.table(vgs, "vg0", "pool", "disk.img")
    assert "a %s volume (attributes %s)" % (word, attr) in str(e.value)


def test_a_missing_vg_or_lv_or_pv_names_what_there_is():
    vgs, _calls = read(seg("root", "linear", 0, 10, "/dev/loop0p2:0-9"), seg("swap", "linear", 0, 1, "[unknown]:0-0"))
    with pytest.raises(VirtDiskError, match="no volume group rhel on the image; volume groups seen: vg0"):
        lvm.table(vgs, "rhel", "root", "disk.img")
    with pytest.raises(VirtDiskError, match="no such volume; volumes of vg0: root, swap"):
        lvm.table(vgs, "vg0", "home", "disk.img")
    with pytest.raises(VirtDiskError, match="physical volume .unknown. is missing"):
        lvm.table(vgs, "vg0", "swap", "disk.img")


def test_filesystems_probe_each_linear_volume_at_its_first_extent():
    runner = FakeRunner([(["pvs"], (0, json.dumps(PVS), "")),
                         (["lvs"], (0, json.dumps(report(seg("root", "linear", 0, 8, "/dev/loop0p2:2-9"),
                                                         seg("thin", "thin", 0, 8, ""),
                                                         seg("wide", "striped", 0, 8, "/dev/loop0p2:10-13 /dev/loop0p3:0-3",
                                                             stripes=2, stripe_size=65536))), "")),
                         (["blkid"], (0, "ID_FS_TYPE=ext4\nID_FS_UUID=r007\nID_FS_LABEL=root\n", ""))])
    host = Host(runner)
    vgs = lvm.read(host, ["/dev/loop0p2", "/dev/loop0p3"], "/img")
    found = lvm.filesystems(host, vgs, "/img")
    assert [(f["lv"], f["fstype"], f["uuid"], f["label"]) for f in found] == [
        ("root", "ext4", "r007", "root"), ("thin", None, None, None), ("wide", None, None, None)]
    blkid = [c for c in runner.calls if c[0] == "blkid"]
    # pe_start 1 MiB + extent 2 x 4 MiB; 8 extents long
    assert blkid == [["blkid", "-p", "-o", "udev", "-O", str(MIB + 2 * 4 * MIB), "-S", str(8 * 4 * MIB), "/dev/loop0p2"]]
    assert found[0]["vg_uuid"] == "VGUU-ID" and found[0]["lv_uuid"] == "LVUU-ID-root"
