# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils import blockdev
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


def test_flush_of_a_missing_device_reports_the_error(tmp_path):
    assert blockdev.flush_buffers(str(tmp_path / "loop99")) == "No such file or directory"


def test_flush_of_something_not_a_block_device_reports_the_error(tmp_path):
    plain = tmp_path / "file"
    plain.write_bytes(b"x")
    assert blockdev.flush_buffers(str(plain)) == "Inappropriate ioctl for device"


def test_disk_lock_keeps_others_out_until_released(tmp_path):
    disk = tmp_path / "loop0"
    disk.write_bytes(b"")
    ours, theirs = blockdev.DiskLock(), blockdev.DiskLock()
    ours.hold(str(disk), 1)
    ours.hold(str(disk), 1)  # held already: nothing to do
    with pytest.raises(VirtDiskError) as e:
        theirs.hold(str(disk), 0.05)
    assert "udev or a partitioning tool holds it" in e.value.msg
    assert e.value.step == "lock %s against udev" % disk
    ours.release()
    theirs.hold(str(disk), 1)
    assert theirs.device == str(disk)
    theirs.release()
    assert theirs.device is None


def test_disk_lock_moves_to_another_device_and_ignores_none(tmp_path):
    first, second = tmp_path / "loop0", tmp_path / "loop1"
    first.write_bytes(b"")
    second.write_bytes(b"")
    lock = blockdev.DiskLock()
    lock.hold(str(first), 1)
    lock.hold(str(second), 1)
    other = blockdev.DiskLock()
    other.hold(str(first), 0.05)  # the first was let go
    lock.hold(None, 1)
    assert lock.device == str(second)
    lock.release()
    other.release()


def test_disk_lock_on_a_missing_device_names_it(tmp_path):
    with pytest.raises(VirtDiskError) as e:
        blockdev.DiskLock().hold(str(tmp_path / "nbd9"), 1)
    assert "cannot open %s: No such file or directory" % (tmp_path / "nbd9") in e.value.msg
