# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Loop devices as the kernel reports them (LOOP_GET_STATUS64), and their partscan flag.

LOOP_GET_STATUS64 tells the backing file's device and inode, by which the
loop backend recognises an image however it was attached; LOOP_SET_STATUS64
turns partition scanning on for a device attached without it.
"""

from __future__ import annotations

import fcntl
import os
import struct

# sysfs shows a loop device's backing file as "PATH (deleted)" once the file is unlinked
DELETED = " (deleted)"
LOOP_SET_STATUS64 = 0x4C04
LOOP_GET_STATUS64 = 0x4C05
LO_FLAGS_READ_ONLY = 1
LO_FLAGS_AUTOCLEAR = 4
LO_FLAGS_PARTSCAN = 8
# struct loop_info64: lo_device, lo_inode, lo_rdevice, lo_offset, lo_sizelimit,
# lo_number, lo_encrypt_type, lo_encrypt_key_size, lo_flags, lo_file_name[64],
# lo_crypt_name[64], lo_encrypt_key[32], lo_init[2]
LOOP_INFO64 = struct.Struct("=QQQQQIIII64s64s32s2Q")


def strip_deleted(path):
    """The backing file's path without the kernel's " (deleted)" mark."""
    return path[:-len(DELETED)] if path and path.endswith(DELETED) else path


def decode_kernel_dev(value):
    """Split a dev_t in the kernel's new_encode_dev() layout into (major, minor)."""
    major = (value & 0xfff00) >> 8
    minor = (value & 0xff) | ((value >> 12) & 0xfff00)
    return major, minor


def unpack_status(raw):
    fields = LOOP_INFO64.unpack(raw)
    return {
        "backing_dev": decode_kernel_dev(fields[0]),
        "backing_inode": fields[1],
        "offset": fields[3],
        "sizelimit": fields[4],
        "flags": fields[8],
        "file_name": fields[9].split(b"\0", 1)[0].decode("utf-8", "surrogateescape"),
    }


def get_status(device):
    """LOOP_GET_STATUS64 of /dev/loopN as a dict, or None when it is not attached."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = fcntl.ioctl(fd, LOOP_GET_STATUS64, bytes(LOOP_INFO64.size))
    except OSError:
        return None
    finally:
        os.close(fd)
    return unpack_status(raw)


def set_partscan(device):
    """Turn on partition scanning of an attached loop device (the kernel rescans)."""
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    try:
        raw = bytearray(fcntl.ioctl(fd, LOOP_GET_STATUS64, bytes(LOOP_INFO64.size)))
        fields = list(LOOP_INFO64.unpack(bytes(raw)))
        if fields[8] & LO_FLAGS_PARTSCAN:
            return False
        fields[8] |= LO_FLAGS_PARTSCAN
        fcntl.ioctl(fd, LOOP_SET_STATUS64, LOOP_INFO64.pack(*fields))
        return True
    finally:
        os.close(fd)
