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
With snapshot, qemu-nbd --snapshot sends writes to a temporary overlay of its
own (an unlinked file in its TMPDIR), gone when the server exits.
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment, Backend
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import blockdev, nbd
from ansible_collections.virt.disk.plugins.module_utils.state import distro
from ansible_collections.virt.disk.plugins.module_utils.state.locking import Lock
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

SERVER = nbd.SERVER


class Nbd(Backend):
    name = "nbd"
    formats = None
    kinds = ("file", "block")
    helper = SERVER
    snapshots = True

    def unusable(self, host):
        if not nbd.available(host.sysfs):
            return "the kernel has no nbd devices (%s)" % distro.nbd_module(distro.read())
        return _server_missing(host)

    def scan(self, host, claimed, loops=None):
        found = []
        for name, pid, path, argv in nbd.connections(host.sysfs, host.procs):
            device = host.dev(name)
            claimed.add(device)
            found.append(Attachment(self, device, host.sysfs.read_only(name) or "--read-only" in argv or "-r" in argv,
                                    image=path, fmt=nbd.format_of(argv), pid=pid, snapshot=nbd.snapshot_of(argv)))
        return found

    def matches(self, att, image):
        return image.is_file(att.image)

    def attach(self, host, image, fmt, read_only, allow_backing_file, did, snapshot=False):
        device, pid = connect(host, image.path, fmt, read_only, snapshot)
        how = ", writes to a throwaway overlay" if snapshot else ", read-only" if read_only else ""
        did("connected %s to %s (qemu-nbd pid %d%s)" % (image.path, device, pid, how),
            lambda: disconnect(host, device))
        return device, pid

    def detach(self, host, att, did):
        disconnect(host, att.device)
        did("disconnected %s" % att.device)
        return None

    def describe_detach(self, att):
        return "disconnect %s (qemu-nbd pid %s)" % (att.device, att.pid)

    def partscan_wait(self, host):
        # with max_part, nbd scans partitions asynchronously after connecting
        return min(host.timeout, 2) if nbd.max_part(host.sysfs) else 0


def is_free(sysfs, name):
    return (sysfs.nbd_pid(name) is None and not sysfs.read_int("block", name, "size")
            and not sysfs.holders(name))


def _server_missing(host):
    """Why qemu-nbd cannot be run (not installed, and what to install), or None."""
    if host.which(SERVER) is None:
        return "%s is not installed (%s)" % (SERVER, distro.qemu_package(distro.read()))
    return None


def connect(host, image_path, fmt, read_only, snapshot=False):
    """Serve image_path on a free nbd device; return (device, pid). With
    snapshot the image is opened read-only and writes go to qemu-nbd's
    temporary overlay."""
    sysfs = host.sysfs
    step = "connect %s to an nbd device with qemu-nbd" % image_path
    missing = _server_missing(host)
    if missing:
        raise VirtDiskError(missing, step=step)
    errors = []
    with Lock("nbd-allocation", host.timeout, "nbd device allocation", run_dir=host.run_dir):
        for name in sysfs.block_devices("nbd"):
            if not is_free(sysfs, name):
                continue
            device = host.dev(name)
            args = [SERVER, "--connect", device, "--format", fmt, "--cache", "writeback", "--discard", "unmap"]
            if snapshot:
                args.append("--snapshot")
            elif read_only:
                args.append("--read-only")
            args.append(image_path)
            rc, _out, err = host.runner.run(args, step=step, check=False)
            if rc != 0:
                errors.append("%s: %s" % (device, err.strip()))
                continue
            try:
                pid = poll(lambda: sysfs.nbd_pid(name) and sysfs.read_int("block", name, "size") and
                           sysfs.nbd_pid(name), host.timeout, "%s to be connected" % device, step=step)
            except VirtDiskError:
                disconnect(host, device, timeout=5)
                raise
            return device, host.procs.tgid(pid)
    if errors:
        raise VirtDiskError("qemu-nbd could not connect any free device", step=step, tool_error="; ".join(errors))
    raise VirtDiskError("no free nbd device (all %d in use); load nbd with a larger nbds_max"
                        % len(sysfs.block_devices("nbd")), step=step)


def disconnect(host, device, timeout=None):
    """Flush, disconnect, wait until the device is free again, and until its server has exited."""
    sysfs = host.sysfs
    timeout = host.timeout if timeout is None else timeout
    name = os.path.basename(device)
    step = "disconnect %s" % device
    pid = sysfs.nbd_pid(name)
    blockdev.flush_buffers(device)
    host.runner.run([SERVER, "--disconnect", device], step=step)
    poll(lambda: sysfs.nbd_pid(name) is None and not sysfs.read_int("block", name, "size"), timeout,
         "%s to be free" % device, step=step)
    if pid is not None:
        host.procs.terminate(pid, timeout, SERVER)


BACKEND = Nbd()
