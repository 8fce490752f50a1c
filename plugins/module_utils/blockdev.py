# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Block device calls done in-process rather than by starting a tool: the
buffer flush before a detach, and the whole-disk lock against udev."""

from __future__ import annotations

import errno
import fcntl
import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

BLKFLSBUF = 0x1261  # what `blockdev --flushbufs` does


def flush_buffers(device):
    """Write out and drop the device's buffers (BLKFLSBUF), as `blockdev --flushbufs`.

    Best effort, like the tool's use before a detach: returns the OSError's
    text on failure, else None."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        return e.strerror
    try:
        fcntl.ioctl(fd, BLKFLSBUF, 0)
    except OSError as e:
        return e.strerror
    finally:
        os.close(fd)
    return None


class DiskLock(object):
    """A BSD lock (flock LOCK_EX) on a whole disk while partitions are changed.

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

        def take():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return False
                raise VirtDiskError("flock failed: %s" % e.strerror, step=step)
            return True

        try:
            poll(take, timeout, "the lock on %s (udev or a partitioning tool holds it)" % device, step=step)
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
