# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""mountopts: wanted options against a mount, and what it takes to change them."""

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.kernel.mountinfo import parse
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts


def mount(opts="rw,nosuid,nodev,relatime", fstype="ext4"):
    return parse("100 22 259:1 / /mnt/x %s shared:1 - %s /dev/loop0p2 rw\n" % (opts, fstype))[0]


def test_wanted_splits_flags_from_filesystem_options_and_drops_boot_only_ones():
    flags, fs_options = mountopts.wanted("defaults,nofail,x-systemd.automount,comment=x,noexec,data=journal,nouuid",
                                         False)
    assert flags == dict(mountopts.DEFAULT_FLAGS, noexec=True)
    assert fs_options == ["data=journal", "nouuid"]


def test_read_only_wins_over_rw_in_opts():
    assert mountopts.wanted("rw,nodev", True)[0]["ro"] is True
    assert mountopts.wanted("ro", False)[0]["ro"] is True


@pytest.mark.parametrize("options, atime", [
    ("rw,relatime", "relatime"), ("rw,noatime", "noatime"), ("rw", "strictatime"),
])
def test_live_atime(options, atime):
    assert mountopts.live(options)["atime"] == atime


def test_render_is_in_a_fixed_order():
    flags, fs_options = mountopts.wanted("nodev,nosuid,noatime,nouuid", True)
    assert mountopts.render(flags, fs_options) == "ro,nosuid,nodev,noatime,nouuid"


@pytest.mark.parametrize("opts, read_only, fstype, record, expect", [
    ("nodev,nosuid", False, None, None, None),
    ("nosuid,nodev,relatime", False, None, None, None),
    ("nodev,nosuid", True, None, None, "remount"),
    ("nodev,nosuid,noexec", False, None, None, "remount"),
    ("nodev", False, None, None, "remount"),
    ("nodev,nosuid,strictatime", False, None, None, "remount"),
    ("nodev,nosuid", False, "xfs", None, "mount"),
    ("nodev,nosuid", False, "auto", None, None),
    # filesystem options: only against what was recorded
    ("nodev,nosuid,data=journal", False, None, None, None),
    ("nodev,nosuid,data=journal", False, None, {"opts": "nodev,nosuid"}, "mount"),
    ("nodev,nosuid", False, None, {"opts": "data=journal,nodev,nosuid"}, "mount"),
    ("nodev,nosuid,data=journal", False, None, {"opts": "data=journal,nosuid,nodev"}, None),
    ("nodev,nosuid,noexec,data=journal", False, None, {"opts": "data=journal,nosuid,nodev"}, "remount"),
])
def test_compare(opts, read_only, fstype, record, expect):
    assert mountopts.compare(mount(), record, opts, fstype, read_only) == expect


def test_describe_adds_recorded_filesystem_options():
    assert mountopts.describe(mount("ro,noexec")) == "ro,noexec,strictatime"
    assert mountopts.describe(mount(), {"opts": "nodev,data=journal"}) == "rw,nosuid,nodev,relatime,data=journal"
