# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.state.locking import DiskLock, Lock

KEY = "file-8-1-1000"


def test_lock_file_under_run_dir(tmp_path):
    with Lock(KEY, 1, "/srv/a.img", run_dir=str(tmp_path)) as lock:
        assert lock.path == str(tmp_path / "locks" / (KEY + ".lock"))
        assert os.path.exists(lock.path)
        assert stat.S_IMODE(os.stat(lock.path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(str(tmp_path / "locks")).st_mode) == 0o700
    assert lock.fd is None


def test_second_lock_on_the_same_key_times_out_quickly(tmp_path):
    with Lock(KEY, 1, "/srv/a.img", run_dir=str(tmp_path)):
        started = time.monotonic()
        with pytest.raises(VirtDiskError) as info:
            Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path)).acquire()
        assert time.monotonic() - started < 1
    msg = str(info.value)
    assert msg.startswith("lock /srv/a.img: timed out after 0.05s")
    assert "another run holds it" in msg


def test_lock_without_create_writes_nothing_and_still_waits_for_a_holder(tmp_path):
    with Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path), create=False) as lock:
        assert lock.fd is None
    assert os.listdir(str(tmp_path)) == []
    with Lock(KEY, 1, "/srv/a.img", run_dir=str(tmp_path)):
        with pytest.raises(VirtDiskError, match="another run holds it"):
            Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path), create=False).acquire()


def test_different_keys_do_not_block(tmp_path):
    with Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path)):
        with Lock("file-8-1-1001", 0.05, "/srv/b.img", run_dir=str(tmp_path)) as other:
            assert other.fd is not None


def test_released_lock_can_be_taken_again(tmp_path):
    first = Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path)).acquire()
    first.release()
    first.release()  # idempotent
    with Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path)) as again:
        assert again.fd is not None


def test_waiter_gets_the_lock_when_the_holder_releases_it(tmp_path):
    holder = Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path)).acquire()
    waiter = Lock(KEY, 2, "/srv/a.img", run_dir=str(tmp_path))
    original = waiter._try
    tries = []

    def try_and_release():
        tries.append(1)
        if len(tries) == 3:
            holder.release()
        return original()
    waiter._try = try_and_release
    waiter.acquire()
    assert len(tries) == 3
    waiter.release()


def test_lock_held_by_another_process_until_it_dies(tmp_path):
    path = tmp_path / "locks" / (KEY + ".lock")
    path.parent.mkdir()
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"locked"
        with pytest.raises(VirtDiskError, match="another run holds it"):
            Lock(KEY, 0.05, "/srv/a.img", run_dir=str(tmp_path)).acquire()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    with Lock(KEY, 1, "/srv/a.img", run_dir=str(tmp_path)) as lock:
        assert lock.fd is not None


def test_lock_dir_cannot_be_created(tmp_path):
    blocker = tmp_path / "run"
    blocker.write_text("a file where the run dir should be")
    with pytest.raises(VirtDiskError, match="cannot create the lock file .*: Not a directory"):
        Lock(KEY, 0.05, "/srv/a.img", run_dir=str(blocker)).acquire()


def test_disk_lock_keeps_others_out_until_released(tmp_path):
    disk = tmp_path / "loop0"
    disk.write_bytes(b"")
    ours, theirs = DiskLock(), DiskLock()
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
    lock = DiskLock()
    lock.hold(str(first), 1)
    lock.hold(str(second), 1)
    other = DiskLock()
    other.hold(str(first), 0.05)  # the first was let go
    lock.hold(None, 1)
    assert lock.device == str(second)
    lock.release()
    other.release()


def test_disk_lock_on_a_missing_device_names_it(tmp_path):
    with pytest.raises(VirtDiskError) as e:
        DiskLock().hold(str(tmp_path / "nbd9"), 1)
    assert "cannot open %s: No such file or directory" % (tmp_path / "nbd9") in e.value.msg
