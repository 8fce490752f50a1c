# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mounting and unmounting (mount(8), umount(8)), and naming what keeps a mount busy.

Finding the mounts of an image's devices is a question about the mount
table, answered in mountinfo.py."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel.kmsg import KernelLog
from ansible_collections.virt.disk.plugins.module_utils.kernel.procs import Procs
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts


# The option that mounts a journaling filesystem without replaying its journal
# or log. The kernel refuses to replay onto a read-only device ("recovery
# required on readonly filesystem", "log replay required on RO media"), so a
# read-only mount of an image that was not shut down cleanly needs it.
NO_REPLAY = {"ext3": "noload", "ext4": "noload", "xfs": "norecovery", "btrfs": "rescue=nologreplay"}


def mount(runner, device, path, fstype, opts, read_only, kernel_log=KernelLog, probed_fstype=None, canonicalize=True,
          fallbacks=()):
    """Mount device at path. read_only forces "ro"; otherwise "ro" in opts is the
    user's (a read-only mount of a writable device), and "rw" is the default.

    A mount that fails is tried again with each option of fallbacks not in
    opts, then with all of them: the options that made it work are returned
    ([] when the first try did). A read-only mount has one fallback more when
    the filesystem (fstype, else probed_fstype: what the partition probe saw)
    journals: mounting without journal replay (NO_REPLAY). A failure carries
    what the kernel logged about the device meanwhile (the filesystem's own
    reason, which mount(8) does not say), and it is the first try's.

    canonicalize false passes path to the kernel as it is (mount(8)'s
    --no-canonicalize): a mount point inside an image, resolved inside it
    already, is not resolved again by a tool that follows symlinks to the host."""
    given = [o for o in (opts or "").split(",") if o]
    read_only = read_only or ("ro" in given and "rw" not in given)
    options = [o for o in given if o not in ("ro", "rw")]
    options.insert(0, "ro" if read_only else "rw")
    extra = [o for o in fallbacks if o not in options]
    no_replay = NO_REPLAY.get(fstype if fstype and fstype != "auto" else probed_fstype) if read_only else None
    if no_replay and no_replay not in options and no_replay not in extra:
        extra.append(no_replay)
    tries = [[]] + [[o] for o in extra] + ([extra] if len(extra) > 1 else [])
    step = "mount %s at %s" % (device, path)
    first = None
    for added in tries:
        try:
            _run_logged(runner, _mount_args(device, path, fstype, options + added, canonicalize), device, step,
                        kernel_log)
            return added
        except VirtDiskError as e:
            first = first or e
    raise first


def _mount_args(device, path, fstype, options, canonicalize):
    args = ["mount"]
    if fstype:
        args += ["-t", fstype]
    return args + ["-o", ",".join(options), device, path]


def remount(runner, device, path, opts, read_only, kernel_log=KernelLog):
    """Change the generic flags of the mount at path (ro/rw, nosuid, nodev,
    noexec, atime...) in place; the filesystem's own options stay."""
    flags, _fs_options = mountopts.wanted(opts, read_only)
    args = ["mount", "-o", "remount," + mountopts.render(flags), path]
    _run_logged(runner, args, device, "remount %s" % path, kernel_log)


def _run_logged(runner, args, device, step, kernel_log):
    with kernel_log() as log:
        rc, out, err = runner.run(args, step=step, check=False)
        if rc == 0:
            return
        text = (err or out).strip()
        said = [m for m in log.about(device) if m not in text]
    if said:
        text = "%s; the kernel said: %s" % (text, "; ".join(said)) if text else "the kernel said: " + "; ".join(said)
    raise VirtDiskError("%s exited with %d" % (" ".join(args), rc), step=step, tool_error=text)


def umount(runner, path):
    rc, out, err = runner.run(["umount", path], step="unmount %s" % path, check=False)
    if rc != 0:
        text = (err or out).strip()
        if "busy" in text:
            text += "; processes using it: %s" % (holders(runner, path) or "unknown")
        raise VirtDiskError("umount exited with %d" % rc, step="unmount %s" % path, tool_error=text)


def holders(runner, path, proc_root="/proc"):
    """"PID (command)" of the processes that keep the filesystem at path busy, from `fuser -m`.

    fuser prints the PIDs on stdout, each followed by access letters (c, e, f,
    r, m); its table of names goes to stderr only with -v, so names come
    from /proc/PID/comm.
    """
    if runner.which("fuser", required=False) is None:
        return None
    _rc, out, _err = runner.run(["fuser", "-m", path], step="find users of %s" % path, check=False)
    return format_holders(parse_fuser(out), proc_root) or None


def parse_fuser(out):
    pids = []
    for token in out.split():
        digits = token.rstrip("cefrm")
        if digits.isdigit():
            pids.append(int(digits))
    return pids


def format_holders(pids, proc_root="/proc"):
    procs = Procs(proc_root)
    named = []
    for pid in pids:
        comm = procs.comm(pid)
        named.append("%d (%s)" % (pid, comm) if comm is not None else str(pid))
    return ", ".join(named)
