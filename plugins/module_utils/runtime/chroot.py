# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The chroot runtime of a mounted image (runtime: chroot): what a program
run with chroot into it expects to find.

The host's /dev bound (private, so nothing mounted beneath it reaches the
host's /dev), a devpts instance of its own at /dev/pts, /proc, /sys
read-only, /run as a tmpfs, and the host's resolv.conf bound over the
image's /etc/resolv.conf (over the file it links to, when that is on the
tmpfs /run, which is where systemd-resolved's link points). Every mount
point is resolved inside the image, as the tree's are, one at a time after
the mounts before it. Taking it down is the teardown of the image's mounts:
everything beneath them goes, after the processes inside (plan/planner.py).
"""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step
from ansible_collections.virt.disk.plugins.module_utils.tree import inroot

RESOLV_CONF = "/etc/resolv.conf"

# target in the image, fstype (None: a bind of source), source, options
MOUNTS = (
    ("/dev", None, "/dev", None),
    ("/dev/pts", "devpts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec"),
    ("/proc", "proc", "proc", "nosuid,nodev,noexec"),
    ("/sys", "sysfs", "sysfs", "ro,nosuid,nodev,noexec"),
    ("/run", "tmpfs", "tmpfs", "mode=0755,nosuid,nodev"),
)
# what the kernel shows for each, to adopt a runtime mounted before (by this module or by hand)
KERNEL_FSTYPE = {"/dev": ("devtmpfs", "tmpfs"), "/dev/pts": ("devpts",), "/proc": ("proc",), "/sys": ("sysfs",),
                 "/run": ("tmpfs",)}


class Phase(object):
    """One pass over the runtime of the image mounted at root.

    do(steps) does them; without do, a dry pass does nothing, and mounts
    beneath one it would make are taken as to be made too. entries: what
    the runtime has, as the result's runtime lists it; steps: what it took."""

    def __init__(self, host, root, read_only, do=None, host_resolv_conf="/etc/resolv.conf"):
        self.host = host
        self.root = root
        self.read_only = read_only
        self.do = do
        self.host_resolv_conf = host_resolv_conf
        self.entries = []
        self.warnings = []
        self.steps = []
        self._pending = []  # host paths of mounts a dry pass would make

    def run(self):
        for target, fstype, source, options in MOUNTS:
            self._mount(target, fstype, source, options)
        self._resolv_conf()
        return self

    def _mounts(self):
        return mountinfo.read(self.host.mountinfo_path)

    def _resolve(self, target, follow_last=True):
        try:
            return inroot.resolve(self.root, target, follow_last)[0]
        except inroot.OutsideError as e:
            raise VirtDiskError("the image's %s cannot be used for the chroot runtime: %s" % (target, e),
                                step="runtime")

    def _under_pending(self, path):
        return any(mountinfo.is_below(path, p) for p in self._pending)

    def _do(self, steps, path):
        self.steps += steps
        if self.do is None:
            self._pending.append(path)
        else:
            self.do(steps)

    def _mounted_at(self, path):
        """The mount the kernel shows at path (not one this pass has yet to make), or None."""
        if self._under_pending(path):
            return None
        top = mountinfo.top_mount_at(self._mounts(), path)
        return top if top is not None and top.path == path else None

    def _mount(self, target, fstype, source, options):
        path = self._resolve(target)
        entry = {"target": target, "path": path, "fstype": fstype or "bind", "source": source}
        if path == self.root:
            raise VirtDiskError("the image's %s resolves to its root; it cannot hold the chroot runtime" % target,
                                step="runtime")
        top = self._mounted_at(path)
        if top is not None:
            if top.fstype not in KERNEL_FSTYPE[target]:
                raise VirtDiskError("the image's %s (%s) already has %s %s mounted, not the runtime's %s"
                                    % (target, path, top.fstype, top.source, fstype or "bind of " + source),
                                    step="runtime")
            self.entries.append(entry)
            return
        if not self._under_pending(path) and os.path.lexists(path) and not os.path.isdir(path):
            raise VirtDiskError("the image's %s (%s) is not a directory" % (target, path), step="runtime")
        steps = []
        if not self._under_pending(path) and not os.path.lexists(path):
            if self.read_only:
                self.warnings.append("the image has no %s and is mounted read-only: the chroot runtime has no %s"
                                     % (target, target))
                return
            steps.append(Step("mkdir", "create %s in the image" % target, path=path))
        what = "bind the host's %s" % source if fstype is None else "mount %s" % fstype
        steps.append(Step("runtime_mount", "%s at the image's %s (%s)" % (what, target, path), path=path,
                          fstype=fstype, source=source, options=options))
        self._do(steps, path)
        self.entries.append(entry)

    def _resolv_conf(self):
        """The host's resolv.conf over the image's: where the image's is a
        file, bound over it; where it is a link to a file on the runtime's
        /run that is not there, that file is made on the tmpfs first; else
        (a missing file outside /run) left out with a warning, since making
        it would write the image."""
        if not os.path.exists(self.host_resolv_conf):
            return
        link = self._resolve(RESOLV_CONF, follow_last=False)
        path = self._resolve(RESOLV_CONF)
        entry = {"target": RESOLV_CONF, "path": path, "fstype": "bind",
                 "source": os.path.realpath(self.host_resolv_conf)}
        if path != link:
            entry["link"] = link
        run = self._resolve("/run")
        on_run = mountinfo.is_below(path, run) and path != run
        if self._mounted_at(path) is not None:
            self.entries.append(entry)
            return
        steps = []
        if os.path.lexists(path) and not os.path.isfile(path):
            raise VirtDiskError("the image's %s (%s) is not a file" % (RESOLV_CONF, path), step="runtime")
        if not os.path.lexists(path) or self._under_pending(path):
            if not on_run:
                self.warnings.append("the image has no %s (%s): the chroot runtime has no name resolution; "
                                     "making one would write the image" % (RESOLV_CONF, path))
                return
            steps.append(Step("runtime_file", "create %s on the runtime's /run for the host's resolv.conf" % path,
                              path=path))
        steps.append(Step("runtime_mount", "bind the host's resolv.conf at the image's %s (%s)"
                          % (RESOLV_CONF, path), path=path, fstype=None, source=entry["source"], options="ro"))
        self._do(steps, path)
        self.entries.append(entry)
