# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The loop backend: a raw image file on a loop device with partition scanning.

An attached device is matched to the image by the backing file's device and
inode (LOOP_GET_STATUS64), at offset 0 with no size limit, so a device
attached by hand through another path or a symlink is still found.
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment, Backend
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import blockdev
from ansible_collections.virt.disk.plugins.module_utils.kernel.loop import DELETED, strip_deleted
from ansible_collections.virt.disk.plugins.module_utils.waits import poll


class Loop(Backend):
    name = "loop"
    loop_device = True

    def unusable(self, host):
        if host.sysfs.exists("module", "loop") or os.path.exists(host.dev("loop-control")):
            return None
        return "the kernel has no loop devices (modprobe loop)"

    def scan(self, host, claimed, loops=None, may_be=None):
        """Every attached loop device not claimed yet; with may_be(backing_file), only those it lets through
        are read in full (the other attributes and LOOP_GET_STATUS64)."""
        found = []
        for name, backing in host.sysfs.attached_loops() if loops is None else loops:
            device = host.dev(name)
            if device in claimed or (may_be is not None and not may_be(backing)):
                continue
            info = host.sysfs.loop_info(name)
            if info is None or info["offset"] or info["sizelimit"]:
                continue
            status = host.loop_status(device)
            if status is not None and (status["offset"] or status["sizelimit"]):
                continue
            backing = info["backing_file"]
            claimed.add(device)
            found.append(Attachment(self, device, info["read_only"], image=strip_deleted(backing), fmt="raw",
                                    partscan=info["partscan"], backing_file=backing,
                                    backing=(status["backing_dev"], status["backing_inode"]) if status else None))
        return found

    def find(self, host, image, claimed, loops=None):
        """The attachments of image. Each device's backing file is looked at first (one sysfs read and a
        stat), so a host with many unrelated loop devices costs little more than a quiet one."""
        return [att for att in self.scan(host, claimed, loops, lambda backing: may_be(image, backing))
                if self.matches(att, image)]

    def matches(self, att, image):
        if att.backing is None:
            # the kernel would not tell (the device could not be opened): its file's path must do
            return att.backing_file in (image.path, image.path + DELETED)
        return image.backs_loop(att.backing[0], att.backing[1], att.backing_file, att.device)

    def attach(self, host, image, fmt, read_only, allow_backing_file, did, snapshot=False):
        return attach_file(host, image.path, read_only, did), None

    def detach(self, host, att, did):
        detach(host, att.device)
        did("detached %s" % att.device)
        return None


def may_be(image, backing_file):
    """False only when a loop device's backing file (as sysfs shows it) is surely not image: an image file
    and a backing file that is there under that path and is another file. A deleted backing file, one this
    mount namespace cannot see, or an image that is a block device or gone are left to the full check
    (the device and inode LOOP_GET_STATUS64 reports)."""
    if image.kind != "file" or backing_file.endswith(DELETED) or not os.path.exists(backing_file):
        return True
    return image.is_file(backing_file)


def attach_file(host, path, read_only, did, direct_io=True):
    """Attach the file path to a free loop device with partition scanning; return the device.

    With direct_io the loop device reads and writes the file without caching its pages a second time under
    its own cache (measured in `make bench` section e); writes still reach the file when the device is
    flushed, as buffered ones do. The kernel drops to buffered I/O where the file's filesystem cannot do
    direct I/O; where losetup fails with it, the attach is tried once more without. The FUSE backend asks
    for none: over qemu-storage-daemon's FUSE export (7.2), ext4 read its group descriptors as garbage."""
    args = ["losetup", "--find", "--show", "--partscan"]
    if read_only:
        args.append("--read-only")
    step = "attach %s to a loop device" % path
    out = None
    if direct_io:
        rc, out, _err = host.runner.run(args + ["--direct-io=on", path], step=step, check=False)
        if rc != 0:
            out = None
    if out is None:
        # without direct I/O (or failing for another reason, which this run reports as usual)
        _rc, out, _err = host.runner.run(args + [path], step=step)
    device = out.strip().splitlines()[-1] if out.strip() else ""
    if not device.startswith("/dev/loop"):
        raise VirtDiskError("losetup did not report a device (output: %r)" % out, step=step)
    did("attached %s as %s%s" % (path, device, " (read-only)" if read_only else ""),
        lambda: detach(host, device))
    name = os.path.basename(device)
    poll(lambda: host.sysfs.loop_backing_file(name) is not None and os.path.exists(device),
         host.timeout, "%s to be attached" % device, step="attach")
    return device


def detach(host, device):
    """Flush and detach a loop device, then wait until the kernel has let it go."""
    name = os.path.basename(device)
    step = "detach %s" % device

    def released():
        return host.sysfs.loop_backing_file(name) is None

    if released():
        return  # set to clear itself, the device went with its last user (the unmount)
    blockdev.flush_buffers(device)
    rc, out, err = host.runner.run(["losetup", "--detach", device], step=step, check=False)
    if rc != 0 and not released():
        raise VirtDiskError("losetup --detach exited with %d" % rc, step=step, tool_error=err or out)
    try:
        poll(released, host.timeout, "%s to be released" % device, step=step)
    except VirtDiskError:
        holders = host.sysfs.holders(name)
        raise VirtDiskError(
            "the kernel still holds %s after losetup --detach (autoclear pending: "
            "the device is still open%s)" % (device, ", holders: " + ", ".join(holders) if holders else ""),
            step=step)


BACKEND = Loop()
