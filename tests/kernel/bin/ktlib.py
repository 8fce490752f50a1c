# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the kernel tier's Python drivers (kimage.py, krole.py, kconcurrent.py).

Guest only. A module run here is the module process itself: the module
`ansible_collections.virt.disk.plugins.modules.NAME` run as `__main__` with
ARGS.json as its argument, the program AnsiballZ unpacks and runs, with the
same arguments, including Ansible's own `_ansible_check_mode`. Under
emulation an Ansible task costs several seconds on top (the controller
templates, builds the AnsiballZ payload and forks), so the cases that only
need the module's behaviour against the kernel run it this way and assert in
Python; at least one case runs it through ansible-playbook (krole.py).

Each run is a process forked from this driver after it imported, once, what
every module imports (Ansible's module_utils and the collection's): under
emulation a new interpreter spends 5-6 s of a 10-15 s run importing them.
The child gets the module's environment, stdin from /dev/null and its own
stdout and stderr files, runs the module's code fresh as `__main__` (the
modules themselves are not kept imported) and exits with its status; the
imported module_utils hold constants only, no state of the host.

The collection is the tmpfs copy guest.sh makes (ANSIBLE_COLLECTIONS_PATH):
Python writes its bytecode next to it after the first run, where the
repository's copy is read-only over 9p and every run would compile it again.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import traceback

import kstate

REPO = os.environ["KT_REPO"]
WORK = os.environ["KT_WORK"]
IMAGES = os.environ["KT_IMAGES"]
BIN = os.environ["KT_BIN"]
ENV = dict(os.environ, PYTHONPATH=os.environ["ANSIBLE_COLLECTIONS_PATH"], LC_ALL="C")
PACKAGE = "ansible_collections.virt.disk.plugins.modules."
# a module run waits at most this long (the module's own timeout is 30 s per wait)
RUN_TIMEOUT = 600

_runs = [0]
_preloaded = []


class CheckFailed(Exception):
    """A case's expectation did not hold; the message says which and shows the evidence."""


def log(text):
    print(text, flush=True)


def _preload():
    """Import once what the modules import, so that each forked run starts with it."""
    if _preloaded:
        return
    sys.path.insert(0, ENV["PYTHONPATH"])
    modules = os.path.join(ENV["PYTHONPATH"], *PACKAGE.split(".")[:-1])
    for name in sorted(os.listdir(modules)):
        if name.endswith(".py") and not name.startswith("_"):
            importlib.import_module(PACKAGE + name[:-3])
            # the module's own code runs fresh as __main__ in each run
            del sys.modules[PACKAGE + name[:-3]]
    _preloaded.append(True)


class Run:
    """A module run in a child forked from this driver; communicate() like a Popen's."""

    def __init__(self, module, path):
        _preload()
        base = path[:-len(".json")]
        self.out_path, self.err_path = base + ".out", base + ".err"
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        self.returncode = None
        if self.pid == 0:
            self._child(module, path)

    def _child(self, module, path):
        code = 1
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(self.out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            err = os.open(self.err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            for fd, target in ((null, 0), (out, 1), (err, 2)):
                os.dup2(fd, target)
                os.close(fd)
            os.environ.clear()
            os.environ.update(ENV)
            sys.argv = [module, path]
            try:
                runpy.run_module(PACKAGE + module, run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            atexit._run_exitfuncs()  # pylint: disable=protected-access
        except BaseException:  # pylint: disable=broad-except
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def poll(self):
        """The exit status once the run has ended, else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        """SIGKILL, as a controller that dies or a user's kill -9 would; the tools it started run on."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def communicate(self, timeout):
        deadline = time.time() + timeout
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.time() > deadline:
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                raise subprocess.TimeoutExpired("module run %d" % self.pid, timeout)
            else:
                time.sleep(0.05)
        texts = []
        for path in (self.out_path, self.err_path):
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
            os.unlink(path)
        return texts[0], texts[1]


def start(module, args, check_mode=False):
    """Start one module run with ARGS (a dict); returns its Run."""
    _runs[0] += 1
    path = os.path.join(WORK, "args", "%s-%d.json" % (module, _runs[0]))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = dict(args)
    if check_mode:
        payload["_ansible_check_mode"] = True
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, f)
    proc = Run(module, path)
    proc.kt_started = time.time()
    proc.kt_what = "%s %s%s" % (module, json.dumps(args, sort_keys=True), " (check mode)" if check_mode else "")
    return proc


def finish(proc):
    """Wait for a module run; its JSON result (a failed result when it printed none)."""
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    try:
        result = json.loads(out)
    except ValueError:
        result = {"failed": True, "msg": "no JSON (rc %s): %s %s" % (proc.returncode, out[-500:], err[-500:])}
    log("  %5.1fs  %s -> %s%s" % (time.time() - proc.kt_started, proc.kt_what,
                                  "FAILED" if result.get("failed") else "changed" if result.get("changed") else "ok",
                                  " %s" % result.get("actions", "") if result.get("actions") else ""))
    return result


def run(module, args, check_mode=False, may_fail=False):
    """One module run to its end. A failed run raises CheckFailed unless may_fail."""
    result = finish(start(module, args, check_mode))
    if result.get("failed") and not may_fail:
        raise CheckFailed("%s failed: %s (actions: %s)" % (module, result.get("msg"), result.get("actions")))
    return result


def brief(result):
    """A result without the bulky keys, for failure messages."""
    return {k: v for k, v in result.items() if k not in ("invocation", "diff")}


def kernel():
    """The kernel's state now (bin/kstate.py: sysfs, /proc, dmsetup ls, losetup -a)."""
    return kstate.state()


def khand(*args):
    """bin/khand: something done by hand; its output. A failure raises CheckFailed."""
    proc = subprocess.run([os.path.join(BIN, "khand")] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise CheckFailed("khand %s exited %d (see khand.log)" % (" ".join(map(str, args)), proc.returncode))
    return proc.stdout.strip()


def sh(*args, data=None):
    """A command run by hand (a build step, the "host"'s own lvm2); its stdout. A failure raises CheckFailed."""
    proc = subprocess.run([str(a) for a in args], input=data, stdin=None if data is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise CheckFailed("%s exited %d: %s" % (" ".join(map(str, args)), proc.returncode, proc.stderr.strip()))
    return proc.stdout.strip()


def kreset():
    subprocess.run([os.path.join(BIN, "kreset")], stdout=subprocess.DEVNULL, check=False)


def record(status, name, seconds, message=""):
    subprocess.run([os.path.join(BIN, "krecord"), status, name, "%.1f" % seconds, message],
                   stdout=subprocess.DEVNULL, check=False)


def expect(checks, context=""):
    """checks: (description, bool) pairs. Raises CheckFailed naming every one that is false."""
    failed = [text for text, ok in checks if not ok]
    if failed:
        raise CheckFailed("not true: %s%s" % ("; ".join(failed), (" -- " + context) if context else ""))


def mounted_at(k, path):
    """The sources mounted at PATH, as the kernel shows them."""
    return [m["source"] for m in k["mounts"] if m["target"] == path]


def named(items, name):
    """The entries of a kstate list (nbd, loops) called NAME."""
    return [x for x in items if x["name"] == name]


def qemu_argv(k, pid):
    """The command line of the live qemu helper PID, or '' when there is none."""
    return next((q["argv"] for q in k["qemu"] if q["pid"] == pid), "")


def clean_checks(k):
    """Nothing of any image is attached, mapped, mounted or served."""
    return [("no nbd connection", k["nbd"] == []),
            ("no loop device", k["loops"] == []),
            ("no dm map", k["dm"] == []),
            ("dmsetup ls says No devices found", k["dm_ls"] == "No devices found"),
            ("losetup -a is empty", k["losetup"] == ""),
            ("no image mount", k["mounts"] == []),
            ("no qemu helper", k["qemu"] == [])]


def run_cases(group, cases, only=""):
    """Run (name, function) cases in order, each recorded as GROUP/NAME; after each
    one nothing of any image may be left. A failed case is recorded with its
    message and the guest is reset, and the next case runs. Returns the number
    of failed cases."""
    failures = 0
    for name, case in cases:
        if only and not re.search(only, name):
            continue
        log("=== case %s/%s" % (group, name))
        t0 = time.time()
        try:
            message = case() or ""
            k = kernel()
            expect(clean_checks(k), "left behind: %s" % k)
            record("PASS", "%s/%s" % (group, name), time.time() - t0, message)
        except Exception as e:  # noqa: BLE001  (each case records its own failure, the next one runs)
            failures += 1
            record("FAIL", "%s/%s" % (group, name), time.time() - t0, "%s: %s" % (type(e).__name__, e))
            kreset()
    return failures


def main_exit(failures):
    sys.exit(1 if failures else 0)
