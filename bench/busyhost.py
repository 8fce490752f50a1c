# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Section f of the benchmark: a busy host.

The module's no-op run (an image mounted already) and its mount-and-unmap
cycle (state mounted, then unmapped), run directly (bench/run_module.py, as
section c's Python level), on a quiet host and on the same host with LOOPS
unrelated loop devices (small files of their own) and MOUNTS unrelated
mounts (tmpfs, beneath one tmpfs of the bench) added; then quiet again. The
ratio is the busy median over the quiet median (both quiet phases together).
"""

from __future__ import annotations

import os
import subprocess
from statistics import median


class BusyHost(object):
    """bench: the Bench (run_module, raw image, work dir, failures)."""

    def __init__(self, bench, loops=200, mounts=2000, noop_runs=15, cycles=5):
        self.bench = bench
        self.loops = loops
        self.mounts = mounts
        self.noop_runs = noop_runs
        self.cycles = cycles
        self.dir = os.path.join(bench.work, "f")
        self.noise_root = os.path.join(self.dir, "noise")
        self.noise_loops = []
        self.image = os.path.join(self.dir, "disk.img")
        self.mnt = os.path.join(self.dir, "mnt")

    # the noise
    def noise_up(self):
        os.makedirs(self.noise_root, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "bench-f", self.noise_root], check=True)
        for i in range(self.loops):
            path = os.path.join(self.noise_root, "loop%03d.img" % i)
            with open(path, "wb") as f:
                f.truncate(1 << 20)
            out = subprocess.run(["losetup", "--find", "--show", path], check=True, text=True,
                                 stdout=subprocess.PIPE).stdout.strip()
            self.noise_loops.append(out)
        script = 'for i in $(seq 1 "$2"); do mkdir "$1/m$i" && mount -t tmpfs -o size=1m bench-f "$1/m$i" || exit 1; done'
        subprocess.run(["bash", "-c", script, "noise", self.noise_root, str(self.mounts)], check=True)
        subprocess.run(["udevadm", "settle", "--timeout=120"], check=False)

    def noise_down(self):
        for dev in self.noise_loops:
            subprocess.run(["losetup", "--detach", dev], check=False)
        self.noise_loops = []
        if os.path.ismount(self.noise_root):
            subprocess.run(["umount", "--recursive", self.noise_root], check=True)
        subprocess.run(["udevadm", "settle", "--timeout=120"], check=False)

    # the module
    def module(self, **args):
        wall, _phases, res = self.bench.run_module(dict({"image": self.image, "path": self.mnt, "partition": "2"},
                                                        **args))
        if res.get("failed"):
            raise RuntimeError("f: image_mount %s failed: %s" % (args, res.get("msg")))
        return wall, res

    def phase(self):
        """(no-op run walls, cycle walls) on the host as it is now."""
        noop, cycle = [], []
        self.module()  # mounted, and warm
        for _run in range(self.noop_runs):
            wall, res = self.module()
            if res.get("changed"):
                self.bench.failures.append("f: the no-op run reported a change: %s" % res.get("actions"))
            noop.append(wall)
        self.module(state="unmapped")
        for _cycle in range(self.cycles):
            up, _res = self.module()
            down, _res = self.module(state="unmapped")
            cycle.append(up + down)
        return noop, cycle

    def run(self, log):
        os.makedirs(self.dir, exist_ok=True)
        subprocess.run(["cp", "--sparse=always", self.bench.raw, self.image], check=True)
        quiet_noop, quiet_cycle = self.phase()
        log("f quiet: no-op %.0f ms, cycle %.0f ms" % (1000 * median(quiet_noop), 1000 * median(quiet_cycle)))
        try:
            self.noise_up()
            with open("/proc/self/mountinfo", encoding="utf-8") as f:
                mount_lines = sum(1 for _line in f)
            busy_noop, busy_cycle = self.phase()
        finally:
            self.noise_down()
        log("f busy (%d loop devices, %d mountinfo lines): no-op %.0f ms, cycle %.0f ms"
            % (self.loops, mount_lines, 1000 * median(busy_noop), 1000 * median(busy_cycle)))
        again_noop, again_cycle = self.phase()
        self.module(state="absent")
        quiet_noop += again_noop
        quiet_cycle += again_cycle
        os.unlink(self.image)
        return {"what": "image_mount run directly: a no-op run and a mounted+unmapped cycle, with %d unrelated "
                        "loop devices and %d unrelated mounts against a quiet host (before and after)"
                        % (self.loops, self.mounts),
                "mountinfo_lines_busy": mount_lines,
                "quiet": {"noop_s": quiet_noop, "cycle_s": quiet_cycle},
                "busy": {"noop_s": busy_noop, "cycle_s": busy_cycle},
                "ratio": {"noop": median(busy_noop) / median(quiet_noop),
                          "cycle": median(busy_cycle) / median(quiet_cycle)}}
