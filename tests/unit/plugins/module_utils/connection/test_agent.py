# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection's fast path: a recorded root is used only while the same
mount and its runtime's /proc are there (injected mountinfo and run dir)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.connection import agent
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import image as image_mod
from ansible_collections.virt.disk.plugins.module_utils.state import statefile

LINE = "{id} 1 7:1 / {path} rw,relatime shared:1 - {fstype} {source} rw\n"


def setup(tmp_path, lines, mount_id="30"):
    img = tmp_path / "disk.qcow2"
    img.write_bytes(b"x")
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    run_dir = str(tmp_path / "run")
    statefile.save(image_mod.key_of(str(img)), {"path": str(root), "mount_id": int(mount_id)}, run_dir, agent.KIND)
    info = tmp_path / "mountinfo"
    info.write_text("".join(LINE.format(id=i, path=p, fstype=f, source=s) for i, p, f, s in lines))
    return str(img), str(root), run_dir, str(info)


def test_ready_while_the_recorded_mount_and_proc_are_there(tmp_path):
    root = str(tmp_path / "root")
    img, root, run_dir, info = setup(tmp_path, [(30, root, "ext4", "/dev/loop0p1"),
                                                (31, root + "/proc", "proc", "proc")])
    assert agent.ready(img, run_dir, info) == root


def test_not_ready_without_the_runtime(tmp_path):
    root = str(tmp_path / "root")
    img, _root, run_dir, info = setup(tmp_path, [(30, root, "ext4", "/dev/loop0p1")])
    assert agent.ready(img, run_dir, info) is None


def test_not_ready_when_another_mount_took_the_place(tmp_path):
    root = str(tmp_path / "root")
    img, _root, run_dir, info = setup(tmp_path, [(44, root, "ext4", "/dev/loop3p1"),
                                                 (45, root + "/proc", "proc", "proc")])
    assert agent.ready(img, run_dir, info) is None


def test_not_ready_without_a_record_or_an_image(tmp_path):
    root = str(tmp_path / "root")
    img, _root, _run_dir, info = setup(tmp_path, [(30, root, "ext4", "/dev/loop0p1")])
    assert agent.ready(img, str(tmp_path / "elsewhere"), info) is None
    assert agent.ready(str(tmp_path / "gone.img"), str(tmp_path / "run"), info) is None


def test_params_take_the_connections_and_force_the_tree(tmp_path):
    params = agent._params({"image": "/i.qcow2", "path": None,
                            "params": {"snapshot": True, "opts": None, "bogus": 1}}, state="mounted")
    assert params["snapshot"] is True and params["opts"] == "nodev,nosuid" and "bogus" not in params
    assert (params["layout"], params["runtime"], params["state"]) == ("tree", "chroot", "mounted")
    assert os.path.basename(params["image"]) == "i.qcow2"


def test_a_luks_key_passes_through_and_two_keys_are_refused():
    params = agent._params({"image": "/i.qcow2", "params": {"passphrase": "s3cret", "keyfile": None}})
    assert params["passphrase"] == "s3cret" and params["keyfile"] is None
    with pytest.raises(VirtDiskError, match="virt_disk_passphrase and virt_disk_keyfile are mutually exclusive"):
        agent._params({"image": "/i.qcow2", "params": {"passphrase": "s3cret", "keyfile": "/root/key"}})
