# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.image.image import Image
from ansible_collections.virt.disk.plugins.module_utils.kernel.procs import Procs
from ansible_collections.virt.disk.plugins.module_utils.state import discovery
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host

BLKEXT = 259
IMAGE = Image("/srv/images/disk.img", "file", (8, 1), 1000, None, 64 << 20, "raw")


def _status(**by_device):
    """A LOOP_GET_STATUS64 stand-in: device -> (dev, inode[, offset])."""
    def status(device):
        entry = by_device.get(device.rsplit("/", 1)[-1])
        if entry is None:
            return None
        dev, inode = entry[:2]
        offset = entry[2] if len(entry) > 2 else 0
        return {"backing_dev": dev, "backing_inode": inode, "offset": offset, "sizelimit": 0,
                "flags": 0, "file_name": ""}
    return status


ISOLATED = {}


@pytest.fixture(autouse=True)
def no_host_state(tmp_path):
    """Never look at this machine's /proc or /run/virt-disk: no helper processes, no state."""
    empty_proc = tmp_path / "proc"
    empty_proc.mkdir()
    ISOLATED.update(procs=Procs(root=str(empty_proc)), run_dir=str(tmp_path / "run"))


def discover(image, sysfs, mountinfo_path, status):
    return discovery.discover(Host(None, sysfs, ISOLATED["procs"], run_dir=ISOLATED["run_dir"],
                                   mountinfo_path=mountinfo_path, loop_status=status), image)


@pytest.fixture
def host(systree, tmp_path, mountinfo_line):
    """loop0: ours (partitions 1, 2; p2 mounted at /mnt/x, p1 at /mnt/x/boot);
    loop1: free; loop2: our file at an offset; loop3: another file;
    loop4: ours attached by hand through a symlink, with kpartx maps, one mounted."""
    systree.loop("loop0", 0, backing="/srv/images/disk.img")
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 0)
    systree.partition("loop0", 2, 10240, 16384, BLKEXT, 1)
    systree.loop("loop1", 1)
    systree.loop("loop2", 2, backing="/srv/images/disk.img", offset=1048576)
    systree.loop("loop3", 3, backing="/srv/images/other.img")
    systree.partition("loop3", 1, 2048, 8192, BLKEXT, 5)
    systree.loop("loop4", 4, backing="/home/me/link-to-disk.img", partscan=False)
    systree.dm("loop4", 0, "loop4p1", "part1-devnode_7:4_x", sectors=8192)
    systree.dm("loop4", 1, "loop4p2", "part2-devnode_7:4_x", sectors=16384)
    info = tmp_path / "mountinfo"
    info.write_text("\n".join([
        mountinfo_line(22, 1, "259:9", "/", "/dev/nvme0n1p2"),
        mountinfo_line(100, 22, "259:1", "/mnt/x", "/dev/loop0p2"),
        mountinfo_line(101, 100, "259:0", "/mnt/x/boot", "/dev/loop0p1", fstype="vfat"),
        mountinfo_line(102, 100, "0:21", "/mnt/x/proc", "proc", fstype="proc"),
        mountinfo_line(103, 22, "259:5", "/mnt/other", "/dev/loop3p1"),
        mountinfo_line(104, 22, "253:1", "/mnt/dm", "/dev/mapper/loop4p2"),
        mountinfo_line(105, 22, "7:2", "/mnt/offset", "/dev/loop2"),
    ]) + "\n")
    status = _status(loop0=((8, 1), 1000), loop2=((8, 1), 1000, 1048576), loop3=((8, 1), 2000),
                     loop4=((8, 1), 1000))
    return systree.sysfs, str(info), status


def test_discover_matches_by_device_and_inode(host):
    sysfs, info, status = host
    obs = discover(IMAGE, sysfs, info, status)
    assert [a.device for a in obs.attachments] == ["/dev/loop0", "/dev/loop4"]
    assert all(a.kind == "loop" for a in obs.attachments)


def test_discover_loop_at_offset_and_other_file_not_matched(host):
    sysfs, info, status = host
    obs = discover(IMAGE, sysfs, info, status)
    names = [a.name for a in obs.attachments]
    assert "loop2" not in names and "loop3" not in names
    paths = [m.path for m in obs.mounts]
    assert "/mnt/offset" not in paths and "/mnt/other" not in paths


def test_discover_hand_attached_loop_through_another_path(host):
    sysfs, info, status = host
    obs = discover(IMAGE, sysfs, info, status)
    att = [a for a in obs.attachments if a.name == "loop4"][0]
    assert att.partscan is False
    assert att.numbers == (7, 4)
    assert sorted(att.nodes) == [1, 2]
    assert att.nodes[2].device == "/dev/mapper/loop4p2"
    assert att.nodes[2].mapper == "kpartx"


def test_discover_partition_nodes_and_mounts(host):
    sysfs, info, status = host
    obs = discover(IMAGE, sysfs, info, status)
    loop0 = obs.attachments[0]
    assert loop0.numbers == (7, 0)
    assert dict((n, v.device) for n, v in loop0.nodes.items()) == {1: "/dev/loop0p1", 2: "/dev/loop0p2"}
    # only mounts of the image's devices, never the foreign proc nested under it
    assert sorted(m.path for m in obs.mounts) == ["/mnt/dm", "/mnt/x", "/mnt/x/boot"]
    assert len(obs.all_mounts) == 7
    assert [m.path for m in obs.mounts_of(loop0)] == ["/mnt/x", "/mnt/x/boot"]
    assert [m.path for m in obs.mounts_of(obs.attachments[1])] == ["/mnt/dm"]


def test_observed_attachment_prefers_the_one_with_mounts(systree, tmp_path, mountinfo_line):
    systree.loop("loop0", 0, backing="/srv/images/disk.img")
    systree.loop("loop1", 1, backing="/srv/images/disk.img")
    systree.partition("loop1", 1, 2048, 8192, BLKEXT, 3)
    info = tmp_path / "mountinfo"
    info.write_text(mountinfo_line(100, 22, "259:3", "/mnt/y", "/dev/loop1p1") + "\n")
    status = _status(loop0=((8, 1), 1000), loop1=((8, 1), 1000))
    obs = discover(IMAGE, systree.sysfs, str(info), status)
    assert [a.name for a in obs.attachments] == ["loop0", "loop1"]
    assert obs.attachment.name == "loop1"


def test_observed_nothing_attached(systree, tmp_path, mountinfo_line):
    systree.loop("loop0", 0)
    info = tmp_path / "mountinfo"
    info.write_text(mountinfo_line(22, 1, "259:9", "/", "/dev/nvme0n1p2") + "\n")
    obs = discover(IMAGE, systree.sysfs, str(info), _status())
    assert obs.attachments == []
    assert obs.attachment is None
    assert obs.mounts == []


def test_node_of_and_mounts_of_node(host):
    sysfs, info, status = host
    obs = discover(IMAGE, sysfs, info, status)
    loop0 = obs.attachments[0]
    whole = obs.node_of(loop0, 0)
    assert (whole.device, whole.major, whole.minor, whole.number) == ("/dev/loop0", 7, 0, 0)
    assert obs.node_of(loop0, 3) is None
    p2 = obs.node_of(loop0, 2)
    assert [m.path for m in obs.mounts_of_node(p2)] == ["/mnt/x"]
    assert obs.mounts_of_node(whole) == []


def test_discover_loop_with_read_only_flag(systree, tmp_path):
    systree.loop("loop0", 0, backing="/srv/images/disk.img", ro=True)
    info = tmp_path / "mountinfo"
    info.write_text("")
    obs = discover(IMAGE, systree.sysfs, str(info), _status(loop0=((8, 1), 1000)))
    assert obs.attachment.read_only is True


def test_discover_block_device(systree, tmp_path, mountinfo_line):
    systree.disk("sdb", 8, 16, ro=True)
    systree.partition("sdb", 1, 2048, 8192, 8, 17)
    systree.dm("sdb", 0, "sdb2", "part2-x")
    info = tmp_path / "mountinfo"
    info.write_text(mountinfo_line(100, 22, "8:17", "/mnt/usb", "/dev/sdb1") + "\n")
    image = Image("/dev/sdb", "block", (0, 6), 300, (8, 16), None, "raw")
    obs = discover(image, systree.sysfs, str(info), _status())
    (att,) = obs.attachments
    assert (att.kind, att.device, att.name, att.read_only, att.numbers) == ("block", "/dev/sdb", "sdb", True, (8, 16))
    assert att.nodes[1].mapper == "kernel" and att.nodes[2].mapper == "kpartx"
    assert [m.path for m in obs.mounts] == ["/mnt/usb"]


def test_discover_btrfs_mount_by_source_node(systree, tmp_path, mountinfo_line):
    systree.loop("loop0", 0, backing="/srv/images/disk.img")
    systree.partition("loop0", 1, 2048, 8192, BLKEXT, 0)
    info = tmp_path / "mountinfo"
    info.write_text(mountinfo_line(100, 22, "0:61", "/mnt/b", "/dev/loop0p1", fstype="btrfs", root="/@") + "\n")
    obs = discover(IMAGE, systree.sysfs, str(info), _status(loop0=((8, 1), 1000)))
    assert [m.path for m in obs.mounts] == ["/mnt/b"]
    assert obs.mounts_of_node(obs.node_of(obs.attachment, 1))[0].path == "/mnt/b"
