# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helper processes (qemu-nbd, qemu-storage-daemon) seen through /proc.

A helper that has exited but not yet been reaped (a zombie, which PID 1 may
leave for a second or two) counts as gone.
"""

from __future__ import annotations

import os
import signal

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.waits import poll


class Procs(object):
    def __init__(self, root="/proc"):
        self.root = root

    def argv(self, pid):
        try:
            with open(os.path.join(self.root, str(pid), "cmdline"), "rb") as f:
                raw = f.read()
        except (IOError, OSError):
            return None
        return [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0")[:-1]] if raw else None

    def cwd(self, pid):
        try:
            return os.readlink(os.path.join(self.root, str(pid), "cwd"))
        except OSError:
            return None

    def _status(self, pid, field):
        try:
            with open(os.path.join(self.root, str(pid), "status")) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return line.split()[1]
        except (IOError, OSError):
            return None
        return None

    def state(self, pid):
        return self._status(pid, "State")

    def tgid(self, pid):
        """The process a thread id belongs to (/sys/block/nbdN/pid names qemu-nbd's thread)."""
        value = self._status(pid, "Tgid")
        return int(value) if value and value.isdigit() else pid

    def alive(self, pid):
        state = self.state(pid)
        return state is not None and state not in ("Z", "X")

    def pids(self):
        """Every pid under the proc root."""
        try:
            return [int(entry) for entry in os.listdir(self.root) if entry.isdigit()]
        except OSError:
            return []

    def named(self, name):
        """(pid, argv) of live processes whose program is name."""
        found = []
        for pid in self.pids():
            argv = self.argv(pid)
            if argv and os.path.basename(argv[0]) == name and self.alive(pid):
                found.append((pid, argv))
        return sorted(found)

    def inside(self, paths):
        """(pid, command, root) of the processes whose root directory lies
        beneath one of paths: started with chroot into an image (a daemon a
        package started). A process whose working directory alone is there
        (a shell cd'd into a mount) is the user's, not stopped: it keeps the
        mount busy and the teardown names it."""
        found = []
        paths = [p.rstrip("/") for p in paths if p.rstrip("/")]
        for pid in self.pids() if paths else []:
            if pid == os.getpid():
                continue
            try:
                link = os.readlink(os.path.join(self.root, str(pid), "root"))
            except OSError:
                continue
            if any(link == p or link.startswith(p + "/") for p in paths):
                found.append((pid, self.comm(pid) or "?", link))
        return sorted(found)

    def comm(self, pid):
        """The process's command name, or None when it cannot be read."""
        try:
            with open(os.path.join(self.root, str(pid), "comm")) as f:
                return f.read().strip()
        except (IOError, OSError):
            return None

    def resolve(self, pid, path):
        """A path from a process's argv, made absolute against its working directory."""
        if os.path.isabs(path):
            return path
        cwd = self.cwd(pid)
        return os.path.join(cwd, path) if cwd else None

    def terminate(self, pid, timeout, what):
        """SIGTERM pid and wait until it is gone; SIGKILL if it outlives timeout."""
        if not self.alive(pid):
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return False
        try:
            poll(lambda: not self.alive(pid), timeout, "%s (pid %d) to exit" % (what, pid))
            return False
        except VirtDiskError:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                return True
            poll(lambda: not self.alive(pid), 5, "%s (pid %d) to exit after SIGKILL" % (what, pid))
            return True
