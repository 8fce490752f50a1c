# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kmsg: records of /dev/kmsg, and the ones about one device."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import kmsg


def test_parse_record():
    raw = b"3,1234,5678901,-;XFS (loop1): Filesystem has duplicate UUID 1f7e - can't mount\n SUBSYSTEM=block\n"
    assert kmsg.parse_record(raw) == "XFS (loop1): Filesystem has duplicate UUID 1f7e - can't mount"
    assert kmsg.parse_record(b"no header here\n") is None


def test_about_matches_whole_device_names_only():
    messages = [
        "EXT4-fs (loop0p2): write access unavailable, cannot proceed (try mounting with noload)",
        "EXT4-fs (loop0p21): mounted filesystem",
        "XFS (loop0): Mounting V5 Filesystem",
        "BTRFS error (device dm-3): open_ctree failed",
        "loop0p2: something else",
    ]
    assert kmsg.about(messages, ["loop0p2"]) == [messages[0], messages[4]]
    assert kmsg.about(messages, ["loop0"]) == [messages[2]]
    assert kmsg.about(messages, ["mapper-name", "dm-3"]) == [messages[3]]


def test_names_of_a_mapper_link(tmp_path):
    (tmp_path / "dm-3").write_text("")
    (tmp_path / "mapper").mkdir()
    os.symlink("../dm-3", str(tmp_path / "mapper" / "loop0p2"))
    assert kmsg.names_of(str(tmp_path / "mapper" / "loop0p2")) == ["loop0p2", "dm-3"]
    assert kmsg.names_of("/dev/loop7p1") == ["loop7p1"]


def test_unreadable_log_gives_nothing(tmp_path):
    with kmsg.KernelLog(str(tmp_path / "no-kmsg")) as log:
        assert log.records() == []
        assert log.about("/dev/loop0") == []


def test_log_reads_records_written_after_it_was_opened(tmp_path):
    """A FIFO stands in for /dev/kmsg: each write is one record, as the kernel hands them out."""
    fifo = str(tmp_path / "kmsg")
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # keeps the FIFO open, so the reader does not see EOF early
    try:
        log = kmsg.KernelLog(fifo)
        os.write(writer, b"3,1,100,-;EXT4-fs (loop3p1): VFS: Can't find ext4 filesystem\n")
        assert log.about("/dev/loop3p1") == ["EXT4-fs (loop3p1): VFS: Can't find ext4 filesystem"]
        log.close()
    finally:
        os.close(writer)
