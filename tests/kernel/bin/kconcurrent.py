# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nbd under concurrency, in the real kernel: module runs started at once.

- N different qcow2 images at once get N distinct /dev/nbdN devices, all succeed;
- M runs at once on one image and path end with one nbd connection and one
  mount, exactly one run reporting a change, none failing.

Each run is the module process itself (python -m ...image_mount ARGS.json, what
AnsiballZ runs), not a whole ansible controller each: under emulation a
controller takes ~15 s to start, and the contention being tested (the nbd
allocation lock, the per-image lock, qemu-nbd racing for a device) is in the
module. Results are recorded with krecord.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.environ["KT_REPO"]
WORK = os.path.join(os.environ["KT_WORK"], "concurrency")
BASE = os.path.join(os.environ["KT_IMAGES"], "disk.qcow2")
PY = os.path.join(REPO, ".venv", "bin", "python")
ENV = dict(os.environ, PYTHONPATH=os.environ["ANSIBLE_COLLECTIONS_PATH"], LC_ALL="C")
MODULE = "ansible_collections.virt.disk.plugins.modules.image_mount"
# The runs queue on the nbd allocation lock and the image's lock, each waiting
# at most `timeout` seconds (30 by default): under emulation the last of six
# runs on one image waited about 25 s on a quiet host, so a busy one would
# time out on the budget, not on a fault. The queueing is what is tested.
LOCK_TIMEOUT = 180


def start(args, name):
    path = os.path.join(WORK, name + ".json")
    with open(path, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    return subprocess.Popen([PY, "-m", MODULE, path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def finish(proc):
    out, err = proc.communicate(timeout=600)
    try:
        return json.loads(out)
    except ValueError:
        return {"failed": True, "msg": "no JSON (rc %s): %s %s" % (proc.returncode, out[-500:], err[-500:])}


def run_at_once(arg_list):
    procs = [start(args, "run%d" % i) for i, args in enumerate(arg_list)]
    return [finish(p) for p in procs]


def nbd_servers():
    """{nbdN: pid} of connected nbd devices."""
    found = {}
    for name in os.listdir("/sys/block"):
        if name.startswith("nbd") and os.path.exists("/sys/block/%s/pid" % name):
            with open("/sys/block/%s/pid" % name) as f:
                found[name] = int(f.read())
    return found


def mounts_at(path):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[4] == path]


def record(status, name, seconds, message=""):
    subprocess.run(["krecord", status, name, "%.1f" % seconds, message], check=False)


def take_down(images):
    for i, image in enumerate(images):
        res = finish(start({"image": image, "state": "unmapped"}, "down%d" % i))
        if res.get("failed"):
            raise AssertionError("unmapped %s failed: %s" % (image, res.get("msg")))


def case_distinct(count):
    images = []
    for i in range(count):
        image = os.path.join(WORK, "d%d.qcow2" % i)
        shutil.copyfile(BASE, image)
        images.append(image)
    t0 = time.time()
    try:
        results = run_at_once([{"image": img, "path": os.path.join(WORK, "m%d" % i), "backend": "nbd",
                                "partition": "2", "timeout": LOCK_TIMEOUT} for i, img in enumerate(images)])
        failed = ["%s (actions: %s)" % (r.get("msg"), r.get("actions")) for r in results if r.get("failed")]
        assert not failed, "runs failed: %s" % failed
        devices = [r["device"] for r in results]
        assert len(set(devices)) == count, "devices not distinct: %s" % devices
        assert all(d.startswith("/dev/nbd") for d in devices), devices
        assert all(r["changed"] for r in results)
        for i in range(count):
            assert len(mounts_at(os.path.join(WORK, "m%d" % i))) == 1
        assert len(nbd_servers()) == count, nbd_servers()
    finally:
        take_down(images)
    assert nbd_servers() == {}, "nbd devices still connected: %s" % nbd_servers()
    return time.time() - t0, "devices %s" % " ".join(sorted(devices))


def case_same(count):
    image = os.path.join(WORK, "same.qcow2")
    shutil.copyfile(BASE, image)
    path = os.path.join(WORK, "same")
    t0 = time.time()
    try:
        results = run_at_once([{"image": image, "path": path, "backend": "nbd", "partition": "2",
                                "timeout": LOCK_TIMEOUT}] * count)
        failed = ["%s (actions: %s)" % (r.get("msg"), r.get("actions")) for r in results if r.get("failed")]
        assert not failed, "runs failed: %s" % failed
        changed = [r for r in results if r["changed"]]
        assert len(changed) == 1, "%d runs reported a change" % len(changed)
        assert len(set(r["device"] for r in results)) == 1, [r["device"] for r in results]
        assert len(nbd_servers()) == 1, nbd_servers()
        assert len(mounts_at(path)) == 1, mounts_at(path)
    finally:
        take_down([image])
    assert nbd_servers() == {}
    return time.time() - t0, "one device %s, one mount, one change" % results[0]["device"]


def main():
    os.makedirs(WORK, exist_ok=True)
    failures = 0
    for name, case, count in (("nbd-concurrent-distinct-images", case_distinct, 4),
                              ("nbd-concurrent-same-image", case_same, 6)):
        t0 = time.time()
        try:
            seconds, message = case(count)
            record("PASS", "concurrency/%s" % name, seconds, message)
        except Exception as e:  # noqa: BLE001  (each case records its own failure)
            failures += 1
            record("FAIL", "concurrency/%s" % name, time.time() - t0, str(e))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
