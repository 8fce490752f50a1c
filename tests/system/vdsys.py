# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the system tests: images, running the module, reading the kernel.

Everything here reads the kernel directly (sysfs, /proc/self/mountinfo,
/proc/PID, losetup -j) rather than trusting the module's answers, and touches
only what belongs to the images and the directory of one test: other people
work on this host at the same time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_DIR = "/run/virt-disk"
SBIN = "/usr/sbin:/sbin:/usr/bin:/bin"

IMAGE_MIB = 24
PART_START = 1024 * 1024
LABEL = "vdsys"


def tool_env():
    env = dict(os.environ)
    env["PATH"] = env.get("PATH", "") + ":" + SBIN
    env["LC_ALL"] = "C.UTF-8"
    return env


def sh(args, check=True, **kw):
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(args, check=check, capture_output=True, text=True, env=tool_env(), **kw)


# ---------------------------------------------------------------- images

class Img(object):
    """A test image: its path, kind (raw/qcow2) and the names the module derives from it."""

    def __init__(self, path, kind):
        self.path = os.path.realpath(path)
        self.kind = kind
        st = os.stat(self.path)
        self.key = "file-%d-%d-%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)

    @property
    def export(self):
        return os.path.join(RUN_DIR, "fuse", self.key + ".raw")

    @property
    def pidfile(self):
        return os.path.join(RUN_DIR, "fuse", self.key + ".pid")

    @property
    def statefile(self):
        return os.path.join(RUN_DIR, "state", self.key + ".json")

    @property
    def lockfile(self):
        return os.path.join(RUN_DIR, "locks", self.key + ".lock")

    def __repr__(self):
        return "Img(%s)" % self.path


def make_templates(directory):
    """A partitioned raw image (MBR, one ext4 partition labelled vdsys) and its qcow2 copy."""
    raw = os.path.join(directory, "template.img")
    with open(raw, "wb") as f:
        f.truncate(IMAGE_MIB * 1024 * 1024)
    sh(["sfdisk", "-q", raw], input="label: dos\n2048,,83\n")
    sh(["mkfs.ext4", "-q", "-F", "-L", LABEL, "-E", "offset=%d" % PART_START, raw,
        "%dk" % ((IMAGE_MIB * 1024) - PART_START // 1024)])
    qcow = os.path.join(directory, "template.qcow2")
    sh(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow])
    return {"raw": raw, "qcow2": qcow}


# ---------------------------------------------------------------- running the module

class Result(dict):
    """A module result with how the process ended."""

    rc = None
    status = None
    stderr = ""

    @property
    def failed(self):
        return bool(self.get("failed")) or self.status == "FAILED!" or (self.rc not in (0, None))


def module_env(extra=None):
    env = tool_env()
    env["PYTHONPATH"] = os.environ["ANSIBLE_COLLECTIONS_PATH"]
    env.update(extra or {})
    return env


def _argfile(args, workdir):
    argfile = os.path.join(workdir, "args-%d-%d.json" % (os.getpid(), time.monotonic_ns()))
    with open(argfile, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    return argfile


def _close_stdin():
    os.close(0)


def start_direct(args, workdir, kill_after=None, close_stdin=False):
    """Start image_mount directly under this Python (no Ansible controller), through kill_shim.py:
    fast, and able to die by SIGKILL right after a step. stdin is /dev/null (or closed)."""
    extra = {"VIRT_DISK_KILL_AFTER": kill_after} if kill_after else {}
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "kill_shim.py"), _argfile(args, workdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=module_env(extra),
                            stdin=subprocess.DEVNULL, preexec_fn=_close_stdin if close_stdin else None)
    return proc


def finish_direct(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    try:
        os.unlink(proc.args[-1])
    except OSError:
        pass
    res = Result()
    if out.strip():
        try:
            res.update(json.loads(out[out.index("{"):]))
        except ValueError:
            res["unparsed_stdout"] = out
    res.rc = proc.returncode
    res.stderr = err
    return res


def run_direct(args, workdir, kill_after=None, timeout=120, close_stdin=False):
    return finish_direct(start_direct(args, workdir, kill_after, close_stdin), timeout)


ADHOC_LINE = re.compile(r"^localhost \| (\S+) =>", re.M)


def start_adhoc(module, args):
    """Start `ansible localhost -m MODULE -a JSON` as a user would, without waiting."""
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible"), "localhost", "-i", "localhost,",
            "-c", "local", "-m", module, "-a", json.dumps(args)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tool_env(),
                            stdin=subprocess.DEVNULL)


def finish_adhoc(proc, timeout=170):
    out, err = proc.communicate(timeout=timeout)
    res = Result()
    res.rc = proc.returncode
    res.stderr = err
    match = ADHOC_LINE.search(out)
    if match:
        res.status = match.group(1)
        try:
            res.update(json.loads(out[match.end():]))
        except ValueError:
            res["unparsed_stdout"] = out
    else:
        res["unparsed_stdout"] = out
    return res


# ---------------------------------------------------------------- the kernel

def _unescape(text):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mountinfo():
    """[(mount point, source, fstype, 'maj:min')] in mount order."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _sep, right = line.partition(" - ")
            fields = left.split()
            rfields = right.split()
            found.append((_unescape(fields[4]), _unescape(rfields[1]) if len(rfields) > 1 else "",
                          rfields[0], fields[2]))
    return found


def mounts_under(directory):
    directory = directory.rstrip("/")
    return [m for m in mountinfo() if m[0] == directory or m[0].startswith(directory + "/")]


def mounted_at(path):
    return [m for m in mountinfo() if m[0] == path]


def loop_backing(name):
    try:
        with open("/sys/block/%s/loop/backing_file" % name) as f:
            value = f.read().strip()
    except OSError:
        return None
    if value.endswith(" (deleted)"):
        value = value[:-len(" (deleted)")]
    return value


def loops_over(path):
    """Loop devices (names) whose backing file is path, from sysfs (works over a dead FUSE export too)."""
    found = []
    for name in sorted(os.listdir("/sys/block")):
        if name.startswith("loop") and loop_backing(name) == path:
            found.append(name)
    return found


def losetup_j(path):
    """`losetup -j IMG` output (empty when nothing is attached to the image)."""
    return sh(["losetup", "-j", path], check=False).stdout.strip()


def partition_nodes(name):
    """Partition device names of a block device, from sysfs."""
    try:
        return sorted(e for e in os.listdir("/sys/block/%s" % name) if e.startswith(name + "p"))
    except OSError:
        return []


def proc_state(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except OSError:
        return None
    return None


def alive(pid):
    """A zombie counts as gone: PID 1 reaps slowly on these hosts."""
    return proc_state(pid) not in (None, "Z", "X")


def daemons_of(img):
    """Live qemu-storage-daemon processes whose command line names the image."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == "qemu-storage-daemon" and any(img.path in a for a in argv):
            if alive(int(entry)):
                found.append(int(entry))
    return sorted(found)


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.02)


def leftovers(images, workdir):
    """What is left of the images and the test directory in the kernel; empty when clean."""
    left = []
    for img in images:
        out = losetup_j(img.path)
        if out:
            left.append("losetup -j %s: %s" % (img.path, out))
        for name in loops_over(img.export):
            left.append("loop %s over the FUSE export %s of %s" % (name, img.export, img.path))
        if mounted_at(img.export):
            left.append("FUSE export %s still mounted" % img.export)
        if os.path.lexists(img.export):
            left.append("export file %s still exists" % img.export)
        for pid in daemons_of(img):
            left.append("qemu-storage-daemon pid %d still serves %s" % (pid, img.path))
    for m in mounts_under(workdir):
        left.append("mount %s (%s %s)" % (m[0], m[2], m[1]))
    return left


def assert_clean(images, workdir):
    left = leftovers(images, workdir)
    assert not left, "left behind: %s" % "; ".join(left)


def force_cleanup(images, workdir, pids=()):
    """Take everything of the images and the test directory down, by hand, whatever state it is in."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
    for m in reversed(mounts_under(workdir)):
        sh(["umount", "--lazy", m[0]], check=False)
    for img in images:
        for name in loops_over(img.path) + loops_over(img.export):
            for mnt in [m for m in mountinfo() if m[1].startswith("/dev/%s" % name)]:
                if mnt[0].startswith(workdir):
                    sh(["umount", "--lazy", mnt[0]], check=False)
            if partition_nodes(name):
                sh(["partx", "-d", "/dev/" + name], check=False)
            sh(["losetup", "-d", "/dev/" + name], check=False)
        for pid in daemons_of(img):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            wait_for(lambda: not daemons_of(img), 5, "qemu-storage-daemon of %s to exit" % img.path)
        except AssertionError:
            pass
        if mounted_at(img.export):
            sh(["umount", "--lazy", img.export], check=False)
        for path in (img.export, img.pidfile, img.statefile, img.lockfile):
            try:
                os.unlink(path)
            except OSError:
                pass


def remove_tree(directory):
    """Remove a test directory unless something is still mounted under it."""
    if mounts_under(directory):
        return False
    shutil.rmtree(directory, ignore_errors=True)
    return True


def attachments(img):
    """Loop devices that serve the image: over the file itself (raw), or over its FUSE export (qcow2)."""
    return loops_over(img.export) if img.kind != "raw" else loops_over(img.path)


def mount_sources(path):
    return [m[1] for m in mounted_at(path)]
