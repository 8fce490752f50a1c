# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nbd backend: qemu-nbd serving the image on a free /dev/nbdN.

Allocation is race-free across processes: under a host-wide flock a device
counts as free only if sysfs shows no server pid, size 0 and no holders, and
if qemu-nbd still loses a race for it the next device is tried. qemu-nbd -c
returns before the device is live, so readiness is polled on sysfs (pid and
size). What is connected already is found through nbd.py.
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import blockdev
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.state.locking import Lock
from ansible_collections.virt.disk.plugins.module_utils.kernel.nbd import SERVER
from ansible_collections.virt.disk.plugins.module_utils.waits import poll


def is_free(sysfs, name):
    return (sysfs.nbd_pid(name) is None and not sysfs.read_int("block", name, "size")
            and not sysfs.holders(name))


def connect(runner, sysfs, image_path, fmt, read_only, timeout, run_dir, procs, dev_root="/dev"):
    """Serve image_path on a free nbd device; return (device, pid)."""
    step = "connect %s to an nbd device with qemu-nbd" % image_path
    runner.which(SERVER, purpose="serve qemu images on /dev/nbdN (Debian: qemu-utils, RHEL: qemu-img)")
    errors = []
    with Lock("nbd-allocation", timeout, "nbd device allocation", run_dir=run_dir):
        for name in sysfs.block_devices("nbd"):
            if not is_free(sysfs, name):
                continue
            device = os.path.join(dev_root, name)
            args = [SERVER, "--connect", device, "--format", fmt, "--cache", "writeback", "--discard", "unmap"]
            if read_only:
                args.append("--read-only")
            args.append(image_path)
            rc, _out, err = runner.run(args, step=step, check=False)
            if rc != 0:
                errors.append("%s: %s" % (device, err.strip()))
                continue
            try:
                pid = poll(lambda: sysfs.nbd_pid(name) and sysfs.read_int("block", name, "size") and
                           sysfs.nbd_pid(name), timeout, "%s to be connected" % device, step=step)
            except VirtDiskError:
                disconnect(runner, sysfs, device, 5)
                raise
            return device, procs.tgid(pid)
    if errors:
        raise VirtDiskError("qemu-nbd could not connect any free device", step=step, tool_error="; ".join(errors))
    raise VirtDiskError("no free nbd device (all %d in use); load nbd with a larger nbds_max"
                        % len(sysfs.block_devices("nbd")), step=step)


def disconnect(runner, sysfs, device, timeout, procs=None):
    """Flush, disconnect, and wait until the device is free again."""
    name = os.path.basename(device)
    step = "disconnect %s" % device
    pid = sysfs.nbd_pid(name)
    blockdev.flush_buffers(device)
    runner.run([SERVER, "--disconnect", device], step=step)
    poll(lambda: sysfs.nbd_pid(name) is None and not sysfs.read_int("block", name, "size"), timeout,
         "%s to be free" % device, step=step)
    if procs is not None and pid is not None:
        procs.terminate(pid, timeout, SERVER)
