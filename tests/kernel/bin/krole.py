# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role virt.disk.image_host and virt.disk.image_mount through
ansible-playbook on a real kernel, where nbd and loop are loadable modules.
Run by suites/20-image-host-role.sh inside the guest. Two playbook runs
(under emulation a controller takes ~15 s to start and each module run of a
task 10-15 s, so the cases share them):

1. playbooks/image_host.yml: nbd and loop are unloaded, then
   playbooks/converge.yml: the role with its defaults and a mount of
   disk.qcow2 (backend auto) through Ansible. krole.py checks it, runs the
   module in check mode and absent, then reloads nbd by hand with max_part=8
   (free) and loop with max_part=4, and attaches a loop device by hand.
2. playbooks/converge.yml again, with image_host_reload_modules=true.

converge.yml prints the role's facts (image_host_module_status,
image_host_capabilities, image_host_reload_required) on one line, which
playbook() decodes. Recorded here:

  image_host/role-loads-modules   in run 1 the role's loads of nbd and loop
      changed and it says so (action loaded); /sys/module/nbd/parameters says
      max_part=31 (the role's 16: the kernel keeps 2^n - 1) nbds_max=16, loop
      max_part=15; /etc/modprobe.d/virt-disk.conf has their options and
      /etc/modules-load.d/virt-disk.conf their names; image_mount_info reports
      the same parameters; in run 2 no task of the role changed but nbd's
      reload (the files, the LVM block and the loads were left alone)
  image_host/reload-when-free-not-when-in-use   in run 2 nbd (max_part 15,
      nothing uses it) was reloaded with the wanted max_part and reports no
      difference; loop (max_part 7, the device attached by hand) was not: its
      max_part and the device unchanged, no failure, action in_use, the
      difference and "in use" in its message, image_host_reload_required
  image_mount/ansible-playbook    the mount in run 1 changed and the kernel
      shows nbdNp2 of a qemu-nbd serving disk.qcow2 mounted at the path with
      the default opts nodev,nosuid and a file of the image readable there;
      the same in check mode changes nothing; absent takes everything down;
      in run 2 the task mounts it again over the reloaded nbd
  image_host/lvm-isolation        the role's LVM block (run 1 wrote it into
      /etc/lvm/lvmlocal.conf, run 2 left it): a VG ktiso on a loop device
      attached afterwards stays inactive (udev ran lvm2's rule, udevadm
      settle); then, as the control, without the block the same attach makes
      the guest's lvm2 activate ktiso-lv by itself (event activation), so the
      test can tell the two apart

Afterwards nbd and loop run as guest.sh loaded them (the role's defaults are
the same parameters) and the role's files and block are removed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time

from ktlib import IMAGES, REPO, WORK, CheckFailed, brief, clean_checks, expect, kernel, khand, log, mounted_at, named, \
    qemu_argv, record, run, kreset, main_exit, sh

PLAYBOOKS = os.path.join(REPO, "tests", "kernel", "playbooks")
IMAGE = os.path.join(IMAGES, "disk.qcow2")
RAW_IMAGE = os.path.join(IMAGES, "disk.img")
MNT = os.path.join(WORK, "mnt", "converge")
MODPROBE_FILE = "/etc/modprobe.d/virt-disk.conf"
MODULES_LOAD_FILE = "/etc/modules-load.d/virt-disk.conf"
LVM_FILE = "/etc/lvm/lvmlocal.conf"
LVM_MARKER = "virt.disk.image_host: the host's LVM leaves image devices alone"
LVM_IMG = os.path.join(WORK, "lvm-isolation.img")
# lvm2 as a user would run it by hand to make the test's VG, seeing every device
LVM_ALL = ('devices { global_filter=["a|.*|"] filter=["a|.*|"] use_devicesfile=0 } '
           'activation { udev_sync=0 udev_rules=0 }')
ROLE = "virt.disk.image_host : "


def playbook(name, extra_vars=None):
    """ansible-playbook NAME [-e EXTRA_VARS], its output streamed to the log and parsed:
    (exit status, {play: [changed task names]}, recap line of localhost, the facts
    converge.yml printed or {})."""
    argv = ["ansible-playbook", os.path.join(PLAYBOOKS, name)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    play = task = ""
    changed = {}
    recap = ""
    facts = {}
    for line in proc.stdout:
        print(line, end="", flush=True)
        m = re.match(r"^(PLAY|TASK) \[(.*)\] \*+$", line.rstrip())
        if m:
            if m.group(1) == "PLAY":
                play = m.group(2)
            else:
                task = m.group(2)
        elif line.startswith("changed: ["):
            changed.setdefault(play, []).append(task)
        elif re.match(r"^localhost +: ok=", line):
            recap = line.strip()
        m = re.search(r"KT-FACTS ([A-Za-z0-9+/=]+)", line)
        if m:
            facts = json.loads(base64.b64decode(m.group(1)))
    return proc.wait(), changed, recap, facts


def recap_count(recap, key):
    m = re.search(r"\b%s=(\d+)" % key, recap)
    return int(m.group(1)) if m else -1


def param(module, name):
    try:
        with open("/sys/module/%s/parameters/%s" % (module, name), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "none"


def builtin(module):
    return os.path.isdir("/sys/module/" + module) and not os.path.exists("/sys/module/%s/initstate" % module)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        return str(e)


def mount_options(path):
    """The per-mount options of the mount at PATH (/proc/self/mountinfo field 6), or []."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]) == path:
                return fields[5].split(",")
    return []


def remove_role_files():
    for f in (MODPROBE_FILE, MODULES_LOAD_FILE):
        if os.path.exists(f):
            os.unlink(f)
    remove_lvm_block()


def remove_lvm_block():
    """lvmlocal.conf without the role's block (guest.sh gave the guest a private /etc/lvm)."""
    text = read(LVM_FILE)
    kept = re.sub(r"(?ms)^# BEGIN %s\n.*?^# END %s\n" % (re.escape(LVM_MARKER), re.escape(LVM_MARKER)), "", text)
    if kept != text:
        with open(LVM_FILE, "w", encoding="utf-8") as f:
            f.write(kept)


def attach_and_settle():
    """Attach LVM_IMG to a new loop device and let udev run its rules (lvm2's among them); the device."""
    loop = sh("losetup", "-f", "--show", LVM_IMG)
    sh("udevadm", "settle", "--timeout=60")
    return loop


def activated(deadline=10.0):
    """Whether ktiso-lv shows up in device-mapper within deadline seconds."""
    end = time.time() + deadline
    while True:
        if "ktiso-lv" in sh("dmsetup", "ls"):
            return True
        if time.time() >= end:
            return False
        time.sleep(0.5)


def lvm_isolation():
    """With the role's block in place a VG on a newly attached loop device stays inactive; without it
    (the control) the guest's lvm2 activates it. Returns the message; raises CheckFailed."""
    block = read(LVM_FILE)
    expect([("%s has the role's block" % LVM_FILE, "BEGIN " + LVM_MARKER in block),
            ("lvm2 itself reads the block's global_filter",
             "r|^/dev/loop[0-9]|" in sh("lvmconfig", "devices/global_filter"))], "%s: %r" % (LVM_FILE, block))
    sh("truncate", "-s", "16M", LVM_IMG)
    loop = sh("losetup", "-f", "--show", LVM_IMG)
    try:
        sh("lvm", "pvcreate", "--config", LVM_ALL, "-q", loop)
        sh("lvm", "vgcreate", "--config", LVM_ALL, "-q", "ktiso", loop)
        sh("lvm", "lvcreate", "--config", LVM_ALL, "-q", "-an", "-Zn", "-L", "4M", "-n", "lv", "ktiso")
        sh("lvm", "vgchange", "--config", LVM_ALL, "-q", "-an", "ktiso")
    finally:
        sh("losetup", "-d", loop)
    loops = []
    try:
        loops.append(attach_and_settle())
        isolated = not activated(deadline=3.0)
        sh("losetup", "-d", loops.pop())
        remove_lvm_block()
        loops.append(attach_and_settle())
        control = activated()
    finally:
        if "ktiso-lv" in sh("dmsetup", "ls"):
            sh("lvm", "vgchange", "--config", LVM_ALL, "-q", "-an", "ktiso")
        for loop in loops:
            sh("losetup", "-d", loop)
        os.unlink(LVM_IMG)
    expect([("with the role's block, VG ktiso on a newly attached loop device stays inactive", isolated),
            ("control: without the block the guest's lvm2 activates it (else this test proves nothing)", control)])
    return "a VG on a new loop device stayed inactive with the role's global_filter; without it lvm2 activated it"


def role_checks(facts, module, action):
    """Checks of the role's report for MODULE: its action, no parameter difference left."""
    status = facts.get("status", {}).get(module, {})
    return [("the role says %s was %s (it says %s)" % (module, action, status.get("action")), status.get("action") == action),
            ("the role reports no difference for %s (it says %s)" % (module, status.get("differs")),
             status.get("differs") == {})]


def status_brief(facts):
    """The role's module status without the bulky keys, for failure messages."""
    return {m: {k: v for k, v in s.items() if k not in ("config", "filename")}
            for m, s in facts.get("status", {}).items()}


def main():
    failures = 0
    t0 = time.time()
    # the guest's /etc is an overlay of the host's: files the host has from
    # elsewhere must not make the role's writes look like no-ops
    remove_role_files()
    rc1, changed1, recap1, facts1 = playbook("image_host.yml")
    # wanted: the role's defaults (max_part 16 shows as 31 in the kernel)
    wanted = {"nbd": {"max_part": "31", "nbds_max": "16"}, "loop": {"max_part": "15"}}
    loop_is_module = not builtin("loop")
    managed = ["nbd", "loop"] if loop_is_module else ["nbd"]
    role_problems, mount_problems, reload_problems = [], [], []
    converge1 = changed1.get("Converge", [])
    try:
        expect([("image_host.yml exited 0", rc1 == 0), ("no task failed", recap_count(recap1, "failed") == 0),
                ("converge.yml printed the role's facts", bool(facts1))], recap1)
    except CheckFailed as e:
        role_problems.append(str(e))
        mount_problems.append(str(e))

    # ---- run 1: the role loaded and persisted both modules, the module mounted
    checks = [("the role's load of %s changed" % m, ROLE + "Load the module with its parameters - " + m in converge1)
              for m in managed]
    for module in managed:
        checks += role_checks(facts1, module, "loaded")
    checks += [("the role wrote %s" % MODPROBE_FILE, ROLE + "Write the module options to " + MODPROBE_FILE in converge1),
               ("the role wrote %s" % MODULES_LOAD_FILE,
                ROLE + "Write the modules to load at boot to " + MODULES_LOAD_FILE in converge1),
               ("the role wrote its LVM block", ROLE + "Keep the host's LVM off image devices in " + LVM_FILE in converge1)]
    for module in managed:
        for key, value in wanted[module].items():
            checks.append(("%s %s=%s in /sys/module (it is %s)" % (module, key, value, param(module, key)),
                           param(module, key) == value))
    modprobe_conf, modules_load = read(MODPROBE_FILE), read(MODULES_LOAD_FILE)
    checks += [("%s: options nbd max_part=16 nbds_max=16" % MODPROBE_FILE,
                re.search(r"(?m)^options nbd (?=.*\bmax_part=16\b)(?=.*\bnbds_max=16\b)", modprobe_conf) is not None),
               ("%s lists nbd" % MODULES_LOAD_FILE, re.search(r"(?m)^nbd$", modules_load) is not None)]
    if loop_is_module:
        checks += [("%s: options loop max_part=15" % MODPROBE_FILE,
                    re.search(r"(?m)^options loop .*\bmax_part=15\b", modprobe_conf) is not None),
                   ("%s lists loop" % MODULES_LOAD_FILE, re.search(r"(?m)^loop$", modules_load) is not None)]
    info = run("image_mount_info", {"kernel_modules": ["loop", "nbd"]}, may_fail=True)
    for module in managed:
        found = info.get("kernel_modules", {}).get(module, {})
        got = {k: v for k, v in found.get("parameters", {}).items() if k in wanted[module]}
        checks += [("image_mount_info: %s loaded" % module, found.get("state") == "loaded"),
                   ("image_mount_info: %s parameters %s (it says %s)" % (module, wanted[module], got), got == wanted[module])]
    checks.append(("image_mount_info: nbd is a usable backend", "nbd" in info.get("host", {}).get("backends", [])))
    try:
        expect(checks, "changed in converge: %s; role: %s; %s: %r; %s: %r"
               % (converge1, status_brief(facts1), MODPROBE_FILE, modprobe_conf, MODULES_LOAD_FILE, modules_load))
    except CheckFailed as e:
        role_problems.append(str(e))

    k = kernel()
    parts = [m["source"] for m in k["mounts"]]
    disk = os.path.basename(parts[0])[:-2] if parts else ""
    served = named(k["nbd"], disk)
    try:
        expect([("the mount task changed", "Mount the partition labelled root of the qcow2 image (backend auto)" in converge1),
                ("one mount, nbdNp2 at %s" % MNT, len(parts) == 1 and re.match(r"^/dev/nbd[0-9]+p2$", parts[0]) is not None
                 and mounted_at(k, MNT) == parts),
                ("its device is connected", len(served) == 1),
                ("served by a qemu-nbd of disk.qcow2", bool(served) and IMAGE in qemu_argv(k, served[0]["tgid"])),
                ("mounted with the default opts nodev,nosuid (it has %s)" % mount_options(MNT),
                 {"nodev", "nosuid"} <= set(mount_options(MNT))),
                ("the image's os-release is readable at the path",
                 "virt.disk sample" in read(os.path.join(MNT, "etc", "os-release")))],
               "kernel: %s" % k)
    except CheckFailed as e:
        mount_problems.append(str(e))

    # ---- the module in check mode, then absent (the module process)
    args = {"image": IMAGE, "path": MNT, "partition": "LABEL=root", "state": "mounted"}
    try:
        again = run("image_mount", args, check_mode=True)
        expect([("check mode: not changed", again.get("changed") is False),
                ("check mode: partition_device is the mounted source", [again.get("partition_device")] == parts),
                ("check mode: its mounts are the path", [m.get("path") for m in again.get("mounts", [])] == [MNT])],
               "check mode: %s" % brief(again))
        gone = run("image_mount", {"image": IMAGE, "path": MNT, "state": "absent"})
        k = kernel()
        expect([("absent changed", gone.get("changed") is True), ("the mount point is gone", not os.path.exists(MNT))]
               + clean_checks(k), "absent: %s kernel: %s" % (brief(gone), k))
    except CheckFailed as e:
        mount_problems.append(str(e))
        kreset()
    seconds1 = time.time() - t0

    # ---- run 2: nbd runs with max_part=8 (15) and is free, loop with
    # max_part=4 (7) and a device attached by hand uses it; reload allowed
    t2 = time.time()
    hand = ""
    try:
        khand("nbd-reload", 8)
        if loop_is_module:
            sh("modprobe", "-r", "loop")
            sh("modprobe", "loop", "max_part=4")
            hand = sh("losetup", "--find", "--show", "--read-only", RAW_IMAGE)
        expect([("nbd runs with max_part=15 before run 2", param("nbd", "max_part") == "15")]
               + ([("loop runs with max_part=7 before run 2", param("loop", "max_part") == "7")] if loop_is_module else []))
    except CheckFailed as e:
        reload_problems.append("setting up run 2: %s" % e)
    rc2, changed2, recap2, facts2 = playbook("converge.yml", {"image_host_reload_modules": True})
    role2 = [t for tasks in changed2.values() for t in tasks if t.startswith(ROLE)]
    reload_tasks = [ROLE + "Unload nbd", ROLE + "Load the module again with its parameters - nbd"]
    ran2 = [("converge.yml exited 0", rc2 == 0), ("no task failed", recap_count(recap2, "failed") == 0),
            ("converge.yml printed the role's facts", bool(facts2))]
    try:
        expect(ran2 + [("no task of the role changed but nbd's reload (changed: %s)" % role2,
                        sorted(set(role2) - set(reload_tasks)) == [])],
               "second run: %s" % recap2)
    except CheckFailed as e:
        role_problems.append("run 2: %s" % e)
    k = kernel()
    loop_status = facts2.get("status", {}).get("loop", {})
    checks = ran2 + [("nbd's unload and load changed", sorted(set(role2) & set(reload_tasks)) == sorted(reload_tasks)),
                     ("nbd max_part=31 nbds_max=16 in /sys/module (it is %s, %s)" % (param("nbd", "max_part"),
                                                                                     param("nbd", "nbds_max")),
                      param("nbd", "max_part") == "31" and param("nbd", "nbds_max") == "16")]
    checks += role_checks(facts2, "nbd", "reloaded")
    capabilities = facts2.get("capabilities", {})
    checks += [("image_host_capabilities: nbd_max_part 31, 16 devices, nbd usable",
                capabilities.get("nbd_max_part") == 31 and capabilities.get("nbd_devices") == 16
                and "nbd" in capabilities.get("backends", []))]
    if loop_is_module:
        differs = loop_status.get("differs", {})
        message = loop_status.get("message", "")
        checks += [("loop still runs with max_part=7 (it is %s)" % param("loop", "max_part"), param("loop", "max_part") == "7"),
                   ("the loop device attached by hand is still there", [x["name"] for x in k["loops"]] == [os.path.basename(hand)]),
                   ("the role says loop is in use", loop_status.get("action") == "in_use"),
                   ("the role says loop's max_part differs, running 7",
                    list(differs) == ["max_part"] and str(differs["max_part"].get("running")) == "7"),
                   ("its message names the difference and why",
                    "max_part: running 7, wanted " in message and "in use" in message),
                   ("image_host_reload_required", facts2.get("reload_required") is True)]
    try:
        expect(checks, "second run: %s; changed: %s; role: %s; capabilities: %s"
               % (recap2, role2, status_brief(facts2), capabilities))
    except CheckFailed as e:
        reload_problems.append(str(e))
    parts2 = [m["source"] for m in k["mounts"] if m["target"] == MNT]
    try:
        expect([("run 2 mounted it again", "Mount the partition labelled root of the qcow2 image (backend auto)"
                 in changed2.get("Converge", [])),
                ("over the reloaded nbd: nbdNp2 at %s" % MNT,
                 len(parts2) == 1 and re.match(r"^/dev/nbd[0-9]+p2$", parts2[0]) is not None)], "kernel: %s" % k)
        if hand:
            sh("losetup", "--detach", hand)
        gone = run("image_mount", {"image": IMAGE, "path": MNT, "state": "absent"})
        k = kernel()
        expect([("absent changed", gone.get("changed") is True)] + clean_checks(k),
               "absent: %s kernel: %s" % (brief(gone), k))
    except CheckFailed as e:
        mount_problems.append("run 2: %s" % e)
    seconds2 = time.time() - t2

    t4 = time.time()
    try:
        lvm_message, lvm_problems = lvm_isolation(), []
    except CheckFailed as e:
        lvm_message, lvm_problems = "", [str(e)]
    seconds4 = time.time() - t4

    for name, problems, seconds, message in (
            ("image_host/role-loads-modules", role_problems, seconds1 + seconds2,
             "loaded nbd (max_part=31 nbds_max=16) and loop (max_part=15), options persisted; "
             "the second run changed nothing but nbd's reload"),
            ("image_host/reload-when-free-not-when-in-use", reload_problems, seconds2,
             "nbd (max_part 15, free) reloaded as wanted; loop (max_part 7, in use) left alone and reported"),
            ("image_mount/ansible-playbook", mount_problems, seconds1 + seconds2,
             "%s mounted through Ansible; check mode unchanged; absent took it down; mounted again over the reloaded nbd"
             % (parts[0] if parts else "?")),
            ("image_host/lvm-isolation", lvm_problems, seconds4, lvm_message)):
        if problems:
            failures += 1
            record("FAIL", name, seconds, " | ".join(problems))
        else:
            record("PASS", name, seconds, message)

    # ---- leave nbd and loop as guest.sh loaded them, and none of the role's files
    kreset()
    remove_role_files()
    if param("nbd", "max_part") != "31" or param("nbd", "nbds_max") != "16":
        log("nbd runs with max_part=%s nbds_max=%s: loading it again with max_part=16 nbds_max=16"
            % (param("nbd", "max_part"), param("nbd", "nbds_max")))
        subprocess.run(["modprobe", "-r", "nbd"], check=False)
        subprocess.run(["modprobe", "nbd", "max_part=16", "nbds_max=16"], check=False)
    if loop_is_module and param("loop", "max_part") != "15":
        subprocess.run(["modprobe", "-r", "loop"], check=False)
        subprocess.run(["modprobe", "loop", "max_part=15"], check=False)
    return failures


if __name__ == "__main__":
    main_exit(main())
