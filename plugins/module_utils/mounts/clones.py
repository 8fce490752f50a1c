# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Copies of one filesystem mounted at once (two copies of one image, a clone
of a mounted image): their filesystems have the same UUID.

ext4 does not care. XFS refuses to mount a UUID it has mounted already
("Filesystem has duplicate UUID") unless the mount says ``nouuid``. btrfs
tells filesystems apart by their fsid: Linux 6.7 and later mount a copy of a
mounted single-device filesystem under a temporary fsid
(/sys/fs/btrfs/features/temp_fsid); older kernels cannot mount it at all.

The UUIDs are read from the superblocks (the XFS and btrfs on-disk formats),
of the device to mount and of the mounted filesystems of the same type, each
mounted device once, by its device number.
"""

from __future__ import annotations

import os
import uuid

from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts

# fstype -> (offset of the magic, the magic, offset of the 16-byte UUID)
SUPERBLOCKS = {
    "xfs": (0, b"XFSB", 32),  # struct xfs_sb: sb_magicnum, then sb_uuid at byte 32
    "btrfs": (0x10000 + 0x40, b"_BHRfS_M", 0x10000 + 0x20),  # the superblock at 64 KiB: csum[32], fsid[16]
}


def fs_uuid(path, fstype):
    """The UUID in the superblock of the fstype filesystem on path, or None
    (another filesystem, or the device cannot be read)."""
    layout = SUPERBLOCKS.get(fstype)
    if layout is None:
        return None
    magic_at, magic, uuid_at = layout
    try:
        with open(path, "rb") as f:
            f.seek(magic_at)
            if f.read(len(magic)) != magic:
                return None
            f.seek(uuid_at)
            raw = f.read(16)
    except (IOError, OSError):
        return None
    return str(uuid.UUID(bytes=raw)) if len(raw) == 16 else None


def twins(mounts, device, fstype, dev_root="/dev", read=fs_uuid):
    """The mounts (one per device) of other devices whose fstype filesystem
    has the UUID of the one on device."""
    if fstype not in SUPERBLOCKS:
        return []
    mine = read(device, fstype)
    if mine is None:
        return []
    try:
        own = os.stat(device).st_rdev
        own = (os.major(own), os.minor(own))
    except OSError:
        own = None
    found, seen = [], set()
    for m in mounts:
        number = (m.major, m.minor)
        if m.fstype != fstype or number == own or number in seen:
            continue
        seen.add(number)
        node = os.path.join(dev_root, "block", "%d:%d" % number)
        if not os.path.exists(node):
            node = m.source
        if read(node, fstype) == mine:
            found.append(m)
    return found


def nouuid_needed(opts, fstype, found):
    """Whether an XFS mount must add nouuid (a twin is mounted and opts lack it)."""
    return fstype == "xfs" and bool(found) and "nouuid" not in mountopts.split(opts)


def btrfs_refusal(fstype, found, temp_fsid):
    """Why a btrfs copy cannot be mounted here (a twin is mounted and the kernel
    has no temp_fsid), or None."""
    if fstype != "btrfs" or not found or temp_fsid:
        return None
    twin = found[0]
    return ("the btrfs filesystem has the UUID of the one mounted from %s at %s (a copy of the same image?), "
            "and this kernel cannot mount two btrfs filesystems with one UUID at once (Linux 6.7 and later can: "
            "temp_fsid); unmount the other copy first" % (twin.source, twin.path))
