# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-image locks: flock on a file under /run/virt-disk/locks/.

Runs on the same image serialise; runs on different images do not wait on
each other. The lock is polled at millisecond intervals against the timeout,
and it is released by the kernel if the process dies.
"""

from __future__ import annotations

import errno
import fcntl
import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

RUN_DIR = "/run/virt-disk"


class Lock(object):
    def __init__(self, key, timeout, what, run_dir=RUN_DIR):
        self.path = os.path.join(run_dir, "locks", key + ".lock")
        self.timeout = timeout
        self.what = what
        self.fd = None

    def _try(self):
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except (IOError, OSError) as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise

    def acquire(self):
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as e:
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
