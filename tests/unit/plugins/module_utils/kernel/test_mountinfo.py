# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

# Lines as a systemd host shows them: shared/master optional fields, a loop
# partition mounted under /mnt, a btrfs subvolume with an anonymous 0:NN device.
REAL = b"""\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
61 22 0:35 /@home /home rw,relatime shared:30 - btrfs /dev/mapper/cr_home rw,space_cache=v2,subvolid=257,subvol=/@home
310 22 259:7 / /mnt/img rw,nosuid,nodev,relatime shared:170 - ext4 /dev/loop0p1 rw
311 310 7:0 / /mnt/img/boot ro,nosuid,nodev,relatime shared:171 master:170 - vfat /dev/loop0 ro,fmask=0022
312 22 0:52 / /run/user/1000 rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=1632088k,mode=700,uid=1000
"""


def test_parse_real_lines():
    mounts = mountinfo.parse(REAL)
    assert [m.path for m in mounts] == ["/", "/proc", "/sys", "/home", "/mnt/img", "/mnt/img/boot", "/run/user/1000"]
    img = mounts[4]
    assert (img.mount_id, img.parent_id, img.major, img.minor) == (310, 22, 259, 7)
    assert img.root == "/"
    assert img.options == "rw,nosuid,nodev,relatime"
    assert (img.fstype, img.source, img.super_options) == ("ext4", "/dev/loop0p1", "rw")
    assert not img.read_only


def test_parse_several_optional_fields_before_separator():
    boot = mountinfo.parse(REAL)[5]
    assert (boot.major, boot.minor) == (7, 0)
    assert (boot.fstype, boot.source, boot.super_options) == ("vfat", "/dev/loop0", "ro,fmask=0022")
    assert boot.read_only


def test_parse_no_optional_fields():
    tmp = mountinfo.parse(REAL)[6]
    assert (tmp.fstype, tmp.source) == ("tmpfs", "tmpfs")
    assert tmp.super_options == "rw,size=1632088k,mode=700,uid=1000"


def test_parse_btrfs_anonymous_device_and_subvolume_root():
    home = mountinfo.parse(REAL)[3]
    assert (home.major, home.minor) == (0, 35)
    assert home.root == "/@home"
    assert home.source == "/dev/mapper/cr_home"
    assert "subvol=/@home" in home.super_options


def test_parse_accepts_text():
    assert [m.path for m in mountinfo.parse(REAL.decode())] == [m.path for m in mountinfo.parse(REAL)]


def test_parse_missing_super_options_field():
    (m,) = mountinfo.parse(b"40 22 7:1 / /mnt/x rw shared:1 - ext4 /dev/loop1")
    assert (m.fstype, m.source, m.super_options) == ("ext4", "/dev/loop1", "")


@pytest.mark.parametrize("escaped, plain", [
    (b"/mnt/my\\040disk", "/mnt/my disk"),
    (b"/mnt/tab\\011bed", "/mnt/tab\tbed"),
    (b"/mnt/new\\012line", "/mnt/new\nline"),
    (b"/mnt/back\\134slash", "/mnt/back\\slash"),
    (b"/mnt/\\134040not-a-space", "/mnt/\\040not-a-space"),
    (b"/mnt/a\\040b\\011c\\012d\\134e", "/mnt/a b\tc\nd\\e"),
])
def test_escaped_paths(escaped, plain):
    line = b"40 22 7:1 / " + escaped + b" rw,relatime shared:9 - ext4 /dev/loop1p1 rw\n"
    (m,) = mountinfo.parse(line)
    assert m.path == plain
    assert m.source == "/dev/loop1p1"


def test_escaped_source_and_root():
    line = b"40 22 0:77 /sub\\040dir /mnt/x rw shared:9 - fuse.sshfs me@host:/my\\040files rw,user_id=0\n"
    (m,) = mountinfo.parse(line)
    assert m.root == "/sub dir"
    assert m.source == "me@host:/my files"
    assert m.fstype == "fuse.sshfs"


def test_non_ascii_utf8_path_is_decoded():
    # the kernel does not escape non-ASCII bytes
    line = u"40 22 7:1 / /mnt/données/日本 rw - ext4 /dev/loop1p1 rw\n".encode("utf-8")
    (m,) = mountinfo.parse(line)
    assert m.path == u"/mnt/données/日本"


def test_invalid_utf8_path_round_trips_to_the_same_bytes():
    line = b"40 22 7:1 / /mnt/\xff\xfe rw - ext4 /dev/loop1p1 rw\n"
    (m,) = mountinfo.parse(line)
    assert os.fsencode(m.path) == b"/mnt/\xff\xfe"


def test_unescape_leaves_non_octal_backslashes():
    assert mountinfo.unescape(b"a\\040b") == b"a b"
    assert mountinfo.unescape(b"a\\08b") == b"a\\08b"
    assert mountinfo.unescape(b"a\\x20b") == b"a\\x20b"


def test_malformed_lines_are_skipped():
    data = b"garbage\n\n1 2 3\n" + b"40 22 7:1 / /mnt/x rw shared:1 no separator here at all\n" + REAL
    assert len(mountinfo.parse(data)) == len(mountinfo.parse(REAL))


def test_read_file(tmp_path):
    path = tmp_path / "mountinfo"
    path.write_bytes(REAL)
    assert [m.source for m in mountinfo.read(str(path))][4:6] == ["/dev/loop0p1", "/dev/loop0"]


def test_read_fixture_file():
    mounts = mountinfo.read(os.path.join(FIXTURES, "mountinfo-nested"))
    by_path = dict((m.path, m) for m in mounts)
    assert by_path["/mnt/vm root"].source == "/dev/loop3p2"
    assert (by_path["/mnt/vm root/boot/efi"].major, by_path["/mnt/vm root/boot/efi"].minor) == (259, 11)


def test_carriage_return_in_path_is_not_a_line_break():
    line = b"40 22 7:1 / /mnt/a\rb rw - ext4 /dev/loop1p1 rw\n"
    mounts = mountinfo.parse(line)
    assert [m.path for m in mounts] == ["/mnt/a\rb"]


@pytest.mark.parametrize("path, top, below", [
    ("/mnt/x", "/mnt/x", True),
    ("/mnt/x/boot", "/mnt/x", True),
    ("/mnt/x/boot", "/mnt/x/", True),
    ("/mnt/xy", "/mnt/x", False),
    ("/mnt", "/mnt/x", False),
    ("/anything", "/", True),
])
def test_is_below(path, top, below):
    assert mountinfo.is_below(path, top) is below


# questions about the mount table

def _mounts(lines):
    return mountinfo.parse("\n".join(lines) + "\n")


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
    found = mountinfo.mounts_of(nested, OURS)
    assert [m.path for m in found] == ["/mnt/x", "/mnt/x/boot"]


def test_mounts_of_nothing_matches(nested):
    assert mountinfo.mounts_of(nested, [(7, 5), (259, 99)]) == []


def test_mounts_of_btrfs_anonymous_device_by_source_node(mountinfo_line):
    all_mounts = _mounts([
        mountinfo_line(100, 22, "0:55", "/mnt/b", "/dev/loop0p1", fstype="btrfs", root="/@"),
        mountinfo_line(101, 22, "0:56", "/mnt/c", "/dev/loop9p1", fstype="btrfs", root="/@"),
    ])
    found = mountinfo.mounts_of(all_mounts, [(259, 7)], nodes=["/dev/loop0p1"])
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

    monkeypatch.setattr(mountinfo.os, "stat", fake_stat)
    found = mountinfo.mounts_of(all_mounts, [(259, 7)], nodes=["/dev/loop0p1"])
    assert [m.path for m in found] == ["/mnt/b"]


def test_teardown_order_deepest_first_with_nested_foreign_mounts(nested):
    ours = mountinfo.mounts_of(nested, OURS)
    order = [m.path for m in mountinfo.teardown_order(nested, ours)]
    # everything under our mounts, deepest first, never the host's own or /mnt/xy
    assert order[0] == "/mnt/x/boot/efi"
    assert order[-1] == "/mnt/x"
    assert sorted(order[1:-1]) == ["/mnt/x/boot", "/mnt/x/proc", "/mnt/x/run"]
    assert "/mnt/xy" not in order and "/mnt" not in order and "/" not in order


def test_teardown_order_same_depth_later_mounts_first(nested):
    ours = mountinfo.mounts_of(nested, OURS)
    order = [m.mount_id for m in mountinfo.teardown_order(nested, ours)]
    assert order == [103, 105, 102, 101, 100]


def test_teardown_order_only_boot(nested):
    boot = [m for m in nested if m.path == "/mnt/x/boot"]
    assert [m.path for m in mountinfo.teardown_order(nested, boot)] == ["/mnt/x/boot/efi", "/mnt/x/boot"]


def test_teardown_order_stacked_mounts_at_one_path(mountinfo_line):
    """Two partitions of the image mounted on top of each other at one path:
    the one mounted last (visible) comes off first."""
    all_mounts = _mounts([
        mountinfo_line(22, 1, "259:2", "/", "/dev/nvme0n1p2"),
        mountinfo_line(100, 22, "259:7", "/mnt/s", "/dev/loop0p1"),
        mountinfo_line(101, 100, "259:8", "/mnt/s", "/dev/loop0p2"),
        mountinfo_line(102, 101, "259:7", "/mnt/s", "/dev/loop0p1"),
    ])
    ours = mountinfo.mounts_of(all_mounts, [(259, 7), (259, 8)])
    assert [m.mount_id for m in mountinfo.teardown_order(all_mounts, ours)] == [102, 101, 100]


def test_teardown_order_nothing_ours(nested):
    assert mountinfo.teardown_order(nested, []) == []


@pytest.mark.parametrize("foreign_path, ours_parent", [
    ("/mnt/x", 100),      # a foreign mount at /mnt/x with ours stacked on it
    ("/mnt/x/sub", 22),   # a foreign mount at /mnt/x/sub, hidden by ours mounted over /mnt/x later
], ids=["foreign-underneath-ours", "foreign-hidden-under-ours"])
def test_teardown_order_leaves_foreign_mounts_below_ours(mountinfo_line, foreign_path, ours_parent):
    all_mounts = _mounts([
        mountinfo_line(22, 1, "259:2", "/", "/dev/nvme0n1p2"),
        mountinfo_line(100, 22, "0:40", foreign_path, "tmpfs", fstype="tmpfs"),
        mountinfo_line(101, ours_parent, "259:7", "/mnt/x", "/dev/loop0p1"),
    ])
    ours = mountinfo.mounts_of(all_mounts, [(259, 7)])
    assert [m.mount_id for m in mountinfo.teardown_order(all_mounts, ours)] == [101]


def test_top_mount_at_returns_last_mounted(mountinfo_line):
    all_mounts = _mounts([
        mountinfo_line(100, 22, "259:7", "/mnt/s", "/dev/loop0p1"),
        mountinfo_line(101, 100, "259:8", "/mnt/s", "/dev/loop0p2"),
        mountinfo_line(102, 22, "259:9", "/mnt/t", "/dev/loop0p3"),
    ])
    assert mountinfo.top_mount_at(all_mounts, "/mnt/s").mount_id == 101
    assert mountinfo.top_mount_at(all_mounts, "/mnt/t").mount_id == 102
    assert mountinfo.top_mount_at(all_mounts, "/mnt") is None
    assert mountinfo.top_mount_at(all_mounts, "/mnt/s/sub") is None


def test_escaped_bytes_of_one_character_and_plain_lines_beside_them():
    # a line with an escape is taken apart as bytes: \303\251 is one character (é), written as two escapes
    data = (b"40 22 7:1 / /mnt/caf\\303\\251 rw - ext4 /dev/loop1 rw\n"
            b"41 22 7:2 / /mnt/caf\xc3\xa9 rw - ext4 /dev/loop2 rw\n"
            b"42 22 7:3 / /mnt/bad\xff rw - ext4 /dev/loop3 rw\n")
    first, second, third = mountinfo.parse(data)
    assert first.path == second.path == "/mnt/caf\u00e9"
    assert third.path.encode("utf-8", "surrogateescape") == b"/mnt/bad\xff"
    assert (first.minor, second.minor, third.minor, third.source) == (1, 2, 3, "/dev/loop3")
