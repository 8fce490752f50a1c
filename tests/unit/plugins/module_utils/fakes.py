# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fakes of the host for unit tests: its tools (FakeRunner), its
processes (FakeProcs), a Host over a fake sysfs tree (conftest.SysTree), and
the wanted state with a backend by name (want)."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.backends import registry
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Want
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host


class FakeRunner(object):
    """Answers commands from a table of (argv prefix -> (rc, out, err)) and records calls."""

    def __init__(self, answers=None, on_run=None):
        self.answers = answers or []
        self.calls = []
        self.on_run = on_run

    def which(self, name, required=True, purpose=None):
        return "/usr/bin/" + name

    def run(self, args, step, check=True, data=None):
        self.calls.append(list(args))
        rc, out, err = 0, "", ""
        for prefix, answer in self.answers:
            if list(args[:len(prefix)]) == list(prefix):
                rc, out, err = answer
                break
        if self.on_run:
            self.on_run(list(args), rc)
        if check and rc:
            raise VirtDiskError("%s exited with %d" % (args[0], rc), step=step, tool_error=err)
        return rc, out, err


class FakeProcs(object):
    """/proc: pid -> argv; threads maps a thread id to its process."""

    def __init__(self, table, cwd="/", threads=None):
        self.table = table
        self._cwd = cwd
        self.threads = threads or {}

    def argv(self, pid):
        return self.table.get(pid)

    def named(self, name):
        return sorted((pid, argv) for pid, argv in self.table.items() if os.path.basename(argv[0]) == name)

    def resolve(self, pid, path):
        return path if os.path.isabs(path) else os.path.join(self._cwd, path)

    def alive(self, pid):
        return pid in self.table

    def tgid(self, pid):
        return self.threads.get(pid, pid)


def host(systree, tmp_path, runner=None, procs=None, timeout=2, mountinfo=""):
    """A Host over systree: no loop status ioctl, run_dir and an empty
    mountinfo (or the given text) under tmp_path."""
    path = tmp_path / "mountinfo"
    path.write_text(mountinfo)
    return Host(runner or FakeRunner(), systree.sysfs, procs or FakeProcs({}), timeout=timeout,
                run_dir=str(tmp_path / "run"), mountinfo_path=str(path), loop_status=lambda device: None)


def want(state, path=None, number=0, backend="loop", **kwargs):
    """A planner.Want, its backend given by name."""
    return Want(state, path, number, registry.get(backend), **kwargs)
