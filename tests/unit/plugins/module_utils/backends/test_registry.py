# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one rule that chooses a backend, and what the host can run."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends import registry
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.image import Image
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeRunner, host

FILE = Image("/srv/disk.img", "file", (8, 1), 1000, None, 1 << 20, "raw")
BLOCK = Image("/dev/sdb", "block", (0, 6), 300, (8, 16), None, "raw")


class Tools(FakeRunner):
    def __init__(self, installed):
        super(Tools, self).__init__()
        self.installed = installed

    def which(self, name, required=True, purpose=None):
        return "/usr/bin/" + name if name in self.installed else None


@pytest.fixture
def make_host(systree, tmp_path):
    def make(nbd=False, fuse=False, loop=True, tools=("qemu-nbd", "qemu-storage-daemon")):
        dev = tmp_path / "dev"
        dev.mkdir(exist_ok=True)
        for name, present in (("loop-control", loop), ("fuse", fuse)):
            if present:
                (dev / name).write_text("")
            elif (dev / name).exists():
                (dev / name).unlink()
        if nbd:
            systree.nbd("nbd0", 0)
        h = host(systree, tmp_path, runner=Tools(tools))
        h.dev_root = str(dev)
        return h
    return make


def test_argument_choices_are_the_registered_backends():
    assert registry.NAMES == ("loop", "nbd", "fuse", "block")


@pytest.mark.parametrize("image, fmt, kw, expected", [
    (FILE, "raw", {}, "loop"),
    (BLOCK, "raw", {}, "block"),
    (FILE, "qcow2", {"nbd": True, "fuse": True}, "nbd"),
    (FILE, "qcow2", {"fuse": True}, "fuse"),
    (BLOCK, "qcow2", {"nbd": True}, "nbd"),
])
def test_auto(make_host, image, fmt, kw, expected):
    assert registry.choose(image, fmt, "auto", make_host(**kw)).name == expected


def test_auto_without_any_backend_names_every_reason(make_host):
    with pytest.raises(VirtDiskError) as e:
        registry.choose(FILE, "qcow2", "auto", make_host(tools=()))
    msg = str(e.value)
    assert "/srv/disk.img is a qcow2 image" in msg
    assert "nbd: the kernel has no nbd devices" in msg and "fuse: /dev/fuse is missing" in msg
    assert "image_host" in msg


def test_fuse_needs_its_daemon_and_loop(make_host):
    assert "qemu-storage-daemon is not installed" in registry.get("fuse").unusable(make_host(fuse=True, tools=()))
    assert "no loop devices" in registry.get("fuse").unusable(make_host(fuse=True, loop=False))


@pytest.mark.parametrize("image, fmt, wanted, words", [
    (FILE, "qcow2", "loop", "backend loop reads raw images only"),
    (BLOCK, "raw", "loop", "backend loop is for image files; /dev/sdb is a block device"),
    (FILE, "raw", "block", "backend block is for block devices; /srv/disk.img is a file"),
    (BLOCK, "qcow2", "block", "backend block reads raw images only"),
])
def test_asked_for_by_name_it_must_read_the_image(make_host, image, fmt, wanted, words):
    with pytest.raises(VirtDiskError, match=words):
        registry.choose(image, fmt, wanted, make_host())


def test_asked_for_by_name_the_host_is_not_second_guessed(make_host):
    # whether the host can run it shows when it attaches, with the tool's own error
    assert registry.choose(FILE, "qcow2", "nbd", make_host()).name == "nbd"


def test_usable_is_what_the_host_can_run(make_host):
    assert registry.usable(make_host()) == ["loop", "block"]
    assert registry.usable(make_host(nbd=True, fuse=True)) == ["loop", "nbd", "fuse", "block"]


def test_a_find_reads_each_loop_devices_backing_file_once(systree, tmp_path):
    # fuse and loop both look at every loop device's backing file: one read for both; these are other
    # files that exist, so no device is read in full
    img = tmp_path / "disk.img"
    img.write_bytes(b"x")
    st = img.stat()
    image = Image(str(img), "file", (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino, None, 1, "raw")
    for i in range(3):
        other = tmp_path / ("other%d.img" % i)
        other.write_bytes(b"y")
        systree.loop("loop%d" % i, i, backing=str(other))
    h = host(systree, tmp_path)
    read, real = [], h.sysfs.read
    h.sysfs.read = lambda *parts: read.append(parts) or real(*parts)
    assert registry.find(h, image) == []
    assert [p[1] for p in read if p[-1] == "backing_file"] == ["loop0", "loop1", "loop2"]
