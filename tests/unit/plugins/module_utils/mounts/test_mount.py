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


class QuietLog(object):
    """A kernel log that said nothing (kmsg.KernelLog's interface)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def about(self, device):
        return []


REFUSED = (32, "", "mount: /mnt/x: cannot mount /dev/loop0p1 read-only.")


@pytest.mark.parametrize("fstype, option", [("ext4", "noload"), ("ext3", "noload"), ("xfs", "norecovery"),
                                            ("btrfs", "rescue=nologreplay")])
def test_read_only_mount_retries_without_replay(fstype, option):
    # the kernel refuses to replay a journal onto a read-only device; without replay it mounts
    runner = FakeRunner([REFUSED, (0, "", "")])
    used = mounts.mount(runner, "/dev/loop0p1", "/mnt/x", fstype, "nodev", True, kernel_log=QuietLog)
    assert used == [option]
    assert runner.calls == [["mount", "-t", fstype, "-o", "ro,nodev", "/dev/loop0p1", "/mnt/x"],
                            ["mount", "-t", fstype, "-o", "ro,nodev," + option, "/dev/loop0p1", "/mnt/x"]]


def test_read_only_mount_without_fstype_retries_by_the_probed_type():
    # the type comes from the partition probe the run already made; no tool is started for it
    runner = FakeRunner([REFUSED, (0, "", "")])
    used = mounts.mount(runner, "/dev/loop0p1", "/mnt/x", None, "nodev", True, kernel_log=QuietLog,
                        probed_fstype="xfs")
    assert used == ["norecovery"]
    assert runner.calls[1] == ["mount", "-o", "ro,nodev,norecovery", "/dev/loop0p1", "/mnt/x"]
    assert len(runner.calls) == 2


def test_a_clean_mount_needs_no_retry():
    runner = FakeRunner()
    assert mounts.mount(runner, "/dev/loop0p1", "/mnt/x", "ext4", "nodev", True, kernel_log=QuietLog) == []
    assert len(runner.calls) == 1


@pytest.mark.parametrize("fstype, read_only, opts", [
    ("ext4", False, "nodev"),  # writable: the kernel replays; the failure is something else
    ("vfat", True, "nodev"),  # no journal
    ("ext4", True, "nodev,noload"),  # already without replay
])
def test_no_retry_where_replay_is_not_the_question(fstype, read_only, opts):
    runner = FakeRunner([REFUSED])
    with pytest.raises(VirtDiskError):
        mounts.mount(runner, "/dev/loop0p1", "/mnt/x", fstype, opts, read_only, kernel_log=QuietLog)
    assert len(runner.calls) == 1


def test_fallbacks_one_by_one_then_together():
    # a read-only XFS copy: nouuid alone fails (dirty log), norecovery alone fails (the UUID), both work
    runner = FakeRunner([REFUSED, REFUSED, REFUSED, (0, "", "")])
    used = mounts.mount(runner, "/dev/loop0p1", "/mnt/x", "auto", "nodev", True, kernel_log=QuietLog,
                        probed_fstype="xfs", fallbacks=["nouuid"])
    assert used == ["nouuid", "norecovery"]
    tried = [c[4] for c in runner.calls]
    assert tried == ["ro,nodev", "ro,nodev,nouuid", "ro,nodev,norecovery", "ro,nodev,nouuid,norecovery"]


def test_a_fallback_given_already_is_not_tried_again():
    runner = FakeRunner([REFUSED])
    with pytest.raises(VirtDiskError):
        mounts.mount(runner, "/dev/loop0p1", "/mnt/x", "xfs", "nodev,nouuid", False, kernel_log=QuietLog,
                     fallbacks=["nouuid"])
    assert len(runner.calls) == 1


def test_a_failed_retry_reports_the_first_failure():
    runner = FakeRunner([REFUSED, (32, "", "mount: /mnt/x: wrong fs type, bad option.")])
    with pytest.raises(VirtDiskError) as info:
        mounts.mount(runner, "/dev/loop0p1", "/mnt/x", "ext4", "nodev", True, kernel_log=QuietLog)
    assert "cannot mount /dev/loop0p1 read-only" in str(info.value)
    assert len(runner.calls) == 2
