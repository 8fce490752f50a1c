# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The image cache: the partition table and the passed checks, reused while the image file is unchanged."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.image import inspect
from ansible_collections.virt.disk.plugins.module_utils.plan import converge
from ansible_collections.virt.disk.plugins.module_utils.state import imagecache
from ansible_collections.virt.disk.plugins.module_utils.state.imagecache import ImageCache

SFDISK = json.dumps({"partitiontable": {"label": "gpt", "id": "X", "device": "D", "unit": "sectors",
                                        "sectorsize": 512, "partitions": [
                                            {"node": "D1", "start": 2048, "size": 4096,
                                             "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
                                             "uuid": "AA", "name": "root"}]}})


class CountingRunner(object):
    def which(self, name, required=True, purpose=None):
        return name

    def __init__(self, info=None):
        self.calls = []
        self.info = info or {"format": "qcow2", "format-specific": {"type": "qcow2", "data": {"corrupt": False}}}

    def run(self, args, step, check=True, data=None):
        self.calls.append(args[0] if args[0] != "qemu-img" else "qemu-img " + args[1])
        if args[0] == "sfdisk":
            return 0, SFDISK, ""
        if args[:2] == ["qemu-img", "info"]:
            return 0, json.dumps(self.info), ""
        if args[:2] == ["qemu-img", "check"]:
            return 0, "No errors were found on the image.\n", ""
        return 0, "ID_FS_TYPE=ext4\nID_FS_USAGE=filesystem\nID_FS_LABEL_ENC=root\n", ""


class FakeEnv(object):
    def __init__(self, info=None):
        self.runner = CountingRunner(info)


@pytest.fixture
def settled(monkeypatch):
    """Files written by a test are a moment old; let them count as settled (the rule has its own test)."""
    monkeypatch.setattr(imagecache, "SETTLED_NS", -1)


def _settled_image(tmp_path, name="disk.img"):
    path = tmp_path / name
    path.write_bytes(b"\0" * 4096)
    return inspect(str(path))


def _rewrite(image):
    """What a write through any backend does: the same size, a new mtime and ctime."""
    with open(image.path, "r+b") as f:
        f.write(b"\1")
    st = os.stat(image.path)
    os.utime(image.path, ns=(st.st_atime_ns, st.st_mtime_ns - 60 * 10 ** 9))  # even with mtime set back


@pytest.mark.usefixtures("settled")
def test_probe_is_cached_until_the_file_changes(tmp_path):
    image = _settled_image(tmp_path)
    env = FakeEnv()
    run_dir = str(tmp_path / "run")
    cache = ImageCache(image, run_dir)
    first = converge.probe_table(env, image.path, cache)
    cache.save()
    assert env.runner.calls == ["sfdisk", "blkid"]
    again = converge.probe_table(env, image.path, ImageCache(image, run_dir))
    assert env.runner.calls == ["sfdisk", "blkid"]  # no tool ran: the cached table was used
    assert again.get(1)["label"] == first.get(1)["label"] == "root"
    _rewrite(image)  # ctime moves on even when mtime is set back
    converge.probe_table(env, image.path, ImageCache(image, run_dir))
    assert env.runner.calls == ["sfdisk", "blkid", "sfdisk", "blkid"]


def test_a_file_written_just_now_is_not_cached(tmp_path):
    path = tmp_path / "fresh.img"
    path.write_bytes(b"\0" * 4096)
    image = inspect(str(path))
    env = FakeEnv()
    run_dir = str(tmp_path / "run")
    cache = ImageCache(image, run_dir)
    converge.probe_table(env, image.path, cache)
    cache.save()
    converge.probe_table(env, image.path, ImageCache(image, run_dir))
    assert env.runner.calls == ["sfdisk", "blkid", "sfdisk", "blkid"]
    assert not os.path.exists(os.path.join(run_dir, "cache"))


@pytest.mark.usefixtures("settled")
def test_checks_are_skipped_while_the_image_is_unchanged(tmp_path):
    image = _settled_image(tmp_path, "disk.qcow2")
    env = FakeEnv()
    run_dir = str(tmp_path / "run")
    cache = ImageCache(image, run_dir)
    converge.check_image(env.runner, image, "qcow2", False, cache)
    cache.save()
    assert env.runner.calls == ["qemu-img info", "qemu-img check"]
    converge.check_image(env.runner, image, "qcow2", False, ImageCache(image, run_dir))
    assert env.runner.calls == ["qemu-img info", "qemu-img check"]
    converge.check_image(env.runner, image, "vpc", False, ImageCache(image, run_dir))  # another format: checked
    assert env.runner.calls[2:] == ["qemu-img info", "qemu-img check"]
    _rewrite(image)
    converge.check_image(env.runner, image, "qcow2", False, ImageCache(image, run_dir))
    assert env.runner.calls[4:] == ["qemu-img info", "qemu-img check"]


@pytest.mark.usefixtures("settled")
def test_an_image_with_a_backing_file_is_checked_every_time(tmp_path):
    image = _settled_image(tmp_path, "overlay.qcow2")
    env = FakeEnv({"format": "qcow2", "backing-filename": "base.qcow2", "full-backing-filename": "/x/base.qcow2"})
    run_dir = str(tmp_path / "run")
    with pytest.raises(VirtDiskError, match="allow_backing_file"):
        converge.check_image(env.runner, image, "qcow2", False, ImageCache(image, run_dir))
    for _run in range(2):
        cache = ImageCache(image, run_dir)
        converge.check_image(env.runner, image, "qcow2", True, cache)
        cache.save()
    assert env.runner.calls == ["qemu-img info"] + ["qemu-img info", "qemu-img check"] * 2
    with pytest.raises(VirtDiskError, match="allow_backing_file"):
        converge.check_image(env.runner, image, "qcow2", False, ImageCache(image, run_dir))


@pytest.mark.usefixtures("settled")
def test_a_block_device_is_never_cached(tmp_path):
    class Block(object):
        kind = "block"
        key = "block-7-0"
        path = "/dev/loop0"
    cache = ImageCache(Block(), str(tmp_path))
    cache.put("table", {"x": 1})
    cache.save()
    assert cache.get("table") is None
    assert not os.path.exists(str(tmp_path / "cache"))
