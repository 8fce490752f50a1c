# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils import mounts
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.mountinfo import parse


def _mounts(lines):
    return parse("\n".join(lines) + "\n")


@pytest.fixture
def nested(mountinfo_line):
    """Our image (loop0) root at /mnt/x, its boot at /mnt/x/boot; foreign mounts
    nested under them, a prefix lookalike (/mnt/xy) and the host's own mounts."""
    return _mounts([
        mountinfo_line(22, 1, "259:2", "/", "/dev/nvme0n1p2"),
        mountinfo_line(30, 22, "0:40", "/mnt", "tmpfs", fstype="tmpfs"),
        mountinfo_line(100, 30, "259:8", "/mnt/x", "/dev/loop0p2"),
        mountinfo_line(101, 100, "259:7", "/mnt/x/boot", "/dev/loop0p1"),
        mountinfo_line(102, 100, "0:21", "/mnt/x/proc", "proc", fstype="proc"),
        mountinfo_line(103, 101, "8:17", "/mnt/x/boot/efi", "/dev/sdb1", fstype="vfat"),
        mountinfo_line(104, 30, "8:18", "/mnt/xy", "/dev/sdb2"),
        mountinfo_line(105, 100, "0:50", "/mnt/x/run", "tmpfs", fstype="tmpfs"),
    ])


OURS = [(259, 7), (259, 8), (7, 0)]


def test_mounts_of_by_device_numbers(nested):
    found = mounts.mounts_of(nested, OURS)
    assert [m.path for m in found] == ["/mnt/x", "/mnt/x/boot"]


def test_mounts_of_nothing_matches(nested):
    assert mounts.mounts_of(nested, [(7, 5), (259, 99)]) == []


def test_mounts_of_btrfs_anonymous_device_by_source_node(mountinfo_line):
    all_mounts = _mounts([
        mountinfo_line(100, 22, "0:55", "/mnt/b", "/dev/loop0p1", fstype="btrfs", root="/@"),
        mountinfo_line(101, 22, "0:56", "/mnt/c", "/dev/loop9p1", fstype="btrfs", root="/@"),
    ])
    found = mounts.mounts_of(all_mounts, [(259, 7)], nodes=["/dev/loop0p1"])
    assert [m.path for m in found] == ["/mnt/b"]


def test_mounts_of_btrfs_anonymous_device_by_stat_of_source(mountinfo_line, monkeypatch):
    """A btrfs mount whose source is another name of our node (e.g. a /dev/disk/by-* link)."""
    all_mounts = _mounts([
        mountinfo_line(100, 22, "0:55", "/mnt/b", "/dev/disk/by-label/data", fstype="btrfs"),
        mountinfo_line(101, 22, "0:56", "/mnt/c", "/dev/disk/by-label/other", fstype="btrfs"),
        mountinfo_line(102, 22, "0:57", "/mnt/d", "/dev/gone", fstype="btrfs"),
    ])
    real_stat = os.stat
    fake = {"/dev/disk/by-label/data": os.makedev(259, 7), "/dev/disk/by-label/other": os.makedev(259, 30)}

    class _St(object):
        def __init__(self, rdev):
            self.st_rdev = rdev

    def fake_stat(path, *args, **kwargs):
        if path in fake:
            return _St(fake[path])
        if str(path).startswith("/dev/"):
            raise OSError(2, "No such file or directory")
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(mounts.os, "stat", fake_stat)
    found = mounts.mounts_of(all_mounts, [(259, 7)], nodes=["/dev/loop0p1"])
    assert [m.path for m in found] == ["/mnt/b"]


def test_teardown_order_deepest_first_with_nested_foreign_mounts(nested):
    ours = mounts.mounts_of(nested, OURS)
    order = [m.path for m in mounts.teardown_order(nested, ours)]
    # everything under our mounts, deepest first, never the host's own or /mnt/xy
    assert order[0] == "/mnt/x/boot/efi"
    assert order[-1] == "/mnt/x"
    assert sorted(order[1:-1]) == ["/mnt/x/boot", "/mnt/x/proc", "/mnt/x/run"]
    assert "/mnt/xy" not in order and "/mnt" not in order and "/" not in order


def test_teardown_order_same_depth_later_mounts_first(nested):
    ours = mounts.mounts_of(nested, OURS)
    order = [m.mount_id for m in mounts.teardown_order(nested, ours)]
    assert order == [103, 105, 102, 101, 100]


def test_teardown_order_only_boot(nested):
    boot = [m for m in nested if m.path == "/mnt/x/boot"]
    assert [m.path for m in mounts.teardown_order(nested, boot)] == ["/mnt/x/boot/efi", "/mnt/x/boot"]


def test_teardown_order_stacked_mounts_at_one_path(mountinfo_line):
    """Two partitions of the image mounted on top of each other at one path:
    the one mounted last (visible) comes off first."""
    all_mounts = _mounts([
        mountinfo_line(22, 1, "259:2", "/", "/dev/nvme0n1p2"),
        mountinfo_line(100, 22, "259:7", "/mnt/s", "/dev/loop0p1"),
        mountinfo_line(101, 100, "259:8", "/mnt/s", "/dev/loop0p2"),
        mountinfo_line(102, 101, "259:7", "/mnt/s", "/dev/loop0p1"),
    ])
    ours = mounts.mounts_of(all_mounts, [(259, 7), (259, 8)])
    assert [m.mount_id for m in mounts.teardown_order(all_mounts, ours)] == [102, 101, 100]


def test_teardown_order_nothing_ours(nested):
    assert mounts.teardown_order(nested, []) == []


def test_teardown_order_keeps_foreign_mount_underneath_ours(mountinfo_line):
    all_mounts = _mounts([
        mountinfo_line(22, 1, "259:2", "/", "/dev/nvme0n1p2"),
        mountinfo_line(100, 22, "0:40", "/mnt/x", "tmpfs", fstype="tmpfs"),
        mountinfo_line(101, 100, "259:7", "/mnt/x", "/dev/loop0p1"),
    ])
    ours = mounts.mounts_of(all_mounts, [(259, 7)])
    assert [m.mount_id for m in mounts.teardown_order(all_mounts, ours)] == [101]


def test_teardown_order_skips_mount_hidden_under_ours(mountinfo_line):
    all_mounts = _mounts([
        mountinfo_line(22, 1, "259:2", "/", "/dev/nvme0n1p2"),
        mountinfo_line(100, 22, "0:40", "/mnt/x/sub", "tmpfs", fstype="tmpfs"),
        mountinfo_line(101, 22, "259:7", "/mnt/x", "/dev/loop0p1"),
    ])
    ours = mounts.mounts_of(all_mounts, [(259, 7)])
    assert [m.mount_id for m in mounts.teardown_order(all_mounts, ours)] == [101]


def test_top_mount_at_returns_last_mounted(mountinfo_line):
    all_mounts = _mounts([
        mountinfo_line(100, 22, "259:7", "/mnt/s", "/dev/loop0p1"),
        mountinfo_line(101, 100, "259:8", "/mnt/s", "/dev/loop0p2"),
        mountinfo_line(102, 22, "259:9", "/mnt/t", "/dev/loop0p3"),
    ])
    assert mounts.top_mount_at(all_mounts, "/mnt/s").mount_id == 101
    assert mounts.top_mount_at(all_mounts, "/mnt/t").mount_id == 102
    assert mounts.top_mount_at(all_mounts, "/mnt") is None
    assert mounts.top_mount_at(all_mounts, "/mnt/s/sub") is None


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
