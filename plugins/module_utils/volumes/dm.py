# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Device-mapper devices of the volumes layer: made from a table, removed,
and, when one is busy, who holds it."""

from __future__ import annotations

import os
import time

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo


def create(host, name, uuid, table, read_only):
    """dmsetup create NAME with the table (lines of "start length target args"), waiting for its node."""
    args = ["dmsetup", "create", name, "--uuid", uuid] + (["--readonly"] if read_only else [])
    host.runner.run(args + ["--table", "\n".join(table)], step="create the device-mapper device %s" % name)
    wait_node(host, name)


def wait_node(host, name):
    """Wait for /dev/mapper/NAME (udev makes it, or libdevmapper where udev does not run)."""
    path = host.dev("mapper", name)
    deadline = time.time() + host.timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise VirtDiskError("%s did not appear within %d s" % (path, host.timeout),
                                step="create the device-mapper device %s" % name)
        time.sleep(0.05)


def holders_of(host, vol):
    """Who keeps vol open: mounts, devices stacked on it, processes; [] when nobody is seen."""
    found = []
    for m in mountinfo.read(host.mountinfo_path):
        if (m.major, m.minor) == vol.numbers:
            found.append("mounted at %s" % m.path)
    for holder in host.sysfs.holders(vol.kernel_name):
        found.append("held by %s (%s)" % (holder, host.sysfs.read("class", "block", holder, "dm", "name") or holder))
    targets = set([vol.device, host.dev(vol.kernel_name)])
    for pid in host.procs.pids():
        try:
            fds = os.listdir(os.path.join(host.procs.root, str(pid), "fd"))
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(host.procs.root, str(pid), "fd", fd))
            except OSError:
                continue
            if target in targets:
                found.append("open in process %d (%s)" % (pid, host.procs.comm(pid)))
                break
    return found


def remove(host, vol, what):
    """Remove the dm device of vol; a busy one fails naming who holds it and stays."""
    rc, out, err = host.runner.run(["dmsetup", "remove", vol.name], step="remove %s" % what, check=False)
    if rc == 0:
        return
    holders = holders_of(host, vol)
    text = (err or out).strip()
    raise VirtDiskError("cannot remove %s (%s): %s" % (what, vol.device, "; ".join(holders) if holders else text),
                        step="remove %s" % what, tool_error=text)
