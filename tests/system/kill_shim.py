# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run virt.disk.image_mount directly, optionally dying by SIGKILL right after a step.

    VIRT_DISK_KILL_AFTER=attach|map|mount python kill_shim.py ARGS.json

ARGS.json is what Ansible hands a module: {"ANSIBLE_MODULE_ARGS": {...}}. The
executor's step method is wrapped so that the real step runs to its end (the
kernel has the loop device, the partition node or the mount) and then the
process kills itself with SIGKILL: no rollback, no finally blocks, no state
file written, the image lock released only by the kernel closing the fd.
Without VIRT_DISK_KILL_AFTER the module runs normally (a fast direct run for
set-up and clean-up). The collection must be importable (PYTHONPATH).
"""

from __future__ import annotations

import os
import signal

from ansible_collections.virt.disk.plugins.module_utils.plan import executor
from ansible_collections.virt.disk.plugins.modules import image_mount

STEPS = {"attach": "_do_attach", "map": "_do_map", "mount": "_do_mount"}


def _die_after(name):
    original = getattr(executor.Executor, name)

    def step(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
    setattr(executor.Executor, name, step)


if __name__ == "__main__":
    point = os.environ.get("VIRT_DISK_KILL_AFTER")
    if point:
        _die_after(STEPS[point])
    image_mount.main()
