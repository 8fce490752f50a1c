# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probe cache in the state record: reused while the image file is unchanged."""

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils import converge
from ansible_collections.virt.disk.plugins.module_utils.image import inspect

SFDISK = json.dumps({"partitiontable": {"label": "gpt", "id": "X", "device": "D", "unit": "sectors",
                                        "sectorsize": 512, "partitions": [
                                            {"node": "D1", "start": 2048, "size": 4096,
                                             "type": "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
                                             "uuid": "AA", "name": "root"}]}})


class CountingRunner(object):
    def __init__(self):
        self.calls = []

    def which(self, name, required=True, purpose=None):
        return name

    def run(self, args, step, check=True, data=None):
        self.calls.append(args[0])
        if args[0] == "sfdisk":
            return 0, SFDISK, ""
        return 0, "ID_FS_TYPE=ext4\nID_FS_USAGE=filesystem\nID_FS_LABEL_ENC=root\n", ""


class FakeEnv(object):
    def __init__(self):
        self.runner = CountingRunner()


def test_probe_is_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(b"\0" * 4096)
    image = inspect(str(path))
    env = FakeEnv()
    record = {}
    first = converge._probe(env, image, image.path, record)
    assert env.runner.calls == ["sfdisk", "blkid"]
    again = converge._probe(env, image, image.path, json.loads(json.dumps(record)))
    assert env.runner.calls == ["sfdisk", "blkid"]  # no tool ran: the cached table was used
    assert again.get(1)["label"] == first.get(1)["label"] == "root"
    st = os.stat(str(path))
    os.utime(str(path), ns=(st.st_atime_ns, st.st_mtime_ns + 1000000))  # a write through any backend
    converge._probe(env, image, image.path, record)
    assert env.runner.calls == ["sfdisk", "blkid", "sfdisk", "blkid"]
