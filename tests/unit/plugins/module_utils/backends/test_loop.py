# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loop backend: finding the loop devices over an image by the backing
file's device and inode, whoever attached them."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends import loop
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.image import Image
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeRunner


def find(systree, image, status, dev_root="/dev"):
    return loop.BACKEND.find(Host(None, systree.sysfs, dev_root=dev_root, loop_status=status), image, set())


def _Image(path, dev, inode):
    return Image(path, "file", dev, inode, None, 1 << 20, "raw")


def test_find_attached_by_device_and_inode(systree):
    image = _Image("/srv/disk.img", (8, 1), 1000)
    systree.loop("loop0", 0, backing="/srv/disk.img")
    systree.loop("loop1", 1)
    systree.loop("loop2", 2, backing="/elsewhere/link.img")
    systree.loop("loop3", 3, backing="/srv/other.img")
    status = {
        "/dev/loop0": {"backing_dev": (8, 1), "backing_inode": 1000, "offset": 0, "sizelimit": 0},
        "/dev/loop2": {"backing_dev": (8, 1), "backing_inode": 1000, "offset": 0, "sizelimit": 0},
        "/dev/loop3": {"backing_dev": (8, 1), "backing_inode": 1001, "offset": 0, "sizelimit": 0},
    }
    calls = []

    def fake_status(device):
        calls.append(device)
        return status.get(device)

    found = find(systree, image, fake_status)
    assert [a.name for a in found] == ["loop0", "loop2"]
    # a free device is never opened
    assert "/dev/loop1" not in calls


def test_find_attached_same_inode_on_another_filesystem_is_not_matched(systree):
    image = _Image("/srv/disk.img", (8, 1), 1000)
    systree.loop("loop0", 0, backing="/mnt/usb/disk.img")
    found = find(systree, image, lambda d: {
        "backing_dev": (8, 17), "backing_inode": 1000, "offset": 0, "sizelimit": 0})
    assert found == []


def test_find_attached_falls_back_to_backing_file_when_status_unavailable(systree):
    image = _Image("/srv/disk.img", (8, 1), 1000)
    systree.loop("loop0", 0, backing="/srv/disk.img")
    systree.loop("loop1", 1, backing="/srv/other.img")
    found = find(systree, image, lambda d: None)
    assert [a.name for a in found] == ["loop0"]


def test_find_attached_ignores_offset_and_sizelimit(systree):
    image = _Image("/srv/disk.img", (8, 1), 1000)
    systree.loop("loop0", 0, backing="/srv/disk.img", offset=1048576)
    systree.loop("loop1", 1, backing="/srv/disk.img", sizelimit=4096)
    systree.loop("loop2", 2, backing="/srv/disk.img")
    same = {"backing_dev": (8, 1), "backing_inode": 1000, "offset": 0, "sizelimit": 0}
    ioctl = {"/dev/loop0": same, "/dev/loop1": same,
             # sysfs says 0 but the ioctl knows better: still not ours
             "/dev/loop2": dict(same, offset=512)}
    assert find(systree, image, ioctl.get) == []


def test_find_attached_uses_dev_root(systree):
    image = _Image("/srv/disk.img", (8, 1), 1000)
    systree.loop("loop0", 0, backing="/srv/disk.img")
    seen = []
    find(systree, image, seen.append, "/tmp/fakedev")
    assert seen == ["/tmp/fakedev/loop0"]


def test_find_opens_only_the_devices_whose_backing_file_may_be_the_image(systree, tmp_path):
    # real files, so that the backing files' paths can be looked at (stat) before any device is opened
    img, other = tmp_path / "disk.img", tmp_path / "other.img"
    img.write_bytes(b"x")
    other.write_bytes(b"y")
    st = img.stat()
    image = Image(str(img), "file", (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino, None, 1, "raw")
    systree.loop("loop0", 0, backing=str(other))
    systree.loop("loop1", 1, backing=str(img))
    systree.loop("loop2", 2, backing=str(tmp_path / "gone.img"))  # not visible here: the kernel must tell
    systree.loop("loop3", 3, backing=str(other) + " (deleted)")
    ours = {"backing_dev": image.dev, "backing_inode": image.inode, "offset": 0, "sizelimit": 0}
    opened = []

    def status(device):
        opened.append(device)
        return ours if device in ("/dev/loop1", "/dev/loop2") else dict(ours, backing_inode=image.inode + 1)
    assert [a.name for a in find(systree, image, status)] == ["loop1", "loop2"]
    assert opened == ["/dev/loop1", "/dev/loop2", "/dev/loop3"]
    # image_mount_info's scan reads every device in full
    opened[:] = []
    loop.BACKEND.scan(Host(None, systree.sysfs, loop_status=status), set())
    assert opened == ["/dev/loop0", "/dev/loop1", "/dev/loop2", "/dev/loop3"]


def _attach(tmp_path, monkeypatch, answers, read_only=False, direct_io=True):
    runner = FakeRunner(answers)
    monkeypatch.setattr(loop, "poll", lambda *args, **kwargs: None)
    did = []
    device = loop.attach_file(Host(runner), "/srv/disk.img", read_only, lambda text, undo=None: did.append(text),
                              direct_io=direct_io)
    return device, runner.calls, did


def test_attach_asks_for_direct_io(tmp_path, monkeypatch):
    device, calls, did = _attach(tmp_path, monkeypatch, [(["losetup"], (0, "/dev/loop3\n", ""))], read_only=True)
    assert device == "/dev/loop3"
    assert calls == [["losetup", "--find", "--show", "--partscan", "--read-only", "--direct-io=on", "/srv/disk.img"]]
    assert did == ["attached /srv/disk.img as /dev/loop3 (read-only)"]


def test_attach_without_direct_io_when_not_asked(tmp_path, monkeypatch):
    device, calls, did = _attach(tmp_path, monkeypatch, [(["losetup"], (0, "/dev/loop5\n", ""))], direct_io=False)
    assert device == "/dev/loop5"
    assert calls == [["losetup", "--find", "--show", "--partscan", "/srv/disk.img"]]


def test_attach_without_direct_io_when_losetup_refuses_it(tmp_path, monkeypatch):
    answers = [(["losetup", "--find", "--show", "--partscan", "--direct-io=on"], (1, "", "losetup: set direct io failed")),
               (["losetup"], (0, "/dev/loop4\n", ""))]
    device, calls, did = _attach(tmp_path, monkeypatch, answers)
    assert device == "/dev/loop4"
    assert calls[1] == ["losetup", "--find", "--show", "--partscan", "/srv/disk.img"]
    assert did == ["attached /srv/disk.img as /dev/loop4"]


def test_attach_failing_without_direct_io_too_names_losetup_and_its_error(tmp_path, monkeypatch):
    answers = [(["losetup"], (1, "", "losetup: cannot find an unused loop device"))]
    with pytest.raises(VirtDiskError) as e:
        _attach(tmp_path, monkeypatch, answers)
    assert e.value.step == "attach /srv/disk.img to a loop device"
    assert "cannot find an unused loop device" in e.value.tool_error
