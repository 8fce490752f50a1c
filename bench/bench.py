# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The virt.disk benchmark. Run by hack/bench.sh (`make bench`).

Everything runs in one go, so the ratios compare numbers taken side by side:

a  mount-and-unmap cycle of a raw GPT image through image_mount (mounted, then
   unmapped: two tasks) against the same steps by hand in ONE shell task, and in
   two shell tasks (mount / unmount); rounds interleaved in rotating order.
   The floor: two tasks of bench/null_module.py (an AnsibleModule that does
   nothing) against the one shell task, what any two-task cycle pays.
b  no-op re-run of image_mount on a mounted image against ansible.builtin.stat,
   and an empty module task against stat (the floor).
c  start to a usable device for a qcow2 image through the backend in use
   (fuse here; nbd where /sys/block/nbd0 exists): an image_mount task
   (state mapped, partition 0) against one shell task with the bare commands
   and a poll (the goal), warm and without the module's image cache; and,
   reported, the module run directly (python bench/run_module.py, i.e.
   `python -m ...image_mount ARGS.json`) against the bare commands run from
   Python, where the module alone pays Python's and AnsibleModule's start.
   The floor of the task against task figure: an empty module task against an
   empty shell task (`:`), in the same rotation.
d  32 images mounted by 32 hosts (aliases of localhost, forks=32) against the
   same 32 mounts with forks=1, then all taken down. The floor: the same two
   tasks of the empty module on the same 32 hosts, forks=32 against forks=1,
   what Ansible's forks reach on this machine's cores with no work to do.
t  the whole OS tree of a Debian qcow2 (the disk of the integration target
   image_mount_os): one image_mount task with layout tree against the same
   mounts written by hand in one shell task (and the teardowns), rounds
   rotating; where libguestfs is installed, also `guestmount -i` on the image
   (LIBGUESTFS_BACKEND=direct; without KVM its appliance runs under TCG).

x  the virt.disk.image connection: a 10-task customization of that Debian
   image (a fresh qcow2 overlay each round) as an inventory host, its mount and
   teardown included, against the same work by hand: image_mount (layout tree,
   runtime chroot), 10 shell tasks of `chroot ROOT sh -c ...` (what a
   community.general.chroot user writes when the mount is theirs), and
   image_mount absent; whole playbook runs, rounds rotating. Then 8 overlays as
   8 hosts with forks=8 against forks=1.

e  the data path (bench/datapath.py): 1 GiB written (fsync) and read (caches
   dropped) in ext4 of a 3 GiB image mounted through loop (raw), fuse (qcow2)
   and nbd (qcow2, where the kernel has it), against the host filesystem
   holding the image; first write (sparse image) and steady state.

f  a busy host (bench/busyhost.py): the module's no-op run and mount+unmap
   cycle with 200 unrelated loop devices and 2000 unrelated mounts, against
   the same host quiet, before and after.

Writes build/bench/result.json, build/bench/table.md, build/bench/chart.png and
prints the table. Exit status 1 when a run failed or something was left behind
(a missed performance goal is reported, not an error).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from busyhost import BusyHost
from datapath import DataPath

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable
MODULE = "ansible_collections.virt.disk.plugins.modules.image_mount"
QSD = "qemu-storage-daemon"

GOALS = {
    "a": 1.05,         # module cycle (2 tasks) / the same commands in 2 shell tasks
    "a2_noop": 0.010,  # seconds of a no-op task above an empty AnsibleModule task
    "a2_mount": 0.025,  # seconds of a mount task above a shell task doing the same (an empty module + the tools)
    "b": 1.03,         # no-op module / stat
    "c": 0.015,        # seconds above the bare commands, an image seen before
    "c_cold": 0.040,   # the same, an image not seen before (no image cache)
    "d": 1.8,          # 32 images: forks=32 / forks=1 (mount and teardown)
    "e": {"loop": 0.90, "nbd": 0.80, "fuse": 0.70},  # data path / the host filesystem
    "f": 1.20,         # busy host / quiet host
}


def log(msg):
    print("bench: %s" % msg, flush=True)


def med(values):
    return statistics.median(values) if values else None


def summary(values):
    if not values:
        return None
    values = sorted(values)
    return {"n": len(values), "median": statistics.median(values), "mean": statistics.fmean(values),
            "min": values[0], "max": values[-1],
            "p90": values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]}


def rotate(items, r):
    """items turned left by r places, so that each goes first in turn over the rounds."""
    r %= len(items)
    return items[r:] + items[:r]


def module_task(name, **args):
    """A task of virt.disk.image_mount with args."""
    return {"name": name, "virt.disk.image_mount": args}


def shell_task(name, script, register=None):
    """A shell task (bash) running script, always changed, its result registered as register."""
    task = {"name": name, "ansible.builtin.shell": {"cmd": script, "executable": "/bin/bash"}, "changed_when": True}
    if register:
        task["register"] = register
    return task


def sh(args, check=True, **kw):
    return subprocess.run(args, check=check, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


class Bench(object):
    def __init__(self, opts):
        self.opts = opts
        self.out = opts.out
        self.collections = opts.collections
        self.work = tempfile.mkdtemp(prefix="virt-disk-bench.", dir=opts.tmp)
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.failures = []
        self.result = {"host": self.host_info(), "work_dir": self.work, "rounds": opts.rounds}
        self.raw = os.path.join(self.work, "disk.img")
        self.qcow = os.path.join(self.work, "disk.qcow2")
        self.tree_qcow = os.path.join(self.work, "debian.qcow2")
        self.d_images = []
        self.x_images = set()
        self.bare_exports = []  # (export file, pid file) of the bare fuse sequence
        self.inventory = os.path.join(self.work, "inventory.json")
        sys.path.insert(0, self.collections)

    # ------------------------------------------------------------------ setup
    def host_info(self):
        import platform
        info = {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version(),
                "nbd": os.path.exists("/sys/block/nbd0") and shutil.which("qemu-nbd") is not None,
                "fuse": os.path.exists("/dev/fuse") and shutil.which(QSD) is not None,
                "loadavg_start": os.getloadavg()}
        try:
            import ansible
            info["ansible_core"] = ansible.__version__ if hasattr(ansible, "__version__") else None
            from ansible.release import __version__
            info["ansible_core"] = __version__
        except ImportError:
            pass
        return info

    def make_images(self):
        sh([os.path.join(REPO, "playbooks", "files", "make-sample-image.sh"), self.raw])
        sh(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", self.raw, self.qcow])
        for i in range(self.opts.parallel):
            img = os.path.join(self.work, "d", "img%02d.raw" % i)
            os.makedirs(os.path.dirname(img), exist_ok=True)
            sh(["cp", "--sparse=always", self.raw, img])
            self.d_images.append(img)
        with open(self.inventory, "w") as f:
            json.dump({"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                       "ansible_python_interpreter": PY}}}}, f)

    def ansible_env(self, timer_out, forks=5):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": self.collections,
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
            "BENCH_TIMER_OUT": timer_out,
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_FORKS": str(forks),
            "ANSIBLE_LIBRARY": HERE,  # null_module: the floor any module task pays
        })
        return env

    def playbook(self, name, plays, inventory=None, forks=5):
        """Run plays (a list of play dicts; JSON is YAML); return (timer data, rc, wall seconds)."""
        path = os.path.join(self.work, name + ".yml")
        with open(path, "w") as f:
            json.dump(plays, f, indent=1)
        timer = os.path.join(self.work, name + ".timer.json")
        logfile = os.path.join(self.logs, name + ".log")
        t0 = time.monotonic()
        with open(logfile, "w") as lf:
            rc = subprocess.call([os.path.join(os.path.dirname(PY), "ansible-playbook"), "-i",
                                  inventory or self.inventory, path],
                                 env=self.ansible_env(timer, forks), stdout=lf, stderr=subprocess.STDOUT)
        wall = time.monotonic() - t0
        data = {"tasks": []}
        if os.path.exists(timer):
            with open(timer) as f:
                data = json.load(f)
        for task in data["tasks"]:
            for host, entry in task["hosts"].items():
                if entry.get("status") not in ("ok", "skipped"):
                    result = json.dumps(entry.get("result"))[:600]
                    self.failures.append("%s: task %s on %s: %s" % (name, task["name"], host, result))
        if rc != 0:
            self.failures.append("%s: ansible-playbook exited %d (see %s)" % (name, rc, logfile))
        log("%s: %d tasks in %.1f s (rc %d, log %s)" % (name, len(data["tasks"]), wall, rc, logfile))
        return data, rc, wall

    @staticmethod
    def durations(data, section):
        """{kind: {round: seconds}} for tasks named 'section|kind|round' (single host)."""
        out = {}
        for task in data["tasks"]:
            parts = task["name"].split("|")
            if len(parts) != 3 or parts[0] != section:
                continue
            ends = [h["end"] for h in task["hosts"].values() if "end" in h]
            if not ends:
                continue
            out.setdefault(parts[1], {})[int(parts[2])] = max(ends) - task["start"]
        return out

    @staticmethod
    def per_round(d, rounds, *kinds):
        """Per round, the seconds of the tasks of kinds added up, for rounds in which all of them ran."""
        return [sum(d[k][r] for k in kinds) for r in rounds if all(r in d.get(k, {}) for k in kinds)]

    @staticmethod
    def results(data, section, kind):
        return [h.get("result", {}) for t in data["tasks"] if t["name"].split("|")[:2] == [section, kind]
                for h in t["hosts"].values()]

    # ---------------------------------------------------------- a, b, c (Ansible)
    def mount_point(self, name):
        path = os.path.join(self.work, "mnt", name)
        os.makedirs(path, exist_ok=True)
        return path

    def shell_scripts(self):
        img, mnt = self.raw, self.mount_point("a")
        one = ("set -e\n"
               "dev=$(losetup -f --show -P %s)\n"
               "partx -a --nr 2 \"$dev\"\n"
               "mount -o nodev,nosuid \"${dev}p2\" %s\n"
               "umount %s\n"
               "partx -d --nr 2 \"$dev\"\n"
               "losetup -d \"$dev\"\n" % (img, mnt, mnt))
        split_mount = ("set -e\n"
                       "dev=$(losetup -f --show -P %s)\n"
                       "partx -a --nr 2 \"$dev\"\n"
                       "mount -o nodev,nosuid \"${dev}p2\" %s\n"
                       "echo \"$dev\"\n" % (img, mnt))
        split_unmap = ("set -e\n"
                       "umount %s\n"
                       "partx -d --nr 2 '{{ bench_dev.stdout }}'\n"
                       "losetup -d '{{ bench_dev.stdout }}'\n" % mnt)
        return one, split_mount, split_unmap

    def bare_fuse_script(self, image=None, tag="c", register="bench_cdev", then="", first=""):
        """The qcow2 image exported by a bare qemu-storage-daemon and attached to a loop device, in one shell
        task (its device echoed after the commands then, which see it as $dev), and taken down in another
        (after the commands first; the device from the task registered as register)."""
        export = self.export_of(tag)
        pidfile = os.path.join(self.work, "%s-shell-export.pid" % tag)
        self.bare_exports.append((export, pidfile))
        start = ("set -e\n"
                 ": > %(e)s\n"
                 "%(qsd)s --blockdev driver=file,node-name=f,filename=%(img)s "
                 "--blockdev driver=qcow2,node-name=q,file=f "
                 "--export type=fuse,id=e,node-name=q,mountpoint=%(e)s,writable=on "
                 "--daemonize --pidfile %(p)s\n"
                 "dev=$(losetup -f --show %(e)s)\n"
                 "until dd if=\"$dev\" of=/dev/null bs=512 count=1 status=none 2>/dev/null; do sleep 0.001; done\n"
                 "%(then)s"
                 "echo \"$dev\"\n" % {"e": export, "p": pidfile, "img": image or self.qcow, "qsd": QSD, "then": then})
        stop = ("set -e\n"
                "%(first)s"
                "losetup -d '{{ %(reg)s.stdout }}'\n"
                "pid=$(cat %(p)s)\n"
                "kill \"$pid\"\n"
                "while grep -qF ' %(e)s ' /proc/self/mountinfo; do sleep 0.001; done\n"
                # until the daemon has closed the image (gone, or a zombie), as image_mount waits for it
                "while [ -e /proc/$pid ] && awk '{exit $3 == \"Z\"}' /proc/$pid/stat 2>/dev/null; do sleep 0.001; done\n"
                "rm -f %(e)s %(p)s\n" % {"e": export, "p": pidfile, "first": first, "reg": register})
        return start, stop

    def run_ansible_sections(self):
        n = self.opts.rounds
        img, mnt_a, mnt_b = self.raw, self.mount_point("a"), self.mount_point("b")
        one, split_mount, split_unmap = self.shell_scripts()
        c_start, c_stop = self.bare_fuse_script()
        qcow_cache = self.drop_image_cache(self.qcow)

        mod, shell = module_task, shell_task
        tasks = []
        # a: round 0 is a warm-up (not counted); the order of the four variants rotates
        units = {
            "M": lambda r: [mod("a|mod_mount|%d" % r, image=img, path=mnt_a, partition="2"),
                            mod("a|mod_unmap|%d" % r, image=img, path=mnt_a, state="unmapped")],
            "S": lambda r: [shell("a|shell|%d" % r, one)],
            "P": lambda r: [shell("a|shell_mount|%d" % r, split_mount, register="bench_dev"),
                            shell("a|shell_unmap|%d" % r, split_unmap)],
            # the floor: two tasks of a module that does nothing
            "N": lambda r: [{"name": "a|null_1|%d" % r, "null_module": {"image": img}},
                            {"name": "a|null_2|%d" % r, "null_module": {"image": img}}],
        }
        for r in range(n + 1):
            for u in rotate("MSPN", r):
                tasks += units[u](r)
        # b: no-op re-run against stat and an empty module, each going first in turn
        tasks.append(mod("b|setup|0", image=img, path=mnt_b, partition="2"))
        for r in range(n + 1):
            trio = [mod("b|mod_noop|%d" % r, image=img, path=mnt_b, partition="2"),
                    {"name": "b|stat|%d" % r, "ansible.builtin.stat": {"path": mnt_b}},
                    {"name": "b|null|%d" % r, "null_module": {"image": img}}]
            tasks += rotate(trio, r)
        tasks.append(mod("b|teardown|0", image=img, path=mnt_b, state="unmapped"))
        # c at the Ansible level: qcow2 to a usable whole device, and back
        for r in range(self.opts.c_ansible_rounds + 1):
            m = [mod("c|mod_map|%d" % r, image=self.qcow, state="mapped", partition="0"),
                 mod("c|mod_unmap|%d" % r, image=self.qcow, state="unmapped"),
                 {"name": "c|drop_cache|%d" % r, "ansible.builtin.file": {"path": qcow_cache, "state": "absent"}},
                 mod("c|mod_map_cold|%d" % r, image=self.qcow, state="mapped", partition="0"),
                 mod("c|mod_unmap_cold|%d" % r, image=self.qcow, state="unmapped")]
            s = [shell("c|shell_map|%d" % r, c_start, register="bench_cdev"),
                 shell("c|shell_unmap|%d" % r, c_stop)]
            # the floor: what a module task costs above a shell task when neither does any work
            f = [{"name": "c|null|%d" % r, "null_module": {"image": self.qcow}},
                 shell("c|shell_empty|%d" % r, ":")]
            for part in rotate([m, s, f], r):
                tasks += part
        play = [{"name": "virt.disk bench a, b, c", "hosts": "localhost", "gather_facts": False,
                 "tasks": tasks}]
        data, _rc, wall = self.playbook("abc", play)
        self.result["abc_playbook_wall_s"] = wall

        # ---- a
        d = self.durations(data, "a")
        rounds = range(1, n + 1)
        mod_cycle = self.per_round(d, rounds, "mod_mount", "mod_unmap")
        shell_cycle = self.per_round(d, rounds, "shell")
        split_cycle = self.per_round(d, rounds, "shell_mount", "shell_unmap")
        null_cycle = self.per_round(d, rounds, "null_1", "null_2")
        a = {"what": "raw GPT image, partition 2: image_mount mounted + unmapped (2 tasks) vs the same "
                     "steps in 1 shell task (and in 2 shell tasks)",
             "module_cycle_s": summary(mod_cycle), "shell_cycle_s": summary(shell_cycle),
             "shell_2tasks_cycle_s": summary(split_cycle),
             "null_2tasks_s": summary(null_cycle),
             "module_mount_s": summary(self.per_round(d, rounds, "mod_mount")),
             "module_unmap_s": summary(self.per_round(d, rounds, "mod_unmap")),
             "per_round": {"module": mod_cycle, "shell": shell_cycle, "shell_2tasks": split_cycle,
                           "null_2tasks": null_cycle},
             "goal_ratio": GOALS["a"]}
        if mod_cycle and shell_cycle:
            a["ratio"] = med(mod_cycle) / med(shell_cycle)
        if mod_cycle and split_cycle:
            a["ratio_vs_2_shell_tasks"] = med(mod_cycle) / med(split_cycle)
        if null_cycle and shell_cycle:
            # two tasks of a module that does nothing, against the one shell task: no module can beat this
            a["floor_ratio"] = med(null_cycle) / med(shell_cycle)
        if null_cycle and split_cycle:
            a["floor_ratio_vs_2_shell_tasks"] = med(null_cycle) / med(split_cycle)
        mount_own = [m - s for m, s in zip(self.per_round(d, rounds, "mod_mount"),
                                           self.per_round(d, rounds, "shell_mount"))]
        if mount_own:
            # the module's own time in a mount task: above a shell task that runs the same tools (a shell task is an
            # empty module run plus bash and the tools)
            a["module_own_mount_s"] = med(mount_own)
        for res in self.results(data, "a", "mod_mount"):
            if not res.get("changed"):
                self.failures.append("a: a mount task reported no change: %s" % res)
        self.result["a"] = a

        # ---- b
        d = self.durations(data, "b")
        noop = self.per_round(d, rounds, "mod_noop")
        stat = self.per_round(d, rounds, "stat")
        null = self.per_round(d, rounds, "null")
        b = {"what": "image_mount re-run on a mounted image (no change) vs ansible.builtin.stat on the mount point",
             "module_noop_s": summary(noop), "stat_s": summary(stat), "null_s": summary(null),
             "per_round": {"module": noop, "stat": stat, "null": null}, "goal_ratio": GOALS["b"]}
        if noop and stat:
            b["ratio"] = med(noop) / med(stat)
        if null and stat:
            b["floor_ratio"] = med(null) / med(stat)
        if noop and null:
            b["module_own_noop_s"] = med([m - n for m, n in zip(noop, null)])
        for res in self.results(data, "b", "mod_noop"):
            if res.get("changed"):
                self.failures.append("b: the no-op re-run reported a change: %s" % res)
        self.result["b"] = b

        # ---- c (Ansible level)
        d = self.durations(data, "c")
        cr = range(1, self.opts.c_ansible_rounds + 1)
        c_mod = self.per_round(d, cr, "mod_map")
        c_sh = self.per_round(d, cr, "shell_map")
        c_cold = self.per_round(d, cr, "mod_map_cold")
        c_floor = [d["null"][r] - d["shell_empty"][r] for r in cr
                   if r in d.get("null", {}) and r in d.get("shell_empty", {})]
        backends = set(res.get("backend") for res in self.results(data, "c", "mod_map"))
        self.result["c_ansible"] = {
            "what": "qcow2 to a readable whole device: image_mount state=mapped partition=0 task vs one shell task "
                    "(qemu-storage-daemon --daemonize, losetup, poll with dd)",
            "backend": sorted(b for b in backends if b),
            "module_s": summary(c_mod), "shell_s": summary(c_sh),
            "module_unmap_s": summary(self.per_round(d, cr, "mod_unmap")),
            "shell_unmap_s": summary(self.per_round(d, cr, "shell_unmap")),
            "module_cold_s": summary(c_cold),
            "per_round": {"module": c_mod, "shell": c_sh, "module_cold": c_cold},
            "delta_s": (med(c_mod) - med(c_sh)) if c_mod and c_sh else None,
            "cold_delta_s": (med(c_cold) - med(c_sh)) if c_cold and c_sh else None,
            "floor_delta_s": med(c_floor) if c_floor else None,
            "floor_per_round": c_floor,
            "goal_delta_s": GOALS["c"]}

    # ----------------------------------------------------------- c (Python level)
    def run_module(self, args, timeout=120):
        """The module run directly; return (wall s, phases dict, parsed result)."""
        fd, argfile = tempfile.mkstemp(dir=self.work, suffix=".args.json")
        with os.fdopen(fd, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
        times = argfile + ".times"
        env = dict(os.environ, PYTHONPATH=self.collections, BENCH_MODULE_TIMES=times)
        argv = [PY, os.path.join(HERE, "run_module.py"), MODULE, argfile]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
        wall = time.perf_counter() - t0
        try:
            res = json.loads(proc.stdout)
        except ValueError:
            res = {"failed": True, "msg": "no JSON: %s %s" % (proc.stdout[-500:], proc.stderr[-500:])}
        phases = {}
        if os.path.exists(times):
            with open(times) as f:
                phases = json.load(f)
            os.unlink(times)
        os.unlink(argfile)
        if res.get("failed"):
            self.failures.append("module run %s: %s" % (json.dumps(args), res.get("msg")))
        return wall, phases, res

    def drop_image_cache(self, path):
        """Forget what the module learned about an image (virt.disk's image cache), for a cold run."""
        from ansible_collections.virt.disk.plugins.module_utils.image import image
        from ansible_collections.virt.disk.plugins.module_utils.state import imagecache, statefile
        cache = statefile.path(image.inspect(path).key, kind=imagecache.KIND)
        if os.path.exists(cache):
            os.unlink(cache)
        return cache

    def run_null(self):
        fd, argfile = tempfile.mkstemp(dir=self.work, suffix=".args.json")
        with os.fdopen(fd, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": {"image": self.qcow}}, f)
        times = argfile + ".times"
        env = dict(os.environ, PYTHONPATH=self.collections, BENCH_MODULE_TIMES=times)
        t0 = time.perf_counter()
        subprocess.run([PY, os.path.join(HERE, "run_module.py"), "null_module", argfile], env=env,
                       stdout=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - t0
        with open(times) as f:
            phases = json.load(f)
        os.unlink(times)
        os.unlink(argfile)
        return wall, phases

    @staticmethod
    def readable(dev):
        try:
            fd = os.open(dev, os.O_RDONLY)
        except OSError:
            return False
        try:
            return len(os.pread(fd, 512, 0)) == 512
        except OSError:
            return False
        finally:
            os.close(fd)

    def poll(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        interval = 0.001
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError("timed out")
            time.sleep(interval)
            interval = min(interval * 2, 0.02)

    @staticmethod
    def mounted_at(path):
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)

    @staticmethod
    def bare_fuse_export(image, export, pidfile):
        """A bare qemu-storage-daemon exporting the qcow2 image writable at export (made here)."""
        with open(export, "a"):
            pass
        subprocess.run([QSD, "--blockdev", "driver=file,node-name=f,filename=%s" % image,
                        "--blockdev", "driver=qcow2,node-name=q,file=f",
                        "--export", "type=fuse,id=e,node-name=q,mountpoint=%s,writable=on" % export,
                        "--daemonize", "--pidfile", pidfile], check=True)

    @staticmethod
    def exited(pid):
        """Whether pid is gone or a zombie (its files, and so its image lock, closed)."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except (OSError, IndexError):
            return True

    def bare_fuse_unexport(self, export, pidfile):
        """Stop the daemon of bare_fuse_export, wait until it is gone (it unmounts the export before it
        closes the image and lets go of its lock, as image_mount waits for it too), and remove its export
        file and pidfile."""
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, signal.SIGTERM)
        self.poll(lambda: not self.mounted_at(export) and self.exited(pid))
        os.unlink(export)
        if os.path.exists(pidfile):
            os.unlink(pidfile)

    def bare_fuse_start(self, export, pidfile):
        t0 = time.perf_counter()
        self.bare_fuse_export(self.qcow, export, pidfile)
        dev = subprocess.run(["losetup", "-f", "--show", export], check=True, text=True,
                             stdout=subprocess.PIPE).stdout.strip()
        self.poll(lambda: self.readable(dev))
        return time.perf_counter() - t0, dev

    def bare_fuse_stop(self, dev, export, pidfile):
        t0 = time.perf_counter()
        subprocess.run(["losetup", "-d", dev], check=True)
        self.bare_fuse_unexport(export, pidfile)
        return time.perf_counter() - t0

    def free_nbd(self):
        for name in sorted(os.listdir("/sys/block")):
            if name.startswith("nbd") and not os.path.exists("/sys/block/%s/pid" % name):
                with open("/sys/block/%s/size" % name) as f:
                    if f.read().strip() == "0":
                        return "/dev/" + name
        return None

    def bare_nbd_start(self):
        t0 = time.perf_counter()
        dev = self.free_nbd()
        subprocess.run(["qemu-nbd", "-f", "qcow2", "-c", dev, self.qcow], check=True)
        pid = "/sys/block/%s/pid" % os.path.basename(dev)
        self.poll(lambda: os.path.exists(pid))
        return time.perf_counter() - t0, dev

    def bare_nbd_stop(self, dev):
        t0 = time.perf_counter()
        subprocess.run(["qemu-nbd", "-d", dev], check=True, stdout=subprocess.DEVNULL)
        pid = "/sys/block/%s/pid" % os.path.basename(dev)
        self.poll(lambda: not os.path.exists(pid))
        return time.perf_counter() - t0

    def run_python_c(self):
        backends = []
        if self.result["host"]["nbd"]:
            backends.append("nbd")
        if self.result["host"]["fuse"]:
            backends.append("fuse")
        out = {"what": "qcow2 to a readable whole device, without Ansible: the module run directly "
                       "(python bench/run_module.py = python -m ...image_mount ARGS.json, state=mapped, "
                       "partition=0) vs the bare commands run from Python with subprocess, both timed "
                       "from start until the device reads", "goal_delta_s": GOALS["c"], "backends": {}}
        if not backends:
            out["skipped"] = "neither nbd nor fuse on this host"
        export = os.path.join(self.work, "c-py-export.raw")
        pidfile = os.path.join(self.work, "c-py-export.pid")
        self.bare_exports.append((export, pidfile))
        null = [self.run_null() for _round in range(self.opts.rounds)]
        out["null_module_s"] = summary([w for w, _imports in null])
        out["null_module_imports_s"] = summary([p["imports"] for _wall, p in null])
        for backend in backends:
            rec = {"module_s": [], "module_imports_s": [], "module_main_s": [], "bare_s": [],
                   "module_unmap_s": [], "bare_unmap_s": [], "module_readable": [], "module_cold_s": []}
            args = {"image": self.qcow, "state": "mapped", "partition": "0", "backend": backend}
            for r in range(self.opts.rounds + 1):
                order = ("module", "bare") if r % 2 == 0 else ("bare", "module")
                for who in order:
                    if who == "module":
                        wall, phases, res = self.run_module(args)
                        readable = bool(res.get("device")) and self.readable(res["device"])
                        uwall, _p, _r = self.run_module({"image": self.qcow, "state": "unmapped"})
                        # cold: without its image cache the module runs qemu-img info and
                        # check and the partition probe again (as for a changed image)
                        self.drop_image_cache(self.qcow)
                        cwall, _p, _r = self.run_module(args)
                        self.run_module({"image": self.qcow, "state": "unmapped"})
                        if r:
                            rec["module_cold_s"].append(cwall)
                            rec["module_s"].append(wall)
                            rec["module_imports_s"].append(phases.get("imports"))
                            rec["module_main_s"].append(phases.get("main"))
                            rec["module_unmap_s"].append(uwall)
                            rec["module_readable"].append(readable)
                    else:
                        if backend == "fuse":
                            wall, dev = self.bare_fuse_start(export, pidfile)
                            uwall = self.bare_fuse_stop(dev, export, pidfile)
                        else:
                            wall, dev = self.bare_nbd_start()
                            uwall = self.bare_nbd_stop(dev)
                        if r:
                            rec["bare_s"].append(wall)
                            rec["bare_unmap_s"].append(uwall)
            if not all(rec["module_readable"]):
                self.failures.append("c: the device the module returned was not readable right after the run")
            summ = dict((k, summary(v)) for k, v in rec.items() if k != "module_readable")
            summ["per_round"] = {"module": rec["module_s"], "bare": rec["bare_s"]}
            summ["delta_s"] = med(rec["module_s"]) - med(rec["bare_s"])
            summ["cold_delta_s"] = med(rec["module_cold_s"]) - med(rec["bare_s"])
            summ["delta_minus_null_module_s"] = summ["delta_s"] - out["null_module_s"]["median"]
            summ["module_main_minus_bare_s"] = med(rec["module_main_s"]) - med(rec["bare_s"])
            out["backends"][backend] = summ
        if not self.result["host"]["nbd"]:
            out["nbd"] = "not measured: no /sys/block/nbd0 on this host (no nbd in the kernel)"
        self.result["c"] = out

    # ------------------------------------------------------------------ d
    def run_parallel(self):
        n = len(self.d_images)
        inv = {"all": {"hosts": {}}}
        for i, img in enumerate(self.d_images):
            inv["all"]["hosts"]["bench%02d" % i] = {
                "ansible_connection": "local", "ansible_python_interpreter": PY,
                "bench_image": img, "bench_path": self.mount_point("d%02d" % i)}
        path = os.path.join(self.work, "inventory-d.json")
        with open(path, "w") as f:
            json.dump(inv, f)
        play = [{"name": "virt.disk bench d", "hosts": "all", "gather_facts": False, "tasks": [
            {"name": "d|mount|0", "virt.disk.image_mount": {"image": "{{ bench_image }}", "path": "{{ bench_path }}",
                                                            "partition": "2"}},
            {"name": "d|unmap|0", "virt.disk.image_mount": {"image": "{{ bench_image }}", "path": "{{ bench_path }}",
                                                            "state": "unmapped"}},
        ]}]
        # the floor: the same two tasks on the same hosts, of a module that does nothing
        null_play = [{"name": "virt.disk bench d, the floor", "hosts": "all", "gather_facts": False, "tasks": [
            {"name": "d|mount|0", "null_module": {"image": "{{ bench_image }}"}},
            {"name": "d|unmap|0", "null_module": {"image": "{{ bench_image }}"}},
        ]}]
        out = {"what": "%d raw images, one per host alias of localhost: forks=%d vs forks=1" % (n, n), "images": n}
        for label, forks in (("parallel", n), ("serial", 1)):
            for name, plays in ((label, play), ("null_" + label, null_play)):
                data, rc, wall = self.playbook("d-" + name, plays, inventory=path, forks=forks)
                rec = {"forks": forks, "playbook_wall_s": wall, "rc": rc}
                for task in data["tasks"]:
                    kind = task["name"].split("|")[1]
                    ends = [h["end"] for h in task["hosts"].values() if "end" in h]
                    ok = [h for h in task["hosts"].values() if h.get("status") == "ok"]
                    rec[kind + "_wall_s"] = (max(ends) - task["start"]) if ends else None
                    rec[kind + "_ok"] = len(ok)
                    if kind == "mount" and plays is play:
                        devices = [h["result"].get("partition_device") for h in ok]
                        rec["distinct_devices"] = len(set(devices))
                rec["failed"] = n * 2 - rec.get("mount_ok", 0) - rec.get("unmap_ok", 0)
                out[name] = rec
        for prefix, key in (("", "speedup"), ("null_", "floor")):
            p, s = out[prefix + "parallel"], out[prefix + "serial"]
            if p.get("mount_wall_s") and s.get("mount_wall_s") and p.get("unmap_wall_s") and s.get("unmap_wall_s"):
                out[key + "_mount"] = s["mount_wall_s"] / p["mount_wall_s"]
                out[key + "_unmap"] = s["unmap_wall_s"] / p["unmap_wall_s"]
                out[key + "_total"] = ((s["mount_wall_s"] + s["unmap_wall_s"])
                                       / (p["mount_wall_s"] + p["unmap_wall_s"]))
        for label in ("parallel", "serial"):
            if out[label]["failed"] or out[label].get("distinct_devices") != n:
                self.failures.append("d: %s run: %d failed tasks, %s distinct devices"
                                     % (label, out[label]["failed"], out[label].get("distinct_devices")))
            if out["null_" + label]["failed"]:
                self.failures.append("d: the floor's %s run: %d failed tasks" % (label, out["null_" + label]["failed"]))
        self.result["d"] = out

    # ------------------------------------------------------------------ t (tree)
    def make_tree_image(self):
        """The Debian disk of the integration target image_mount_os (ESP, /boot, root, /var xfs, /home in
        a btrfs subvolume, from its fstab), as qcow2; built from hack/debian-rootfs.sh's userland."""
        rootfs = sh([os.path.join(REPO, "hack", "debian-rootfs.sh")]).stdout.strip()
        raw = os.path.join(self.work, "debian.img")
        sh(["sh", os.path.join(REPO, "tests", "integration", "targets", "image_mount_tree", "files", "build_tree.sh"),
            raw, "debian", rootfs])
        sh(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, self.tree_qcow])
        os.unlink(raw)

    def tree_scripts(self, mnt, vfat):
        """The tree mounted by hand in one shell task, as the image's fstab says (the module's options), and
        taken down in another: a user who knows the layout writes this."""
        esp = 'mount -o umask=0077,nodev,nosuid "${dev}p1" %s/boot/efi\n' % mnt if vfat else ""
        mounts = ('partx -a "$dev"\n'
                  'mount -o errors=remount-ro,nodev,nosuid "${dev}p3" %(m)s\n'
                  'mount -o nodev,nosuid "${dev}p2" %(m)s/boot\n'
                  'mount -o nodev,nosuid "${dev}p4" %(m)s/var\n'
                  'mount -o subvol=@home,nodev,nosuid "${dev}p5" %(m)s/home\n' % {"m": mnt}) + esp
        unmounts = "umount -R %s\npartx -d '{{ bench_tdev.stdout }}'\n" % mnt
        return self.bare_fuse_script(self.tree_qcow, "t", register="bench_tdev", then=mounts, first=unmounts)

    def run_tree(self):
        n = self.opts.tree_rounds
        self.make_tree_image()
        vfat = any(line.split()[-1] == "vfat" for line in open("/proc/filesystems"))
        mnt_m, mnt_s = self.mount_point("t-module"), self.mount_point("t-shell")
        mount, unmount = self.tree_scripts(mnt_s, vfat)

        def mod(name, **args):
            return module_task(name, image=self.tree_qcow, **args)
        shell = shell_task
        tasks = []
        guestmount = shutil.which("guestmount") if self.opts.guestmount else None
        mnt_g = self.mount_point("t-guestmount")
        gpid = os.path.join(self.work, "guestmount.pid")
        for r in range(n + 1):
            m = [mod("t|mod_mount|%d" % r, path=mnt_m, layout="tree"),
                 mod("t|mod_down|%d" % r, path=mnt_m, state="unmapped")]
            s = [shell("t|shell_mount|%d" % r, mount, register="bench_tdev"), shell("t|shell_down|%d" % r, unmount)]
            units = [m, s]
            if guestmount and r < self.opts.guestmount_rounds + 1:
                units.append([shell("t|guestmount|%d" % r, "LIBGUESTFS_BACKEND=direct guestmount --format=qcow2 "
                                    "--pid-file %s -a %s -i %s" % (gpid, self.tree_qcow, mnt_g)),
                              shell("t|guestcheck|%d" % r, "for f in boot/efi var/lib/dpkg/status home; do "
                                    "[ -e %s/$f ] && echo \"$f\"; done; true" % mnt_g, register="bench_guest"),
                              # its qemu holds the image's lock until it has exited
                              shell("t|guestunmount|%d" % r, "guestunmount %s\nwhile kill -0 \"$(cat %s)\" "
                                    "2>/dev/null; do sleep 0.05; done" % (mnt_g, gpid))])
            for unit in rotate(units, r):
                tasks += unit
        play = [{"name": "virt.disk bench t", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        data, _rc, _wall = self.playbook("t", play)
        d = self.durations(data, "t")
        rounds = range(1, n + 1)
        mod_mount, sh_mount = self.per_round(d, rounds, "mod_mount"), self.per_round(d, rounds, "shell_mount")
        mod_down, sh_down = self.per_round(d, rounds, "mod_down"), self.per_round(d, rounds, "shell_down")
        backends = sorted(set(res.get("backend") for res in self.results(data, "t", "mod_mount")) - {None})
        trees = [[m["target"] for m in res.get("tree", [])] for res in self.results(data, "t", "mod_mount")]
        t = {"what": "the whole tree of a Debian qcow2 image from its fstab: one image_mount task (layout tree) "
                     "vs the same mounts by hand in one shell task, and the teardowns",
             "backend": backends, "tree": trees[0] if trees else None,
             "module_mount_s": summary(mod_mount), "shell_mount_s": summary(sh_mount),
             "module_down_s": summary(mod_down), "shell_down_s": summary(sh_down),
             "per_round": {"module": mod_mount, "shell": sh_mount, "module_down": mod_down, "shell_down": sh_down}}
        if mod_mount and sh_mount:
            t["ratio"] = med(mod_mount) / med(sh_mount)
        if mod_down and sh_down:
            t["down_ratio"] = med(mod_down) / med(sh_down)
        g = self.per_round(d, range(1, self.opts.guestmount_rounds + 1), "guestmount")
        if g:
            t["guestmount_s"] = summary(g)
            t["guestunmount_s"] = summary(self.per_round(d, range(1, self.opts.guestmount_rounds + 1),
                                                         "guestunmount"))
            t["guestmount_ratio"] = med(g) / med(mod_mount) if mod_mount else None
            t["guestmount_found"] = [res.get("stdout_lines") for res in self.results(data, "t", "guestcheck")]
        elif not self.opts.guestmount:
            t["guestmount"] = "not asked for (--no-guestmount)"
        else:
            t["guestmount"] = "failed (see %s)" % os.path.join(self.logs, "t.log") if guestmount else "not installed"
        if any(tr != trees[0] for tr in trees) or not trees or "/var" not in trees[0]:
            self.failures.append("t: the module's trees differ or lack /var: %s" % trees)
        self.result["t"] = t

    # ------------------------------------------------------- x (the connection)
    # the customization: (task through the connection, the same by hand in the chroot)
    X_WORK = [
        ({"ansible.builtin.copy": {"dest": "/etc/motd", "content": "customized by virt.disk\n", "mode": "0644"}},
         "printf 'customized by virt.disk\\n' > /etc/motd"),
        ({"ansible.builtin.lineinfile": {"path": "/etc/default/locale", "line": "LANG=C.UTF-8", "create": True,
                                         "mode": "0644"}},
         "grep -qx LANG=C.UTF-8 /etc/default/locale 2>/dev/null || echo LANG=C.UTF-8 >> /etc/default/locale"),
        ({"ansible.builtin.file": {"path": "/srv/app", "state": "directory", "mode": "0755"}},
         "mkdir -p -m 0755 /srv/app"),
        ({"ansible.builtin.copy": {"dest": "/srv/app/app.ini", "content": "[app]\nport = 8080\n", "mode": "0640"}},
         "printf '[app]\\nport = 8080\\n' > /srv/app/app.ini && chmod 0640 /srv/app/app.ini"),
        ({"ansible.builtin.user": {"name": "builder", "shell": "/bin/bash"}},
         "id builder >/dev/null 2>&1 || useradd -m -s /bin/bash builder"),
        ({"ansible.builtin.file": {"path": "/var/log/app.log", "state": "touch", "mode": "0640"}},
         "touch /var/log/app.log && chmod 0640 /var/log/app.log"),
        ({"ansible.builtin.lineinfile": {"path": "/etc/hosts", "line": "127.0.1.1 golden", "create": True,
                                         "mode": "0644"}},
         "grep -qx '127.0.1.1 golden' /etc/hosts || echo '127.0.1.1 golden' >> /etc/hosts"),
        ({"ansible.builtin.file": {"path": "/etc/app.d", "state": "directory", "mode": "0755"}},
         "mkdir -p -m 0755 /etc/app.d"),
        ({"ansible.builtin.copy": {"dest": "/etc/app.d/10-bench.conf", "content": "level = 1\n", "mode": "0644"}},
         "printf 'level = 1\\n' > /etc/app.d/10-bench.conf"),
        ({"ansible.builtin.command": {"argv": ["dpkg-query", "-W", "python3"]}, "changed_when": False},
         "dpkg-query -W python3"),
    ]

    def x_overlays(self, names):
        """Fresh qcow2 overlays of the Debian image (the base stays as it is)."""
        paths = []
        for name in names:
            path = os.path.join(self.work, "x", name + ".qcow2")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.exists(path):
                os.unlink(path)
            sh(["qemu-img", "create", "-q", "-f", "qcow2", "-b", self.tree_qcow, "-F", "qcow2", path])
            paths.append(path)
        self.x_images.update(paths)
        return paths

    def x_connection_run(self, name, images, forks):
        """The customization through the connection on IMAGES, taken down at the end; wall seconds."""
        inventory = os.path.join(self.work, "x", name + ".json")
        hosts = {os.path.basename(p)[:-6]: {"ansible_host": p} for p in images}
        with open(inventory, "w") as f:
            json.dump({"all": {"hosts": hosts, "vars": {"ansible_connection": "virt.disk.image",
                                                        "ansible_python_interpreter": "/usr/bin/python3",
                                                        "virt_disk_allow_backing_file": True}}}, f)
        tasks = [dict(work, name="x|conn%d" % i) for i, (work, _sh) in enumerate(self.X_WORK)]
        tasks.append({"name": "x|reset", "ansible.builtin.meta": "reset_connection"})
        play = [{"name": "virt.disk bench x " + name, "hosts": "all", "gather_facts": False, "tasks": tasks}]
        _data, rc, wall = self.playbook(name, play, inventory=inventory, forks=forks)
        return wall if rc == 0 else None

    def x_hand_run(self, name, image):
        mnt = self.mount_point("x-hand")
        tasks = [module_task("x|mount", image=image, path=mnt, layout="tree", runtime="chroot",
                             allow_backing_file=True)]
        tasks += [shell_task("x|hand%d" % i, "chroot %s sh -c %s" % (mnt, shlex.quote(script)))
                  for i, (_work, script) in enumerate(self.X_WORK)]
        tasks.append(module_task("x|down", image=image, path=mnt, state="absent", allow_backing_file=True))
        play = [{"name": "virt.disk bench x " + name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
        _data, rc, wall = self.playbook(name, play)
        return wall if rc == 0 else None

    def run_connection(self):
        if not os.path.exists(self.tree_qcow):
            self.make_tree_image()
        n = self.opts.x_rounds
        conn, hand = [], []
        for r in range(n + 1):  # round 0 warms up and is not counted
            units = [("conn", lambda r=r: self.x_connection_run("x-conn-%d" % r, self.x_overlays(["xc"]), 1)),
                     ("hand", lambda r=r: self.x_hand_run("x-hand-%d" % r, self.x_overlays(["xh"])[0]))]
            for kind, unit in rotate(units, r):
                wall = unit()
                if r and wall is not None:
                    (conn if kind == "conn" else hand).append(wall)
        x = {"what": "10-task customization of a Debian qcow2 overlay through the virt.disk.image connection "
                     "(mount and teardown included) vs image_mount + 10 chroot shell tasks + image_mount absent; "
                     "ansible-playbook wall time",
             "connection_s": summary(conn), "hand_s": summary(hand), "per_round": {"connection": conn, "hand": hand}}
        if conn and hand:
            x["ratio"] = med(conn) / med(hand)
        names = ["xp%d" % i for i in range(1, 9)]
        serial = self.x_connection_run("x-serial", self.x_overlays(names), 1)
        parallel = self.x_connection_run("x-parallel", self.x_overlays(names), 8)
        x["eight"] = {"serial_s": serial, "parallel_s": parallel}
        if serial and parallel:
            x["eight"]["speedup"] = serial / parallel
        self.result["x"] = x

    def export_of(self, tag):
        return os.path.join(self.work, "%s-shell-export.raw" % tag)

    # --------------------------------------------------------- cleanup, leaks
    def images(self):
        return [self.raw, self.qcow, self.tree_qcow] + self.d_images + sorted(self.x_images)

    def module_exports(self):
        from ansible_collections.virt.disk.plugins.module_utils.backends import fuse
        from ansible_collections.virt.disk.plugins.module_utils.image import image
        out = []
        for img in self.images():
            if os.path.exists(img):
                out.append(fuse.export_path(image.inspect(img).key))
        return out

    def qsd_of_mine(self):
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                with open("/proc/%s/status" % pid) as f:
                    zombie = any(line.startswith("State:") and "Z" in line for line in f)
            except OSError:
                continue
            if argv and os.path.basename(argv[0]) == QSD and not zombie and any(self.work in a for a in argv):
                found.append(int(pid))
        return found

    def leaks(self):
        found = []
        for f in self.images() + self.module_exports() + [e for e, _pid in self.bare_exports]:
            if os.path.exists(f):
                out = sh(["losetup", "-j", f], check=False).stdout.strip()
                if out:
                    found.append("loop: " + out)
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                src = fields[fields.index("-") + 2]
                if fields[4].startswith(self.work) or src.startswith(self.work):
                    found.append("mount: %s on %s" % (src, fields[4]))
        for pid in self.qsd_of_mine():
            found.append("process: %s pid %d" % (QSD, pid))
        return found

    def cleanup(self):
        """Take down whatever of ours is still attached (only after a failure should there be any)."""
        if not self.leaks():
            return
        log("cleaning up what a failed run left")
        for img in self.images():
            if os.path.exists(img):
                self.run_module({"image": img, "state": "unmapped", "timeout": 10})
        for export, pidfile in self.bare_exports:
            if os.path.exists(export):
                for line in sh(["losetup", "-j", export], check=False).stdout.splitlines():
                    sh(["losetup", "-d", line.split(":")[0]], check=False)
        for pid in self.qsd_of_mine():
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        with open("/proc/self/mountinfo") as f:
            mine = [line.split()[4] for line in f if line.split()[4].startswith(self.work)]
        for path in sorted(mine, reverse=True):
            sh(["umount", "--lazy", path], check=False)

    # ------------------------------------------------------------ report
    def table(self):
        r = self.result
        rows = []

        def verdict(ok):
            return "pass" if ok else "**fail**"
        a = r.get("a", {})
        if "ratio_vs_2_shell_tasks" in a:
            rows.append(("a. mount + unmap cycle, raw GPT image: image_mount (2 tasks) / the same commands in 2 shell "
                         "tasks", "≤ %.2f×" % GOALS["a"],
                         "%.2f× (%.0f ms / %.0f ms; vs 1 shell task %.2f×); floor: 2 tasks of an empty "
                         "module / 2 shell tasks %.2f×" % (a["ratio_vs_2_shell_tasks"],
                                                           1000 * a["module_cycle_s"]["median"],
                                                           1000 * a["shell_2tasks_cycle_s"]["median"],
                                                           a.get("ratio", float("nan")),
                                                           a.get("floor_ratio_vs_2_shell_tasks", float("nan"))),
                         verdict(a["ratio_vs_2_shell_tasks"] <= GOALS["a"])))
        b = r.get("b", {})
        if "module_own_noop_s" in b and "module_own_mount_s" in a:
            rows.append(("a2. the module's own time per task: a no-op above an empty module task; a mount above a "
                         "shell task running the same tools", "≤ %.0f ms; ≤ %.0f ms"
                         % (1000 * GOALS["a2_noop"], 1000 * GOALS["a2_mount"]),
                         "%.0f ms; %.0f ms" % (1000 * b["module_own_noop_s"], 1000 * a["module_own_mount_s"]),
                         verdict(b["module_own_noop_s"] <= GOALS["a2_noop"]
                                 and a["module_own_mount_s"] <= GOALS["a2_mount"])))
        if "ratio" in b:
            measured = "%.2f× (%.0f ms / %.0f ms); an empty module task %.2f×" % (
                b["ratio"], 1000 * b["module_noop_s"]["median"], 1000 * b["stat_s"]["median"],
                b.get("floor_ratio", float("nan")))
            rows.append(("b. no-op re-run on a mounted image / `ansible.builtin.stat`", "≤ %.2f×" % GOALS["b"],
                         measured, verdict(b["ratio"] <= GOALS["b"])))
        c = r.get("c", {})
        for backend, cb in sorted(c.get("backends", {}).items()):
            rows.append(("c. the same without Ansible (%s): the module run directly vs the bare commands from Python"
                         % backend, "(reported)",
                         "+%.0f ms (%.0f ms / %.0f ms; +%.0f ms without the fixed cost of any module run; "
                         "+%.0f ms without the image cache)"
                         % (1000 * cb["delta_s"], 1000 * cb["module_s"]["median"], 1000 * cb["bare_s"]["median"],
                            1000 * cb["delta_minus_null_module_s"], 1000 * cb["cold_delta_s"]),
                         "—"))
        ca = r.get("c_ansible", {})
        if ca.get("delta_s") is not None:
            rows.insert(len(rows) - len(c.get("backends", {})),
                        ("c. qcow2 to a usable device (%s): image_mount task (state mapped) vs one shell task with the "
                         "bare `qemu-storage-daemon` / `qemu-nbd` command and a poll" % ", ".join(ca["backend"]),
                         "≤ +%d ms; ≤ +%d ms not seen before" % (1000 * GOALS["c"], 1000 * GOALS["c_cold"]),
                         "%+.0f ms (%.0f ms / %.0f ms); %+.0f ms for an image not seen before (no image cache); "
                         "an empty module task / an empty shell task %+.0f ms"
                         % (1000 * ca["delta_s"], 1000 * ca["module_s"]["median"], 1000 * ca["shell_s"]["median"],
                            1000 * ca["cold_delta_s"], 1000 * (ca.get("floor_delta_s") or float("nan"))),
                         verdict(ca["delta_s"] <= GOALS["c"] and ca["cold_delta_s"] <= GOALS["c_cold"])))
        if c.get("nbd"):
            rows.append(("c. nbd backend", "≤ +%d ms" % (1000 * GOALS["c"]), "not measured: no nbd here", "—"))
        d = r.get("d", {})
        if "speedup_total" in d:
            p, s = d["parallel"], d["serial"]
            ok = not p["failed"] and not s["failed"] and d["speedup_mount"] >= GOALS["d"] \
                and d["speedup_unmap"] >= GOALS["d"]
            rows.append(("d. %d images mounted in parallel (forks=%d) vs one after another, then taken down"
                         % (d["images"], d["images"]), "no failure, ≥ %.1f× each" % GOALS["d"],
                         "%d failures; mount %.1f s vs %.1f s (%.1f×), teardown %.1f s vs %.1f s (%.1f×); "
                         "the same tasks of an empty module %.1f× and %.1f×"
                         % (p["failed"] + s["failed"], p["mount_wall_s"], s["mount_wall_s"], d["speedup_mount"],
                            p["unmap_wall_s"], s["unmap_wall_s"], d["speedup_unmap"],
                            d.get("floor_mount", float("nan")), d.get("floor_unmap", float("nan"))),
                         verdict(ok)))
        t = r.get("t", {})
        if "ratio" in t:
            rows.append(("t. the whole OS tree of a Debian qcow2 (%s; %s) from its fstab: image_mount layout tree "
                         "(1 task) / the same mounts by hand in 1 shell task" % (", ".join(t["backend"]),
                                                                                 " ".join(t["tree"])),
                         "(reported)",
                         "%.2f× (%.0f ms / %.0f ms); teardown %.2f× (%.0f ms / %.0f ms)"
                         % (t["ratio"], 1000 * t["module_mount_s"]["median"], 1000 * t["shell_mount_s"]["median"],
                            t.get("down_ratio", float("nan")), 1000 * t["module_down_s"]["median"],
                            1000 * t["shell_down_s"]["median"]), "—"))
            if t.get("guestmount_ratio"):
                rows.append(("t. `guestmount -i` (libguestfs, LIBGUESTFS_BACKEND=direct, no KVM here) on the same "
                             "image / image_mount layout tree", "(reported)",
                             "%.1f× (%.1f s / %.2f s); guestunmount %.1f s; of boot/efi, var/lib/dpkg/status, "
                             "home it showed %s" % (t["guestmount_ratio"], t["guestmount_s"]["median"],
                                                    t["module_mount_s"]["median"], t["guestunmount_s"]["median"],
                                                    t["guestmount_found"][-1]), "—"))
            else:
                rows.append(("t. `guestmount -i` on the same image", "(reported)", t.get("guestmount", "failed"), "—"))
        x = r.get("x", {})
        if "ratio" in x:
            rows.append(("x. a 10-task customization of a Debian qcow2 through the `virt.disk.image` connection "
                         "(mount and teardown included) / image_mount + 10 `chroot` shell tasks + absent, "
                         "playbook wall time", "(reported)",
                         "%.2f× (%.1f s / %.1f s, median of %d rounds)"
                         % (x["ratio"], x["connection_s"]["median"], x["hand_s"]["median"], len(x["per_round"]["hand"])),
                         "—"))
        eight = x.get("eight", {})
        if eight.get("speedup"):
            rows.append(("x. the same on 8 images as 8 hosts: forks=8 vs forks=1", "(reported)",
                         "%.1f× (%.1f s vs %.1f s)" % (eight["speedup"], eight["parallel_s"], eight["serial_s"]),
                         "—"))
        e = r.get("e", {})
        for name, ratio in sorted(e.get("ratio", {}).items()):
            mbs, host = e["mb_s"][name], e["mb_s"]["host"]
            goal = GOALS["e"].get(name, 0)
            rows.append(("e. data path, %s: %s / on the host filesystem: first write, steady write, read"
                         % (name, e["what"].split(", against")[0]), "≥ %.0f%% each" % (100 * goal),
                         "%.0f%%, %.0f%%, %.0f%% (%.0f, %.0f, %.0f MB/s; host %.0f, %.0f, %.0f)"
                         % tuple([100 * ratio[k] for k in ("first", "steady", "read")]
                                 + [mbs[k]["median"] for k in ("first", "steady", "read")]
                                 + [host[k]["median"] for k in ("first", "steady", "read")])
                         + ("; floor, the export file itself written and read directly: %.0f%%, %.0f%%, %.0f%%"
                            % tuple(100 * e["floor"][name][k] for k in ("first", "steady", "read"))
                            if e.get("floor", {}).get(name) else ""),
                         verdict(min(ratio.values()) >= goal)))
        f = r.get("f", {})
        if "ratio" in f:
            rows.append(("f. the module run directly on a host with %d more loop devices and %d more mounts / on a "
                         "quiet host: a no-op run; a mounted + unmapped cycle" % (f["loops"], f["mounts"]),
                         "≤ %.2f×" % GOALS["f"],
                         "%.2f× (%.0f ms / %.0f ms); %.2f× (%.0f ms / %.0f ms)"
                         % (f["ratio"]["noop"], 1000 * med(f["busy"]["noop_s"]), 1000 * med(f["quiet"]["noop_s"]),
                            f["ratio"]["cycle"], 1000 * med(f["busy"]["cycle_s"]), 1000 * med(f["quiet"]["cycle_s"])),
                         verdict(max(f["ratio"].values()) <= GOALS["f"])))
        lk = r.get("leaks_after")
        rows.append(("nothing of the bench's images left (loop, mounts, qemu-storage-daemon)", "none",
                     "none" if not lk else "; ".join(lk), verdict(not lk)))
        lines = ["| benchmark | goal | measured (median of %d rounds) | result |" % r["rounds"],
                 "|---|---|---|---|"]
        lines += ["| %s | %s | %s | %s |" % row for row in rows]
        host = r["host"]
        lines.append("")
        lines.append("Measured by `make bench` on %s, %d CPUs, ansible-core %s, Python %s (%s); load average "
                     "%.1f at the start, %.1f at the end. Times are per task as Ansible sees them (task start to "
                     "result), or the wall time of the process for the module run directly; the fixed cost of any "
                     "module run is an empty AnsibleModule run (%.0f ms here)."
                     % (host["kernel"], host["cpus"], host.get("ansible_core"), host["python"],
                        time.strftime("%Y-%m-%d"), host["loadavg_start"][0],
                        host.get("loadavg_end", [float("nan")])[0],
                        1000 * (r.get("c", {}).get("null_module_s") or {}).get("median", float("nan"))))
        return "\n".join(lines) + "\n"

    def chart(self, path):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        r = self.result
        x = r.get("x", {})
        e, f = r.get("e", {}), r.get("f", {})
        n_rows = 2 + (1 if x else 0) + (1 if e or f else 0)
        fig, axes = plt.subplots(n_rows, 2, figsize=(12, 4.2 * n_rows + 0.1))
        fig.suptitle("virt.disk benchmark (%s, %d CPUs)" % (r["host"]["kernel"], r["host"]["cpus"]))

        def strip(ax, series, title, unit="ms", scale=1000.0):
            labels = [s[0] for s in series]
            data = [[v * scale for v in s[1]] for s in series]
            ax.boxplot(data, showfliers=False, widths=0.5)
            ax.set_xticks(range(1, len(labels) + 1))
            ax.set_xticklabels(labels, fontsize=9)
            for i, vals in enumerate(data, 1):
                ax.scatter([i + (j % 5 - 2) * 0.04 for j in range(len(vals))], vals, s=9, alpha=0.6)
                if vals:
                    ax.annotate(("%.1f" if unit == "s" else "%.0f") % statistics.median(vals), (i + 0.28, statistics.median(vals)), fontsize=8,
                                va="center")
            ax.set_ylabel(unit)
            ax.set_ylim(bottom=0)
            ax.set_title(title, fontsize=10)
            ax.grid(axis="y", alpha=0.3)

        a = r.get("a")
        if a:
            strip(axes[0][0], [("image_mount\nmounted+unmapped", a["per_round"]["module"]),
                               ("1 shell task", a["per_round"]["shell"]),
                               ("2 shell tasks", a["per_round"]["shell_2tasks"]),
                               ("2 empty\nmodule tasks", a["per_round"].get("null_2tasks", []))],
                  "a. mount+unmap cycle, raw image: %.2f× (goal ≤ %.2f×; floor %.2f×)"
                  % (a.get("ratio", 0), GOALS["a"], a.get("floor_ratio", 0)))
        b = r.get("b")
        if b:
            strip(axes[0][1], [("image_mount\nno-op", b["per_round"]["module"]), ("stat", b["per_round"]["stat"]),
                               ("empty\nmodule", b["per_round"].get("null", []))],
                  "b. no-op re-run vs stat: %.2f× (goal ≤ %.2f×)" % (b.get("ratio", 0), GOALS["b"]))
        c = r.get("c", {})
        series = []
        ca = r.get("c_ansible")
        title = "c. qcow2 to a usable device"
        if ca and ca.get("delta_s") is not None:
            title += ": task +%.0f ms (goal ≤ +%d ms)" % (1000 * ca["delta_s"], 1000 * GOALS["c"])
        for backend, cb in sorted(c.get("backends", {}).items()):
            series += [("module direct\n(%s)" % backend, cb["per_round"]["module"]),
                       ("bare cmds\n(%s)" % backend, cb["per_round"]["bare"])]
            title += "; direct +%.0f ms" % (1000 * cb["delta_s"])
        n_direct = len(series)
        if ca and ca.get("per_round"):
            series += [("image_mount\ntask", ca["per_round"]["module"]),
                       ("image_mount\nno cache", ca["per_round"].get("module_cold", [])),
                       ("shell\ntask", ca["per_round"]["shell"])]
        if series:
            strip(axes[1][0], series, title)
            if 0 < n_direct < len(series):
                axes[1][0].axvline(n_direct + 0.5, color="black", lw=0.8)
                top = axes[1][0].get_ylim()[1]
                axes[1][0].annotate("run directly", (n_direct / 2.0 + 0.5, top * 0.95), ha="center", fontsize=8)
                axes[1][0].annotate("through Ansible (per task)", ((n_direct + len(series)) / 2.0 + 0.5, top * 0.95),
                                    ha="center", fontsize=8)
            if c.get("null_module_s"):
                axes[1][0].axhline(1000 * c["null_module_s"]["median"], ls="--", lw=0.8, color="grey")
                axes[1][0].annotate("empty AnsibleModule run", (0.55, 1000 * c["null_module_s"]["median"]),
                                    fontsize=7, color="grey", va="bottom")
        d = r.get("d")
        ax = axes[1][1]
        if d and "parallel" in d:
            kinds = ["mount", "unmap"]
            xs = range(len(kinds))
            par = [d["parallel"].get(k + "_wall_s") or 0 for k in kinds]
            ser = [d["serial"].get(k + "_wall_s") or 0 for k in kinds]
            ax.bar([x - 0.2 for x in xs], ser, width=0.4, label="one after another (forks=1)")
            ax.bar([x + 0.2 for x in xs], par, width=0.4, label="in parallel (forks=%d)" % d["images"])
            for pos, sv, pv in zip(xs, ser, par):
                ax.annotate("%.1f s" % sv, (pos - 0.2, sv), ha="center", va="bottom", fontsize=8)
                ax.annotate("%.1f s\n(%.1f×)" % (pv, sv / pv if pv else 0), (pos + 0.2, pv), ha="center",
                            va="bottom", fontsize=8)
            ax.set_xticks(list(xs))
            ax.set_xticklabels(["mount %d images" % d["images"], "take them down"])
            ax.set_ylabel("s (wall)")
            ax.set_ylim(0, max(ser + par) * 1.2)
            ax.legend(fontsize=8, loc="upper right")
            ax.set_title("d. %d images: %d failures, speedup %.1f× (an empty module %.1f×)"
                         % (d["images"], d["parallel"]["failed"] + d["serial"]["failed"], d.get("speedup_total", 0),
                            d.get("floor_total", 0)),
                         fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        if x.get("per_round"):
            strip(axes[2][0], [("connection\n(10 tasks)", x["per_round"]["connection"]),
                               ("image_mount +\n10 chroot tasks", x["per_round"]["hand"])],
                  "x. 10-task customization, playbook wall time: %.2f×" % x.get("ratio", 0), unit="s", scale=1.0)
        eight = x.get("eight", {})
        if eight.get("speedup"):
            ax = axes[2][1]
            ser, par = eight["serial_s"], eight["parallel_s"]
            ax.bar([0, 1], [ser, par], width=0.5, color=["C0", "C1"])
            ax.annotate("%.1f s" % ser, (0, ser), ha="center", va="bottom", fontsize=8)
            ax.annotate("%.1f s (%.1f×)" % (par, eight["speedup"]), (1, par), ha="center", va="bottom", fontsize=8)
            ax.set_xticks([0, 1])
            ax.set_xticklabels(["forks=1", "forks=8"])
            ax.set_ylabel("s (wall)")
            ax.set_ylim(0, max(ser, par) * 1.2)
            ax.set_title("x. 8 images as 8 hosts through the connection: %.1f× faster in parallel" % eight["speedup"],
                         fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        last = axes[n_rows - 1]
        if e.get("ratio"):
            ax = last[0]
            kinds = ("first", "steady", "read")
            names = sorted(e["ratio"])
            for i, name in enumerate(names):
                vals = [100 * e["ratio"][name][k] for k in kinds]
                xs = [j + (i - (len(names) - 1) / 2.0) * 0.25 for j in range(len(kinds))]
                ax.bar(xs, vals, width=0.25, label="%s (goal ≥ %.0f%%)" % (name, 100 * GOALS["e"].get(name, 0)))
                for xv, v in zip(xs, vals):
                    ax.annotate("%.0f" % v, (xv, v), ha="center", va="bottom", fontsize=7)
            ax.axhline(100, color="grey", lw=0.8, ls="--")
            ax.set_xticks(range(len(kinds)))
            ax.set_xticklabels(["first write", "steady write", "read (cold)"])
            ax.set_ylabel("% of the host filesystem")
            ax.legend(fontsize=8, loc="lower right")
            ax.set_title("e. data path, 1 GiB in ext4 of a 3 GiB image / the host filesystem", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        if f.get("ratio"):
            strip(last[1], [("no-op\nquiet", f["quiet"]["noop_s"]), ("no-op\nbusy", f["busy"]["noop_s"]),
                            ("cycle\nquiet", f["quiet"]["cycle_s"]), ("cycle\nbusy", f["busy"]["cycle_s"])],
                  "f. %d loop devices, %d mounts more: no-op %.2f×, cycle %.2f× (goal ≤ %.2f×)"
                  % (f["loops"], f["mounts"], f["ratio"]["noop"], f["ratio"]["cycle"], GOALS["f"]))
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)

    # ------------------------------------------------------------------ main
    def run(self):
        t0 = time.monotonic()
        try:
            log("work dir %s" % self.work)
            load = self.result["host"]["loadavg_start"][0]
            if load > (os.cpu_count() or 1):
                log("warning: load average %.1f on %d CPUs: other work competes, times will be inflated "
                    "and noisy (the ratios less so: the rounds are interleaved)" % (load, os.cpu_count()))
            self.make_images()
            if "abc" in self.opts.only:
                self.run_ansible_sections()
            if "c" in self.opts.only:
                self.run_python_c()
            if "d" in self.opts.only:
                self.run_parallel()
            if "t" in self.opts.only:
                self.run_tree()
            if "x" in self.opts.only:
                self.run_connection()
            if "e" in self.opts.only:
                self.result["e"] = DataPath(self, self.opts.e_mib, rounds=self.opts.e_rounds).run(log)
            if "f" in self.opts.only:
                busy = BusyHost(self)
                self.result["f"] = dict(busy.run(log), loops=busy.loops, mounts=busy.mounts)
        except Exception as e:  # report, clean up, and fail below
            import traceback
            traceback.print_exc()
            self.failures.append("bench aborted: %s" % e)
        finally:
            self.cleanup()
            self.result["leaks_after"] = self.leaks()
        self.result["failures"] = self.failures
        self.result["host"]["loadavg_end"] = os.getloadavg()
        self.result["wall_s"] = time.monotonic() - t0
        with open(os.path.join(self.out, "result.json"), "w") as f:
            json.dump(self.result, f, indent=1, sort_keys=True)
        # every run is kept, for the ranges over several runs (bench/ranges.py)
        runs = os.path.join(self.out, "runs")
        os.makedirs(runs, exist_ok=True)
        shutil.copy(os.path.join(self.out, "result.json"),
                    os.path.join(runs, time.strftime("%Y%m%dT%H%M%S") + ".json"))
        table = self.table()
        with open(os.path.join(self.out, "table.md"), "w") as f:
            f.write(table)
        try:
            self.chart(os.path.join(self.out, "chart.png"))
        except Exception as e:  # a missing chart must not hide the numbers
            self.failures.append("chart: %s" % e)
        print()
        print(table)
        log("result %s, chart %s, %.0f s in all" % (os.path.join(self.out, "result.json"),
                                                    os.path.join(self.out, "chart.png"), self.result["wall_s"]))
        if self.result["leaks_after"]:
            log("LEFT BEHIND: %s" % "; ".join(self.result["leaks_after"]))
        else:
            log("nothing of the bench's images left behind (loop devices, mounts, qemu-storage-daemon)")
            shutil.rmtree(self.work, ignore_errors=True)
        for failure in self.failures:
            log("FAILED: %s" % failure)
        return 1 if self.failures or self.result["leaks_after"] else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "build", "bench"))
    parser.add_argument("--collections", default=os.path.join(REPO, "build", "bench", "collections"))
    parser.add_argument("--tmp", default=None, help="parent of the work dir (default: $TMPDIR or /tmp)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--c-ansible-rounds", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--tree-rounds", type=int, default=5)
    parser.add_argument("--guestmount-rounds", type=int, default=2)
    parser.add_argument("--no-guestmount", dest="guestmount", action="store_false",
                        help="leave out guestmount -i in t even where libguestfs is installed")
    parser.add_argument("--x-rounds", type=int, default=3)
    parser.add_argument("--e-mib", type=int, default=1024, help="the size of section e's file")
    parser.add_argument("--e-rounds", type=int, default=3)
    parser.add_argument("--only", default="abc,c,d,t,x,e,f",
                        help="comma list of: abc (Ansible a, b, c), c (Python c), d, t (tree), x (connection), "
                             "e (data path), f (busy host)")
    opts = parser.parse_args()
    opts.only = opts.only.split(",")
    os.makedirs(opts.out, exist_ok=True)
    return Bench(opts).run()


if __name__ == "__main__":
    sys.exit(main())
