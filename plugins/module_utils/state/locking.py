# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Locks, all flock(LOCK_EX) polled at millisecond intervals against the
timeout and released by the kernel if the process dies.

Lock: per image, on a file under /run/virt-disk/locks/. Runs on the same image
serialise; runs on different images do not wait on each other.
DiskLock: on a whole disk while its partitions change, so udev keeps out.
"""

from __future__ import annotations

import errno
import fcntl
import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

RUN_DIR = "/run/virt-disk"


def _take(fd):
    """flock LOCK_EX without waiting: True when taken, False while another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (IOError, OSError) as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


class Lock(object):
    def __init__(self, key, timeout, what, run_dir=RUN_DIR, create=True):
        self.path = os.path.join(run_dir, "locks", key + ".lock")
        self.timeout = timeout
        self.what = what
        self.create = create  # False: lock only if the lock file exists (check mode writes nothing)
        self.fd = None

    def _try(self):
        return _take(self.fd)

    def acquire(self):
        try:
            if self.create:
                os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            else:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            if not self.create:
                return self  # nobody has locked this image yet: nothing to wait for
            raise VirtDiskError("cannot create the lock file %s: %s" % (self.path, e.strerror),
                                step="lock %s" % self.what)
        poll(self._try, self.timeout, "the lock on %s (another run holds it)" % self.what,
             step="lock %s" % self.what)
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False


class DiskLock(object):
    """A BSD lock on a whole disk while partitions are changed.

    This is systemd's block device locking protocol: while a tool holds it, udev
    neither probes the disk and its partitions nor re-reads its partition
    table. Without it, udev reacts to a helper closing the new device after
    writing (qemu-nbd does, on connect) by re-reading the table, which removes
    and re-adds every partition, and the partition just found may be missing a
    moment later; and a partition udev holds open to probe cannot be deleted.

    Holding it keeps the device open, so it must be released before a detach.
    """

    def __init__(self):
        self.device = None
        self._fd = None

    def hold(self, device, timeout):
        """Take the lock on device (dropping one held on another device); wait
        while udev or another tool holds it, up to timeout seconds."""
        if self.device == device or not device:
            return
        self.release()
        step = "lock %s against udev" % device
        try:
            fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as e:
            raise VirtDiskError("cannot open %s: %s" % (device, e.strerror), step=step)
        try:
            poll(lambda: _take(fd), timeout, "the lock on %s (udev or a partitioning tool holds it)" % device,
                 step=step)
        except OSError as e:
            os.close(fd)
            raise VirtDiskError("flock failed: %s" % e.strerror, step=step)
        except VirtDiskError:
            os.close(fd)
            raise
        self.device = device
        self._fd = fd

    def release(self):
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self.device = None
