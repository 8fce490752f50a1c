# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fuse backend: qemu-storage-daemon exports the image as a raw file
through FUSE under /run/virt-disk/fuse/, and a loop device goes over it.

For kernels without nbd (containers, microVMs). The daemon's arguments, the
export's name and finding live daemons are in fuse.py.
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel.qsd import DAEMON, daemon_args, export_path
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR
from ansible_collections.virt.disk.plugins.module_utils.waits import poll


def start(runner, image_path, fmt, key, read_only, allow_backing_file, timeout, procs,
          mountinfo_path=mountinfo.DEFAULT_PATH, run_dir=RUN_DIR):
    """Start the daemon; return (pid, export path) once the export is live."""
    step = "export %s through FUSE with %s" % (image_path, DAEMON)
    export = export_path(key, run_dir)
    pidfile = export[:-len(".raw")] + ".pid"
    try:
        os.makedirs(os.path.dirname(export), mode=0o700, exist_ok=True)
        if not os.path.exists(export):
            with open(export, "a"):
                pass
    except OSError as e:
        raise VirtDiskError("cannot create the export file %s: %s" % (export, e.strerror), step=step)
    if not os.path.exists("/dev/fuse"):
        raise VirtDiskError("/dev/fuse does not exist: load the fuse module or use backend nbd", step=step)
    runner.which(DAEMON, purpose="export qemu images through FUSE (Debian: qemu-system-common, "
                                 "RHEL: qemu-kvm-core)")
    try:
        runner.run(daemon_args(image_path, fmt, export, pidfile, read_only, allow_backing_file), step=step)
    except VirtDiskError:
        _remove(export)
        raise

    def live():
        mounted = any(m.path == export and m.fstype.startswith("fuse")
                      for m in mountinfo.read(mountinfo_path))
        return mounted and _read_pid(pidfile)
    pid = poll(live, timeout, "the FUSE export %s" % export, step=step)
    return pid, export


def stop(runner, pid, export, timeout, procs, mountinfo_path=mountinfo.DEFAULT_PATH):
    """Stop the daemon (it flushes and closes the image), then remove the export file.

    Returns True when the daemon had to be killed or was already gone.
    """
    forced = pid is None or not procs.alive(pid)
    if not forced:
        forced = procs.terminate(pid, timeout, DAEMON)
    step = "remove the FUSE export %s" % export

    def unmounted():
        return not any(m.path == export for m in mountinfo.read(mountinfo_path))
    if not unmounted():
        try:
            poll(unmounted, 1 if forced else timeout, "%s to be unmounted" % export)
        except VirtDiskError:
            # the daemon died without unmounting its export: the FUSE mount is stale
            runner.run(["umount", "--lazy", export], step=step)
            forced = True
    _remove(export)
    _remove(export[:-len(".raw")] + ".pid")
    return forced


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _read_pid(pidfile):
    try:
        with open(pidfile) as f:
            return int(f.read().strip())
    except (IOError, OSError, ValueError):
        return None
