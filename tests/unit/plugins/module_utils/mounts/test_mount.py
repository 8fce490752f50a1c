# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.mounts import mount as mounts


class FakeRunner(object):
    def __init__(self, results=None, tools=("fuser",)):
        self.calls = []
        self.results = list(results or [])
        self.tools = tools

    def run(self, args, step=None, check=True):
        self.calls.append(list(args))
        return self.results.pop(0) if self.results else (0, "", "")

    def which(self, name, required=True):
        return "/usr/bin/" + name if name in self.tools else None


@pytest.mark.parametrize("opts, read_only, expected", [
    ("nodev,nosuid", False, "rw,nodev,nosuid"),
    ("nodev,nosuid", True, "ro,nodev,nosuid"),
    ("ro,nodev", False, "ro,nodev"),  # the user asked for a read-only mount of a writable device
    ("rw,noatime", True, "ro,noatime"),
    ("", False, "rw"),
    (None, True, "ro"),
])
def test_mount_arguments(opts, read_only, expected):
    runner = FakeRunner()
    mounts.mount(runner, "/dev/loop0p1", "/mnt/x", "ext4", opts, read_only)
    assert runner.calls == [["mount", "-t", "ext4", "-o", expected, "/dev/loop0p1", "/mnt/x"]]


def test_mount_without_fstype_lets_mount_detect():
    runner = FakeRunner()
    mounts.mount(runner, "/dev/loop0", "/mnt/x", None, "nodev", False)
    assert runner.calls == [["mount", "-o", "rw,nodev", "/dev/loop0", "/mnt/x"]]


def test_umount_busy_names_the_holders():
    # fuser -m prints "kernel" and the PIDs with access letters on stdout; names come from /proc/PID/comm
    pid = os.getpid()
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    runner = FakeRunner([(32, "", "umount: /mnt/x: target is busy."), (0, "kernel  %dc" % pid, "")])
    with pytest.raises(VirtDiskError) as info:
        mounts.umount(runner, "/mnt/x")
    text = str(info.value)
    assert "unmount /mnt/x" in text and "target is busy" in text
    assert "%d (%s)" % (pid, comm) in text
    assert runner.calls[1] == ["fuser", "-m", "/mnt/x"]


def test_umount_success_runs_umount_only():
    runner = FakeRunner([(0, "", "")])
    mounts.umount(runner, "/mnt/x")
    assert runner.calls == [["umount", "/mnt/x"]]
