# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the kernel tier's Python drivers (kimage.py, krole.py, kconcurrent.py).

Guest only. A module run here is the module process itself: `python -m
ansible_collections.virt.disk.plugins.modules.NAME ARGS.json`, the program
AnsiballZ unpacks and runs, with the same arguments, including Ansible's own
`_ansible_check_mode`. Under emulation an Ansible task costs several seconds
on top (the controller templates, builds the AnsiballZ payload and forks),
so the cases that only need the module's behaviour against the kernel run it
this way and assert in Python; at least one case runs it through
ansible-playbook (krole.py).

The collection is the tmpfs copy guest.sh makes (ANSIBLE_COLLECTIONS_PATH):
Python writes its bytecode next to it after the first run, where the
repository's copy is read-only over 9p and every run would compile it again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import kstate

REPO = os.environ["KT_REPO"]
WORK = os.environ["KT_WORK"]
IMAGES = os.environ["KT_IMAGES"]
BIN = os.environ["KT_BIN"]
PY = os.path.join(REPO, ".venv", "bin", "python")
ENV = dict(os.environ, PYTHONPATH=os.environ["ANSIBLE_COLLECTIONS_PATH"], LC_ALL="C")
PACKAGE = "ansible_collections.virt.disk.plugins.modules."
# a module run waits at most this long (the module's own timeout is 30 s per wait)
RUN_TIMEOUT = 600

_runs = [0]


class CheckFailed(Exception):
    """A case's expectation did not hold; the message says which and shows the evidence."""


def log(text):
    print(text, flush=True)


def start(module, args, check_mode=False):
    """Start one module process with ARGS (a dict); returns the Popen."""
    _runs[0] += 1
    path = os.path.join(WORK, "args", "%s-%d.json" % (module, _runs[0]))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    payload = dict(args)
    if check_mode:
        payload["_ansible_check_mode"] = True
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, f)
    proc = subprocess.Popen([PY, "-m", PACKAGE + module, path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    proc.kt_started = time.time()
    proc.kt_what = "%s %s%s" % (module, json.dumps(args, sort_keys=True), " (check mode)" if check_mode else "")
    return proc


def finish(proc):
    """Wait for a module process; its JSON result (a failed result when it printed none)."""
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
