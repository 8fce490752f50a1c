# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the image argument is: a file or a block device, its identity and format.

An image file that no longer exists at its path (deleted or renamed while
attached) can still be taken down: inspect(..., allow_gone=True) returns an
image of kind "gone" that knows the path, and the identities earlier runs
recorded for that path (statefile), so discovery can find what is still
attached from it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import formats
from ansible_collections.virt.disk.plugins.module_utils.kernel.loop import DELETED


class Image(object):
    """The resolved image: path, kind ("file" or "block"), identity, header format."""

    def __init__(self, path, kind, dev, inode, rdev, size, detected, former=()):
        self.path = path
        self.kind = kind
        self.dev = dev
        self.inode = inode
        self.rdev = rdev
        self.size = size
        self.detected = detected
        # kind "gone": what earlier runs recorded for this path, [{"key", "dev", "inode", "device"}]
        self.former = list(former)

    @property
    def key(self):
        """Stable name for locks and state: the same file by any path gives the same key."""
        if self.kind == "block":
            return block_key(self.rdev)
        if self.kind == "gone":
            if len(self.former) == 1:
                return self.former[0]["key"]
            return "gone-" + hashlib.sha256(self.path.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return file_key(self.dev, self.inode)

    def is_file(self, path):
        """True if path names this image: the same device and inode, or, for an
        image that is gone, the path it had (as a helper's command line still says)."""
        if not path:
            return False
        if self.kind == "gone":
            return not os.path.lexists(path) and os.path.realpath(path) == self.path
        try:
            st = os.stat(path)
        except (OSError, TypeError, ValueError):
            return False
        return (os.major(st.st_dev), os.minor(st.st_dev)) == self.dev and st.st_ino == self.inode

    def backs_loop(self, backing_dev, backing_inode, backing_file, device):
        """True if a loop device is over this image, told by LOOP_GET_STATUS64's
        backing device and inode and sysfs' backing_file.

        An image that is gone matches the loop devices whose file the kernel
        shows as "PATH (deleted)", and those an earlier run recorded attaching
        (same device, same backing inode: a renamed file keeps its inode)."""
        if self.kind != "gone":
            return backing_dev == self.dev and backing_inode == self.inode
        if backing_file == self.path + DELETED:
            return True
        return any(f["device"] == device and f["dev"] == backing_dev and f["inode"] == backing_inode
                   for f in self.former)


_FILE_KEY = re.compile(r"^file-(\d+)-(\d+)-(\d+)$")


def block_key(rdev):
    """The key of a block device: its device numbers."""
    return "block-%d-%d" % rdev


def file_key(dev, inode):
    """The key of an image file: its filesystem's device numbers and its inode."""
    return "file-%d-%d-%d" % (dev[0], dev[1], inode)


def key_of(path):
    """The key of the image file at path, or None when nothing is there."""
    try:
        st = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    if stat.S_ISBLK(st.st_mode):
        return block_key((os.major(st.st_rdev), os.minor(st.st_rdev)))
    return file_key((os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino)


def former_identities(path, records):
    """The attachments earlier runs recorded for path: records is {key: record}
    (statefile.load_all), a record names its image and its device."""
    found = []
    for key, record in sorted(records.items()):
        m = _FILE_KEY.match(key)
        if not m or record.get("image") != path or not record.get("device"):
            continue
        found.append({"key": key, "dev": (int(m.group(1)), int(m.group(2))), "inode": int(m.group(3)),
                      "device": record["device"]})
    return found


def inspect(given, allow_gone=False, records=None):
    """Resolve symlinks, check the image exists and is a file or block device, read its header.

    With allow_gone, a path where nothing is returns an image of kind "gone"
    (records: a callable returning statefile.load_all(), for what earlier runs
    attached from it; called only then)."""
    path = os.path.realpath(given)
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ENOENT and allow_gone:
            return Image(path, "gone", None, None, None, None, None, former=former_identities(path, records() if records else {}))
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
