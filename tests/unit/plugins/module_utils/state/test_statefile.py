# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils.state import statefile

KEY = "file-8-1-1000"


def test_round_trip(tmp_path):
    record = {"device": "/dev/loop0", "mappers": {"1": "partx", "2": "kpartx"}}
    statefile.save(KEY, record, run_dir=str(tmp_path))
    assert statefile.load(KEY, run_dir=str(tmp_path)) == record
    path = tmp_path / "state" / (KEY + ".json")
    assert json.loads(path.read_text()) == record
    assert os.listdir(str(tmp_path / "state")) == [KEY + ".json"]  # no temporary file left


def test_save_replaces(tmp_path):
    statefile.save(KEY, {"device": "/dev/loop0"}, run_dir=str(tmp_path))
    statefile.save(KEY, {"device": "/dev/loop3"}, run_dir=str(tmp_path))
    assert statefile.load(KEY, run_dir=str(tmp_path)) == {"device": "/dev/loop3"}


def test_keys_are_separate(tmp_path):
    statefile.save(KEY, {"device": "/dev/loop0"}, run_dir=str(tmp_path))
    statefile.save("file-8-1-1001", {"device": "/dev/loop1"}, run_dir=str(tmp_path))
    assert statefile.load(KEY, run_dir=str(tmp_path))["device"] == "/dev/loop0"
    assert statefile.load("file-8-1-1001", run_dir=str(tmp_path))["device"] == "/dev/loop1"


def test_drop(tmp_path):
    statefile.save(KEY, {"device": "/dev/loop0"}, run_dir=str(tmp_path))
    statefile.drop(KEY, run_dir=str(tmp_path))
    assert statefile.load(KEY, run_dir=str(tmp_path)) == {}
    statefile.drop(KEY, run_dir=str(tmp_path))  # dropping twice is fine
    assert not (tmp_path / "state" / (KEY + ".json")).exists()


def test_losing_or_damaging_the_file_is_harmless(tmp_path):
    assert statefile.load(KEY, run_dir=str(tmp_path)) == {}
    state = tmp_path / "state"
    state.mkdir()
    (state / (KEY + ".json")).write_text("{truncated")
    assert statefile.load(KEY, run_dir=str(tmp_path)) == {}
    (state / (KEY + ".json")).write_text("[1, 2]")
    assert statefile.load(KEY, run_dir=str(tmp_path)) == {}


def test_save_where_it_cannot_write_is_silent(tmp_path):
    blocker = tmp_path / "run"
    blocker.write_text("not a directory")
    statefile.save(KEY, {"device": "/dev/loop0"}, run_dir=str(blocker))
    assert statefile.load(KEY, run_dir=str(blocker)) == {}
