# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host a run works on: its tools, its kernel's views and the paths under
which this collection keeps state. Every layer takes one; tests inject roots."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.kernel import loop, mountinfo
from ansible_collections.virt.disk.plugins.module_utils.kernel.procs import Procs
from ansible_collections.virt.disk.plugins.module_utils.kernel.sysfs import SysFS
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR


class Host(object):
    """runner: the host's tools (runner.Runner); sysfs, procs: kernel views;
    loop_status: LOOP_GET_STATUS64 of a device path (kernel.loop.get_status);
    filesystems: what the kernel can mount (kernel.filesystems.Filesystems)."""

    def __init__(self, runner=None, sysfs=None, procs=None, timeout=30, run_dir=RUN_DIR, dev_root="/dev",
                 mountinfo_path=mountinfo.DEFAULT_PATH, loop_status=loop.get_status, filesystems=None):
        self.runner = runner
        self.sysfs = sysfs or SysFS()
        self.procs = procs or Procs()
        self.timeout = timeout
        self.run_dir = run_dir
        self.dev_root = dev_root
        self.mountinfo_path = mountinfo_path
        self.loop_status = loop_status
        self.filesystems = filesystems  # None: the running kernel's (only a tree mount asks)

    def dev(self, *parts):
        return os.path.join(self.dev_root, *parts)

    def which(self, name):
        """The tool's path, or None (also when there is no runner to ask)."""
        return self.runner.which(name, required=False) if self.runner is not None else None
