# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loop backend: attach a raw file to a loop device with partition
scanning, turn scanning on for a device attached without it, and detach.

What is attached already is found through loop.py.
"""

from __future__ import annotations

import fcntl
import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import blockdev
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel.loop import LO_FLAGS_PARTSCAN, LOOP_GET_STATUS64
from ansible_collections.virt.disk.plugins.module_utils.kernel.loop import LOOP_INFO64, LOOP_SET_STATUS64
from ansible_collections.virt.disk.plugins.module_utils.waits import poll


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


def attach(runner, path, read_only, timeout, sysfs, dev_root="/dev"):
    """Attach the file path to a free loop device with partition scanning; return the device."""
    args = ["losetup", "--find", "--show", "--partscan"]
    if read_only:
        args.append("--read-only")
    args.append(path)
    step = "attach %s to a loop device" % path
    _rc, out, _err = runner.run(args, step=step)
    device = out.strip().splitlines()[-1] if out.strip() else ""
    if not device.startswith("/dev/loop"):
        raise VirtDiskError("losetup did not report a device (output: %r)" % out, step=step)
    name = os.path.basename(device)
    poll(lambda: sysfs.loop_backing_file(name) is not None and os.path.exists(device),
         timeout, "%s to be attached" % device, step="attach")
    return device


def detach(runner, device, timeout, sysfs):
    """Flush and detach a loop device, then wait until the kernel has let it go."""
    name = os.path.basename(device)
    step = "detach %s" % device

    def released():
        return sysfs.loop_backing_file(name) is None

    if released():
        return  # set to clear itself, the device went with its last user (the unmount)
    blockdev.flush_buffers(device)
    rc, out, err = runner.run(["losetup", "--detach", device], step=step, check=False)
    if rc != 0 and not released():
        raise VirtDiskError("losetup --detach exited with %d" % rc, step=step, tool_error=err or out)

    try:
        poll(released, timeout, "%s to be released" % device, step=step)
    except VirtDiskError:
        holders = sysfs.holders(name)
        raise VirtDiskError(
            "the kernel still holds %s after losetup --detach (autoclear pending: "
            "the device is still open%s)" % (device, ", holders: " + ", ".join(holders) if holders else ""),
            step=step)
