# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""/proc as procs.py reads it, from an injected root."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel.procs import Procs


def test_inside_finds_processes_chrooted_beneath_the_paths(tmp_path):
    proc = tmp_path / "proc"
    table = {"123": {"root": "/mnt/img", "cwd": "/"}, "124": {"root": "/", "cwd": "/mnt/img/var"},
             "125": {"root": "/", "cwd": "/mnt/image2"}, "126": {"root": "/", "cwd": "/"}}
    for pid, links in table.items():
        (proc / pid).mkdir(parents=True)
        (proc / pid / "comm").write_text(u"p%s\n" % pid)
        for name, target in links.items():
            os.symlink(target, str(proc / pid / name))
    (proc / "self").mkdir()
    found = Procs(str(proc)).inside(["/mnt/img/"])
    assert found == [(123, "p123", "/mnt/img")]  # 124 is only cd'd there: the user's, not stopped
    assert Procs(str(proc)).inside(["/"]) == []
