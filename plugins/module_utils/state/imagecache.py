# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What was learned from an image file that has not changed since.

/run/virt-disk/cache/<image key>.json keeps the partition table found in the
image and the formats it passed the qemu-img checks as, stamped with the
file's device, inode, size, mtime and ctime. Every write changes mtime and
ctime, and nobody can set ctime back, so while the stamp is the same the
answers are too; a file changed less than a second before it was read (in
the same tick of the file system's clock as a write could be) is not cached.
Unlike the state record it survives unmapping, so mapping an unchanged image
again runs no qemu-img and no probe. Only a hint: a missing, stale or
unreadable cache means the tools run again.
"""

from __future__ import annotations

import os
import time

from ansible_collections.virt.disk.plugins.module_utils.state import statefile
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR

SETTLED_NS = 1000000000  # a file untouched this long is not being written right now
KIND = "cache"  # the statefile store it lives in: /run/virt-disk/cache/<key>.json


def stamp(path):
    """The file's identity and version: [dev, ino, size, mtime_ns, ctime_ns]; None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class ImageCache(object):
    """The cache of one image file (image.kind == 'file'); for anything else it holds nothing."""

    def __init__(self, image, run_dir=RUN_DIR):
        self.key = image.key
        self.run_dir = run_dir
        self.stamp = stamp(image.path) if image.kind == "file" else None
        self.data = {}
        self.dirty = False
        if self.stamp is None:
            return
        data = statefile.load(self.key, run_dir, KIND)
        if data.get("stamp") == self.stamp:
            self.data = data

    @property
    def usable(self):
        if self.stamp is None:
            return False
        newest = max(self.stamp[3], self.stamp[4])
        return time.time_ns() - newest > SETTLED_NS

    def get(self, name):
        return self.data.get(name) if self.usable else None

    def put(self, name, value):
        if not self.usable:
            return
        self.data[name] = value
        self.dirty = True

    def save(self):
        """Write it back if something was added, under the stamp taken before anything was read:
        had the file changed since, the next run sees another stamp and reads it again."""
        if not self.dirty:
            return
        statefile.save(self.key, dict(self.data, stamp=self.stamp), self.run_dir, KIND)
        self.dirty = False
