# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loop backend: finding the loop devices over an image by the backing
file's device and inode, whoever attached them."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.backends import loop
from ansible_collections.virt.disk.plugins.module_utils.image.image import Image
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host


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
