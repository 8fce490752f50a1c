# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which filesystems this kernel can mount: registered now (/proc/filesystems)
or loadable on demand (mount(2) asks modprobe for "fs-TYPE", an alias every
filesystem module declares in modules.alias). Roots are injectable."""

from __future__ import annotations

import os
import platform

# filesystems that mount(8) hands to a helper or another driver
_DRIVER = {"ext2": "ext4", "ext3": "ext4"}


class Filesystems(object):
    def __init__(self, proc_root="/proc", modules_root="/lib/modules", release=None):
        self.proc_root = proc_root
        self.modules_dir = os.path.join(modules_root, release or platform.release())
        self._registered = None
        self._aliases = None

    def registered(self):
        if self._registered is None:
            self._registered = set()
            for line in _lines(os.path.join(self.proc_root, "filesystems")):
                fields = line.split()
                if fields:
                    self._registered.add(fields[-1])
        return self._registered

    def loadable(self):
        if self._aliases is None:
            self._aliases = set()
            for line in _lines(os.path.join(self.modules_dir, "modules.alias")):
                fields = line.split()
                if len(fields) >= 3 and fields[0] == "alias" and fields[1].startswith("fs-"):
                    self._aliases.add(fields[1][3:])
        return self._aliases

    def can_mount(self, fstype):
        """True when fstype is registered, or a module for it can be loaded."""
        if not fstype:
            return True
        fstype = _DRIVER.get(fstype, fstype)
        return fstype in self.registered() or fstype in self.loadable()


def _lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()
    except (IOError, OSError):
        return []
