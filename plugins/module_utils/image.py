# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the image argument is: a file or a block device, its identity and format."""

from __future__ import annotations

import os
import stat

from ansible_collections.virt.disk.plugins.module_utils import formats
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


class Image(object):
    """The resolved image: path, kind ("file" or "block"), identity, header format."""

    def __init__(self, path, kind, dev, inode, rdev, size, detected):
        self.path = path
        self.kind = kind
        self.dev = dev
        self.inode = inode
        self.rdev = rdev
        self.size = size
        self.detected = detected

    @property
    def key(self):
        """Stable name for locks and state: the same file by any path gives the same key."""
        if self.kind == "block":
            return "block-%d-%d" % self.rdev
        return "file-%d-%d-%d" % (self.dev[0], self.dev[1], self.inode)


def inspect(given):
    """Resolve symlinks, check the image exists and is a file or block device, read its header."""
    path = os.path.realpath(given)
    try:
        st = os.stat(path)
    except OSError as e:
        if not os.path.lexists(given):
            raise VirtDiskError("image %s does not exist" % given)
        raise VirtDiskError("image %s cannot be read: %s" % (given, e.strerror))
    if stat.S_ISDIR(st.st_mode):
        raise VirtDiskError("image %s is a directory, not an image file or block device" % given)
    dev = (os.major(st.st_dev), os.minor(st.st_dev))
    if stat.S_ISBLK(st.st_mode):
        rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        return Image(path, "block", dev, st.st_ino, rdev, None, "raw")
    if not stat.S_ISREG(st.st_mode):
        raise VirtDiskError("image %s is neither a regular file nor a block device" % given)
    try:
        head = formats.read_head(path)
    except (IOError, OSError) as e:
        raise VirtDiskError("image %s cannot be read: %s" % (given, e.strerror))
    if not head:
        raise VirtDiskError("image %s is empty" % given)
    return Image(path, "file", dev, st.st_ino, None, st.st_size, formats.detect(head))
