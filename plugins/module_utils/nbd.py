# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nbd backend: qemu-nbd serving the image on a free /dev/nbdN.

Allocation is race-free across processes: under a host-wide flock a device
counts as free only if sysfs shows no server pid, size 0 and no holders, and
if qemu-nbd still loses a race for it the next device is tried. qemu-nbd -c
returns before the device is live, so readiness is polled on sysfs (pid and
size). Connections made by hand are found by the file their server serves.
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils import blockdev
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.locking import Lock
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

SERVER = "qemu-nbd"
# qemu-nbd options that take a value as the next argument
_WITH_VALUE = frozenset("-p --port -o --offset -b --bind -k --socket -f --format -P --partition -B --bitmap "
                        "-l --load-snapshot -c --connect -d --disconnect -e --shared -x --export-name -D --description "
                        "--cache --aio --discard --detect-zeroes --object --tls-creds --tls-hostname "
                        "--tls-authz --pid-file -T --trace -A --handshake-limit".split())


def available(sysfs, runner=None):
    """True if the kernel has nbd devices (and qemu-nbd is installed, when runner is given)."""
    if not sysfs.exists("block", "nbd0"):
        return False
    return runner is None or runner.which(SERVER, required=False) is not None


def max_part(sysfs):
    return sysfs.read_int("module", "nbd", "parameters", "max_part") or 0


def is_free(sysfs, name):
    return (sysfs.nbd_pid(name) is None and not sysfs.read_int("block", name, "size")
            and not sysfs.holders(name))


def served_file(argv):
    """The image path a qemu-nbd command line serves (its one positional argument)."""
    positional = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg in _WITH_VALUE:
            skip = True
        elif arg.startswith("-"):
            continue
        else:
            positional.append(arg)
    return positional[-1] if positional else None


def connections(sysfs, procs):
    """Connected nbd devices: (name, server pid, served path resolved, argv)."""
    found = []
    for name in sysfs.block_devices("nbd"):
        pid = sysfs.nbd_pid(name)
        if pid is None:
            continue
        pid = procs.tgid(pid)
        argv = procs.argv(pid) or []
        path = served_file(argv) if argv else None
        found.append((name, pid, procs.resolve(pid, path) if path else None, argv))
    return found


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
