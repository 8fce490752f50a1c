# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""converge: the no-op fast path loads only the read-only packages."""

from __future__ import annotations

import os
import subprocess
import sys

from ansible_collections.virt.disk.plugins.module_utils.plan import converge
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import host

# What only a run with work to do may load (converge.load_work).
WORK = ("plan.executor", "image.probe", "mappers.", "mounts.mount")
PREFIX = "ansible_collections.virt.disk.plugins.module_utils."


def test_importing_the_modules_loads_nothing_that_works():
    code = ("import sys\n"
            "import ansible_collections.virt.disk.plugins.modules.image_mount\n"
            "import ansible_collections.virt.disk.plugins.modules.image_mount_info\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    # the directory holding ansible_collections/, and whatever this interpreter
    # imports ansible from (ansible-test's own loader does not reach a child)
    root = os.path.abspath(os.path.join(os.path.dirname(converge.__file__), *[os.pardir] * 6))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in sys.path if p]))
    loaded = subprocess.check_output([sys.executable, "-c", code], text=True, env=env).split()
    ours = [m[len(PREFIX):] for m in loaded if m.startswith(PREFIX)]
    assert "plan.converge" in ours and "backends.registry" in ours
    assert [m for m in ours if m.startswith(WORK)] == []


def test_a_run_with_nothing_to_do_never_loads_the_work(systree, tmp_path, monkeypatch):
    def refuse():
        raise AssertionError("load_work() on a run with nothing to do")
    monkeypatch.setattr(converge, "load_work", refuse)
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    params = {"image": str(image), "path": str(tmp_path / "mnt"), "state": "unmapped", "partition": "auto",
              "format": "auto", "backend": "auto", "partition_mapper": "auto", "fstype": None,
              "opts": "nodev,nosuid", "read_only": False, "allow_backing_file": False, "timeout": 2}
    h = host(systree, tmp_path)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "loop-control").write_text("")
    h.dev_root = str(tmp_path / "dev")
    result = converge.converge(params, h, check_mode=False)
    assert result["changed"] is False and result["actions"] == []
    assert result["diff"]["before"]["state"] == "unmapped"


def test_load_work_brings_the_executor_and_the_probe():
    work = converge.load_work()
    assert work.Executor.__module__ == PREFIX + "plan.executor"
    assert work.probe.__name__ == PREFIX + "image.probe"
