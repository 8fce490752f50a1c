# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mounting and unmounting, and finding the mounts of an image's devices."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


def mounts_of(mounts, numbers, nodes=()):
    """Mounts whose device is one of numbers ((major, minor) pairs).

    Filesystems with anonymous device numbers (btrfs) are matched by their
    source node instead.
    """
    numbers = set(numbers)
    nodes = set(nodes)
    found = []
    for m in mounts:
        if (m.major, m.minor) in numbers:
            found.append(m)
        elif m.source in nodes:
            found.append(m)
        elif m.major == 0 and m.source.startswith("/dev/"):
            try:
                rdev = os.stat(m.source).st_rdev
            except OSError:
                continue
            if (os.major(rdev), os.minor(rdev)) in numbers:
                found.append(m)
    return found


def teardown_order(mounts, ours):
    """Mounts to unmount to take ours down: ours and every mount stacked on or
    beneath them in the mount tree (by parent id), deepest in the tree first,
    later mounts before earlier ones."""
    by_id = dict((m.mount_id, m) for m in mounts)
    ours_ids = set(m.mount_id for m in ours)
    order = dict((m.mount_id, i) for i, m in enumerate(mounts))

    def ancestry(m):
        chain = []
        while m is not None and m not in chain:
            chain.append(m)
            m = by_id.get(m.parent_id)
        return chain

    chosen = []
    for m in mounts:
        chain = ancestry(m)
        if any(a.mount_id in ours_ids for a in chain):
            chosen.append((len(chain), m))
    chosen.sort(key=lambda pair: (-pair[0], -order[pair[1].mount_id]))
    return [m for _depth, m in chosen]


def top_mount_at(mounts, path):
    """The mount visible at path (the last one mounted there), or None."""
    found = None
    for m in mounts:
        if m.path == path:
            found = m
    return found


def mount(runner, device, path, fstype, opts, read_only):
    """Mount device at path. read_only forces "ro"; otherwise "ro" in opts is the
    user's (a read-only mount of a writable device), and "rw" is the default."""
    given = [o for o in (opts or "").split(",") if o]
    read_only = read_only or ("ro" in given and "rw" not in given)
    options = [o for o in given if o not in ("ro", "rw")]
    options.insert(0, "ro" if read_only else "rw")
    args = ["mount"]
    if fstype:
        args += ["-t", fstype]
    args += ["-o", ",".join(options), device, path]
    runner.run(args, step="mount %s at %s" % (device, path))


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
    named = []
    for pid in pids:
        try:
            with open(os.path.join(proc_root, str(pid), "comm")) as f:
                named.append("%d (%s)" % (pid, f.read().strip()))
        except (IOError, OSError):
            named.append(str(pid))
    return ", ".join(named)
