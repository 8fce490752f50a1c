# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""image: an image whose file is gone, and how it is told apart from others."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import image as image_mod
from ansible_collections.virt.disk.plugins.module_utils.state import statefile


def test_missing_image_fails_unless_gone_is_allowed(tmp_path):
    missing = str(tmp_path / "disk.img")
    with pytest.raises(VirtDiskError, match="does not exist"):
        image_mod.inspect(missing)
    gone = image_mod.inspect(missing, allow_gone=True)
    assert (gone.kind, gone.path, gone.former) == ("gone", missing, [])
    assert gone.key.startswith("gone-") and gone.key == image_mod.inspect(missing, allow_gone=True).key


def test_dangling_symlink_is_gone_at_its_target(tmp_path):
    os.symlink(str(tmp_path / "target.img"), str(tmp_path / "link.img"))
    assert image_mod.inspect(str(tmp_path / "link.img"), allow_gone=True).path == str(tmp_path / "target.img")


def test_former_identities_from_the_records_of_that_path(tmp_path):
    run_dir = str(tmp_path / "run")
    statefile.save("file-8-1-1000", {"image": "/srv/disk.img", "device": "/dev/loop3"}, run_dir)
    statefile.save("file-8-1-2000", {"image": "/srv/other.img", "device": "/dev/loop4"}, run_dir)
    statefile.save("file-8-1-3000", {"image": "/srv/disk.img"}, run_dir)  # nothing attached: no identity
    statefile.save("block-7-0", {"image": "/srv/disk.img", "device": "/dev/loop5"}, run_dir)
    records = statefile.load_all(run_dir)
    assert sorted(records) == ["block-7-0", "file-8-1-1000", "file-8-1-2000", "file-8-1-3000"]
    assert image_mod.former_identities("/srv/disk.img", records) == [
        {"key": "file-8-1-1000", "dev": (8, 1), "inode": 1000, "device": "/dev/loop3"}]
    calls = []
    gone = image_mod.inspect("/srv/nothing-here/disk.img", allow_gone=True,
                             records=lambda: calls.append(1) or records)
    assert gone.former == [] and calls == [1]


def test_a_gone_image_backs_loops_over_its_deleted_file_or_recorded_identity():
    gone = image_mod.Image("/srv/disk.img", "gone", None, None, None, None, None,
                           former=[{"key": "file-8-1-1000", "dev": (8, 1), "inode": 1000, "device": "/dev/loop3"}])
    assert gone.key == "file-8-1-1000"
    assert gone.backs_loop((8, 1), 77, "/srv/disk.img (deleted)", "/dev/loop0")
    assert gone.backs_loop((8, 1), 1000, "/srv/renamed.img", "/dev/loop3")
    # the same inode on another device than the one recorded: not ours (the number may be reused)
    assert not gone.backs_loop((8, 1), 1000, "/srv/renamed.img", "/dev/loop4")
    assert not gone.backs_loop((8, 1), 77, "/srv/disk.img", "/dev/loop0")


def test_is_file(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(b"\0" * 4096)
    present = image_mod.inspect(str(path))
    os.link(str(path), str(tmp_path / "hardlink.img"))
    assert present.is_file(str(tmp_path / "hardlink.img"))
    assert not present.is_file(str(tmp_path / "missing.img")) and not present.is_file(None)
    gone = image_mod.inspect(str(tmp_path / "gone.img"), allow_gone=True)
    assert gone.is_file(str(tmp_path / "gone.img"))
    assert gone.is_file(str(tmp_path / "." / "gone.img"))
    assert not gone.is_file(str(path))
