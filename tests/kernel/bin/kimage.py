# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""virt.disk.image_mount on a real kernel: nbd, kpartx and the kernel's
partition scan, adoption of what was made by hand, a busy nbd device, and the
state ladder on nbd. Run by suites/10-image-mount.sh inside the guest.

Each module run is the module process (ktlib.run); every result is checked
against the kernel as bin/kstate.py reads it (sysfs, /proc, dmsetup,
losetup), never through the module under test. Each case is recorded as
image_mount/NAME; after it nothing of any image may be left; a failed case is
recorded with the expectations that did not hold and the guest is reset.
KT_CASES=REGEX picks cases by name. snapshot: writes to qemu-nbd's throwaway overlay.

Images (copies on tmpfs): disk.img (raw GPT: 1=boot ext4, 2=root ext4),
disk.qcow2 and other.qcow2 (the same as qcow2), tree.qcow2 (the operating
system's disk of the host's integration target image_mount_tree: 1=ESP vfat,
2=/boot ext4, 3=root ext4, 4=/var xfs, 5=/home btrfs subvolume @home).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

from ktlib import IMAGES, WORK, CheckFailed, brief, clean_checks, expect, kernel, khand, mounted_at, named, qemu_argv, \
    run, run_cases, main_exit

IMAGE = {"raw": os.path.join(IMAGES, "disk.img"), "qcow2": os.path.join(IMAGES, "disk.qcow2"),
         "other": os.path.join(IMAGES, "other.qcow2"), "tree": os.path.join(IMAGES, "tree.qcow2")}
# the tree of tree.qcow2: target -> (partition, fstype, what its /vd-id says or None)
TREE = [("/", 3, "ext4", "root"), ("/boot", 2, "ext4", "boot"), ("/boot/efi", 1, "vfat", None),
        ("/var", 4, "xfs", "var"), ("/home", 5, "btrfs", "home")]
MNT = os.path.join(WORK, "mnt", "case")
WRITTEN = "written through nbd"


def mount(image, **options):
    return run("image_mount", dict({"image": image, "path": MNT, "partition": "LABEL=root"}, **options))


def state(image, to):
    return run("image_mount", {"image": image, "path": MNT, "state": to})


def evidence(result, k):
    return "result: %s kernel: %s" % (brief(result), k)


def mapper_case(image, backend, mapper, strict_pid=False, bare_connection=None):
    """One backend with one partition_mapper: mount partition 2 (LABEL=root),
    check it against the kernel, a second run changes nothing, absent takes it
    all down. bare_connection: connect this nbd device by hand first and drop
    the partitions the kernel made, so that the mapper has to make them (the
    module adopts the connection). strict_pid: pid must be the qemu-nbd
    process, not the thread in /sys/block/nbdN/pid."""
    def case():
        path = IMAGE[image]
        if bare_connection:
            khand("nbd-connect-bare", bare_connection, "qcow2", path)
        r = mount(path, backend=backend, partition_mapper=mapper)
        k = kernel()
        disk = os.path.basename(r.get("device") or "")
        part = ("/dev/mapper/" if mapper == "kpartx" else "/dev/") + disk + "p2"
        attached = named(k["nbd"] if backend == "nbd" else k["loops"], disk)
        one = attached[0] if len(attached) == 1 else {}
        dm = named(k["dm"], disk + "p2")
        try:
            with open(os.path.join(MNT, "etc", "os-release"), encoding="utf-8") as f:
                os_release = f.read()
        except OSError as e:
            os_release = str(e)
        checks = [
            ("changed", r.get("changed") is True),
            ("backend is %s" % backend, r.get("backend") == backend),
            ("format is %s" % ("raw" if image == "raw" else "qcow2"), r.get("format") == ("raw" if image == "raw" else "qcow2")),
            ("device is /dev/%sN" % backend, re.match("^/dev/%s[0-9]+$" % backend, r.get("device") or "") is not None),
            ("partition is 2", r.get("partition") == 2),
            ("mapper is %s" % mapper, r.get("mapper") == mapper),
            ("partition_device is %s" % part, r.get("partition_device") == part),
            ("fstype is ext4", r.get("fstype") == "ext4"),
            # the kernel: the device is attached to this image ...
            ("the kernel shows %s attached once" % disk, len(attached) == 1),
            # ... the partition exists where the mapper puts it ...
            ("the partition is the mounted source at the path", mounted_at(k, MNT) == [part]),
            ("the image's os-release is readable at the path", "virt.disk sample" in os_release),
        ]
        if bare_connection:
            checks.append(("device is the connection made by hand, %s" % bare_connection, r.get("device") == bare_connection))
        if backend == "nbd":
            checks += [("pid is the server of the device (sysfs pid or its process)", r.get("pid") in (one.get("pid"), one.get("tgid"))),
                       ("the device's qemu-nbd serves this image", path in qemu_argv(k, one.get("tgid")))]
        else:
            checks.append(("the loop device's backing file is this image", one.get("file") == path))
        if mapper == "kpartx":
            checks.append(("a dm map %sp2 on %s" % (disk, disk), [m["slaves"] for m in dm] == [[disk]]))
        else:
            checks.append(("the kernel shows partition %sp2" % disk, disk + "p2" in one.get("parts", [])))
        if strict_pid:
            checks.append(("pid is the qemu-nbd process %s, not the thread %s in sysfs" % (one.get("tgid"), one.get("pid")),
                           r.get("pid") == one.get("tgid")))
        expect(checks, evidence(r, k))

        r2 = mount(path, backend=backend, partition_mapper=mapper)
        expect([("a second run changes nothing", r2.get("changed") is False),
                ("same device", r2.get("device") == r.get("device")),
                ("same partition_device", r2.get("partition_device") == r.get("partition_device"))],
               "second run: %s" % brief(r2))

        r3 = state(path, "absent")
        k = kernel()
        expect([("absent changed", r3.get("changed") is True),
                ("no mount", k["mounts"] == []), ("no dm map", k["dm"] == []),
                ("no nbd connection", k["nbd"] == []), ("no loop device", k["loops"] == []),
                ("no qemu helper", k["qemu"] == []), ("the mount point is gone", not os.path.exists(MNT))],
               evidence(r3, k))
        return "%s %s, mounted and taken down; second run unchanged" % (r["device"], part)
    return case


def adopt_kpartx():
    """A kpartx map made by hand on a loop device (the kernel's own partitions
    of that device dropped, so only the dm maps exist) is adopted: same loop
    device, partition_device is the /dev/mapper node, no second map; unmapped
    removes the maps and the device and keeps the mount point; absent removes it."""
    path = IMAGE["raw"]
    hand = khand("loop-kpartx", path)
    dm_before = sorted(m["name"] for m in kernel()["dm"])
    r = mount(path)
    k = kernel()
    node = "/dev/mapper/%sp2" % os.path.basename(hand)
    expect([("two maps made by hand", len(dm_before) == 2),
            ("changed", r.get("changed") is True),
            ("backend is loop", r.get("backend") == "loop"),
            ("device is the loop device made by hand, %s" % hand, r.get("device") == hand),
            ("partition is 2", r.get("partition") == 2),
            ("partition_device is %s" % node, r.get("partition_device") == node),
            ("mapper is kpartx", r.get("mapper") == "kpartx"),
            ("no second map", sorted(m["name"] for m in k["dm"]) == dm_before),
            ("one loop device", len(k["loops"]) == 1),
            ("the map is mounted at the path", mounted_at(k, MNT) == [node])],
           "by hand: %s %s %s" % (hand, dm_before, evidence(r, k)))
    r2 = state(path, "unmapped")
    k = kernel()
    expect([("unmapped changed", r2.get("changed") is True),
            ("dmsetup ls says No devices found", k["dm_ls"] == "No devices found"),
            ("losetup -a is empty", k["losetup"] == ""),
            ("no mount", k["mounts"] == []),
            ("the mount point stays", os.path.isdir(MNT))], evidence(r2, k))
    r3 = state(path, "absent")
    expect([("absent changed", r3.get("changed") is True),
            ("the mount point is gone", not os.path.exists(MNT))], "absent: %s" % brief(r3))
    return "%s and its maps %s reused; unmapped removed them" % (hand, dm_before)


def adopt_nbd():
    """A qemu-nbd connection made by hand is adopted: same device, same server;
    absent takes it down with its server."""
    path = IMAGE["qcow2"]
    hand_pid = int(khand("nbd-connect", "/dev/nbd3", "qcow2", path))
    r = mount(path)
    k = kernel()
    nbd = k["nbd"]
    expect([("changed", r.get("changed") is True),
            ("backend is nbd", r.get("backend") == "nbd"),
            ("device is /dev/nbd3", r.get("device") == "/dev/nbd3"),
            ("pid is the server made by hand", r.get("pid") == hand_pid or (nbd and r.get("pid") == nbd[0]["pid"])),
            ("partition_device is /dev/nbd3p2", r.get("partition_device") == "/dev/nbd3p2"),
            ("one nbd connection, nbd3, served by qemu-nbd %d" % hand_pid,
             [(d["name"], d["tgid"]) for d in nbd] == [("nbd3", hand_pid)]),
            ("one qemu helper", len(k["qemu"]) == 1),
            ("/dev/nbd3p2 is mounted at the path", mounted_at(k, MNT) == ["/dev/nbd3p2"])],
           "by hand: pid %d %s" % (hand_pid, evidence(r, k)))
    r2 = state(path, "absent")
    k = kernel()
    expect([("absent changed", r2.get("changed") is True),
            ("no nbd connection", k["nbd"] == []), ("no qemu helper", k["qemu"] == []),
            ("no mount", k["mounts"] == []), ("the mount point is gone", not os.path.exists(MNT))],
           evidence(r2, k))
    return "/dev/nbd3 and qemu-nbd %d reused, then taken down" % hand_pid


def nbd_busy():
    """/dev/nbd0 serves another image (connected by hand): the module picks
    another device and leaves nbd0 and its server alone, also on teardown."""
    path = IMAGE["qcow2"]
    hand_pid = int(khand("nbd-connect", "/dev/nbd0", "qcow2", IMAGE["other"]))
    r = mount(path, backend="nbd")
    k = kernel()
    expect([("changed", r.get("changed") is True),
            ("device is /dev/nbdN", re.match("^/dev/nbd[0-9]+$", r.get("device") or "") is not None),
            ("device is not /dev/nbd0", r.get("device") != "/dev/nbd0"),
            ("pid is not the other server", r.get("pid") != hand_pid),
            ("nbd0 is still served by qemu-nbd %d" % hand_pid,
             [d["tgid"] for d in named(k["nbd"], "nbd0")] == [hand_pid]),
            ("that server still serves the other image", IMAGE["other"] in qemu_argv(k, hand_pid)),
            ("the partition is mounted at the path", mounted_at(k, MNT) == [r.get("partition_device")]),
            ("partition_device is not on nbd0", "nbd0" not in (r.get("partition_device") or "nbd0"))],
           evidence(r, k))
    r2 = state(path, "absent")
    k = kernel()
    expect([("absent changed", r2.get("changed") is True),
            ("only nbd0 is connected, by qemu-nbd %d" % hand_pid,
             [(d["name"], d["tgid"]) for d in k["nbd"]] == [("nbd0", hand_pid)]),
            ("the only qemu helper is %d" % hand_pid, [q["pid"] for q in k["qemu"]] == [hand_pid]),
            ("no mount", k["mounts"] == [])], evidence(r2, k))
    expect([("disconnected /dev/nbd0 by hand", khand("nbd-disconnect", "/dev/nbd0") == "ok")])
    return "used %s; nbd0 and qemu-nbd %d untouched" % (r["device"], hand_pid)


# an Euler circuit of the complete directed graph on the four states: all 12 transitions
LADDER = ["unmapped", "mapped", "mounted", "absent", "mapped", "unmapped", "mounted", "mapped", "absent", "mounted",
          "unmapped", "absent"]
LEVEL = {"mounted": 2, "mapped": 1, "unmapped": 0, "absent": 0}


def ladder():
    """backend auto on a qcow2 image (nbd loaded: auto must pick nbd), then every
    one of the 12 transitions between mounted, mapped, unmapped and absent, each
    checked against the kernel. The first time the ladder reaches a state the
    same run is repeated and must change nothing. A file written while mounted
    is read back after the image was unmapped and mounted again."""
    path = IMAGE["qcow2"]
    note = os.path.join(MNT, "kernel-tier.txt")
    current, written, reached = "absent", False, []
    for to in LADDER:
        step = "%s -> %s" % (current, to)
        dir_before = os.path.isdir(MNT)
        r = state(path, to)
        r2 = state(path, to) if to not in reached else None
        k = kernel()
        ctx = "%s: %s" % (step, evidence(r, k))
        wanted_change = LEVEL[current] != LEVEL[to] or (to == "absent" and dir_before)
        checks = [("%s: changed is %s" % (step, wanted_change), r.get("changed") is wanted_change),
                  ("%s: the same run again changes nothing" % to, r2 is None or r2.get("changed") is False)]
        if to in ("mounted", "mapped"):
            disk = os.path.basename(r.get("device") or "")
            served = named(k["nbd"], disk)
            checks += [("backend is nbd", r.get("backend") == "nbd"),
                       ("format is qcow2", r.get("format") == "qcow2"),
                       ("device is /dev/nbdN", re.match("^/dev/nbd[0-9]+$", r.get("device") or "") is not None),
                       ("partition is 2", r.get("partition") == 2),
                       ("partition_device is the device's p2", r.get("partition_device") == "%sp2" % r.get("device")),
                       ("the kernel shows %s connected" % disk, len(served) == 1),
                       ("pid is its server", bool(served) and r.get("pid") in (served[0]["pid"], served[0]["tgid"])),
                       ("one qemu helper", len(k["qemu"]) == 1),
                       ("the partition node exists", os.path.exists(r.get("partition_device") or ""))]
        if to == "mounted":
            checks += [("mounted at the path, nowhere else", [m["target"] for m in k["mounts"]] == [MNT]),
                       ("the source is partition_device", [m["source"] for m in k["mounts"]] == [r.get("partition_device")]),
                       ("the result's mounts are the path", [m.get("path") for m in r.get("mounts", [])] == [MNT])]
        elif to == "mapped":
            checks += [("nothing mounted", k["mounts"] == []),
                       ("the result has no mounts", r.get("mounts") == []),
                       ("the mount point stays where it was", os.path.isdir(MNT) or not dir_before)]
        else:
            checks += [("no nbd connection", k["nbd"] == []), ("no qemu helper", k["qemu"] == []),
                       ("no mount", k["mounts"] == []), ("no dm map", k["dm"] == []),
                       ("the mount point is there only when unmapped and it was there before",
                        os.path.isdir(MNT) == (to == "unmapped" and dir_before))]
        expect(checks, ctx + ("; again: %s" % brief(r2) if r2 else ""))
        if to == "mounted":
            if written:
                try:
                    with open(note, encoding="utf-8") as f:
                        text = f.read().rstrip("\n")
                except OSError as e:
                    text = str(e)
                expect([("the file written earlier reads %r" % WRITTEN, text == WRITTEN)], "read %r" % text)
            else:
                expect([("wrote a file through the mount", khand("write", note, WRITTEN) == "ok")])
                written = True
        reached.append(to)
        current = to
    if not written:
        raise CheckFailed("the ladder never mounted the image")
    return "12 transitions checked against the kernel, 4 repeats unchanged, the written file survived"


def tree_case():
    """layout tree over nbd with kpartx maps: the root and every fstab entry
    of the image mounted beneath it, the vfat ESP too (the host's kernel has
    no vfat and skips it); a second run changes nothing; the chroot runtime
    over it, with a daemon left running in the chroot; absent stops the
    daemon and takes the whole tree down."""
    path = IMAGE["tree"]
    args = {"image": path, "path": MNT, "layout": "tree", "backend": "nbd", "partition_mapper": "kpartx"}
    r = run("image_mount", args)
    k = kernel()
    disk = os.path.basename(r.get("device") or "")
    entries = r.get("tree") or []
    targets = [e.get("target") for e in entries]
    by_target = dict((e.get("target"), e) for e in entries)
    checks = [("changed", r.get("changed") is True),
              ("backend nbd, mapper kpartx", (r.get("backend"), r.get("mapper")) == ("nbd", "kpartx")),
              ("the tree is %s" % sorted(t[0] for t in TREE), sorted(targets) == sorted(t[0] for t in TREE)),
              ("the root first, /boot before /boot/efi",
               targets[:1] == ["/"] and {"/boot", "/boot/efi"} <= set(targets)
               and targets.index("/boot") < targets.index("/boot/efi")),
              ("nothing of the image was skipped because this kernel cannot mount it",
               not [s for s in r.get("tree_skipped") or [] if "cannot mount" in (s.get("reason") or "")]),
              ("the kernel shows only the tree's mounts", len(k["mounts"]) == len(TREE))]
    for target, number, fstype, vd_id in TREE:
        entry = by_target.get(target, {})
        host = MNT if target == "/" else MNT + target
        device = "/dev/mapper/%sp%d" % (disk, number)
        fstypes = [m["fstype"] for m in k["mounts"] if m["target"] == host]
        checks += [("%s: %s mounted at %s" % (target, device, host), mounted_at(k, host) == [device]),
                   ("%s: the kernel says %s (it says %s)" % (target, fstype, fstypes), fstypes == [fstype]),
                   ("%s: the result says partition %d, %s" % (target, number, fstype),
                    (entry.get("partition"), entry.get("fstype"), entry.get("path")) == (number, fstype, host))]
        if vd_id:
            try:
                with open(os.path.join(host, "vd-id"), encoding="utf-8") as f:
                    found = f.read().strip()
            except OSError as e:
                found = str(e)
            checks.append(("%s/vd-id says %s (it says %r)" % (target, vd_id, found), found == vd_id))
    expect(checks, evidence(r, k))

    r2 = run("image_mount", args)
    expect([("a second run changes nothing", r2.get("changed") is False),
            ("the same tree", [e.get("device") for e in r2.get("tree") or []] == [e.get("device") for e in entries])],
           "second run: %s" % brief(r2))

    # the chroot runtime over the tree, a static busybox as the image's userland, a daemon left running
    # (killed when a check fails, so that the case's cleanup can unmount)
    try:
        shutil.copy("/bin/busybox", os.path.join(MNT, "busybox"))
        rt = run("image_mount", dict(args, runtime="chroot"))
        subprocess.run(["chroot", MNT, "/busybox", "sh", "-c",
                        "/busybox setsid /busybox sleep 876 </dev/null >/dev/null 2>&1 &"], check=True)
        k = kernel()
        daemon = subprocess.run(["pgrep", "-f", "^/busybox sleep 876$"], capture_output=True, text=True,
                                check=False).stdout.split()
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            fstypes = dict((line.split()[4], line.split(" - ")[1].split()[0]) for line in f)
        expect([("runtime changed", rt.get("changed") is True),
                ("runtime: %s" % [m.get("target") for m in rt.get("runtime") or []],
                 [m.get("target") for m in rt.get("runtime") or []][:5] == ["/dev", "/dev/pts", "/proc", "/sys", "/run"]),
                ("devpts, proc, sysfs in the tree", (fstypes.get(MNT + "/dev/pts"), fstypes.get(MNT + "/proc"),
                                                     fstypes.get(MNT + "/sys")) == ("devpts", "proc", "sysfs")),
                ("a daemon runs in the chroot", len(daemon) == 1)], evidence(rt, k))

        r3 = state(path, "absent")
        k = kernel()
        left = subprocess.run(["pgrep", "-f", "^/busybox sleep 876$"], capture_output=True, text=True,
                              check=False).stdout.split()
        expect([("absent changed", r3.get("changed") is True),
                ("absent stopped the daemon first",
                 (r3.get("actions") or [""])[0].startswith("stopped process %s (busybox" % (daemon or ["?"])[0])),
                ("no daemon left", not left)] + clean_checks(k)
               + [("the mount point is gone", not os.path.exists(MNT))], evidence(r3, k))
    finally:
        subprocess.run(["pkill", "-KILL", "-f", "^/busybox sleep 876$"], check=False)
    mounts = ", ".join("%s=%sp%d" % (t[0], disk, t[1]) for t in TREE)
    return "%s: %s mounted at once (vfat, xfs, btrfs subvolume included), unchanged again, the chroot runtime " \
        "with a daemon, absent stopped it and took it down" % (disk, mounts)


def snapshot_case():
    """snapshot on a raw image with backend auto: qemu-nbd --snapshot (auto
    takes nbd, as loop cannot), a write and a deletion through the mount, a
    second run unchanged, absent takes it down, and the image's bytes are the
    same as before."""
    path = IMAGE["raw"]
    before = _sha256(path)
    r = mount(path, snapshot=True)
    k = kernel()
    disk = os.path.basename(r.get("device") or "")
    one = named(k["nbd"], disk)
    one = one[0] if len(one) == 1 else {}
    argv = qemu_argv(k, one.get("tgid"))
    try:
        with open(os.path.join(MNT, "thrown-away"), "w", encoding="utf-8") as f:
            f.write(WRITTEN)
        os.unlink(os.path.join(MNT, "etc", "os-release"))
        os.sync()
        wrote = "ok"
    except OSError as e:
        wrote = str(e)
    expect([("changed", r.get("changed") is True),
            ("backend nbd (auto, snapshot)", r.get("backend") == "nbd"),
            ("the result says snapshot", r.get("snapshot") is True),
            ("the device's qemu-nbd runs with --snapshot (%s)" % " ".join(argv), "--snapshot" in argv),
            ("writable: a write and a deletion went through (%s)" % wrote, wrote == "ok"),
            ("the partition is mounted read-write at the path",
             mounted_at(k, MNT) == ["/dev/%sp2" % disk] and not r.get("read_only"))], evidence(r, k))

    r2 = mount(path, snapshot=True)
    expect([("a second run changes nothing", r2.get("changed") is False),
            ("still a snapshot", r2.get("snapshot") is True)], "second run: %s" % brief(r2))

    r3 = state(path, "absent")
    k = kernel()
    after = _sha256(path)
    expect([("absent changed", r3.get("changed") is True)] + clean_checks(k)
           + [("the image's sha256 did not change", after == before)], evidence(r3, k))
    return "%s over qemu-nbd --snapshot: written and deleted, absent discarded it, image unchanged" % disk


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


CASES = [
    # partition_mapper per backend; the image is GPT: 1=boot ext4, 2=root ext4
    ("nbd-kernel-qcow2", mapper_case("qcow2", "nbd", "kernel", strict_pid=True)),
    ("nbd-kpartx-qcow2", mapper_case("qcow2", "nbd", "kpartx")),
    ("nbd-kpartx-raw", mapper_case("raw", "nbd", "kpartx")),
    # Linux 6.1 scans nbd partitions on connect even with max_part=0 (extended
    # minors), so for partx to have something to do, the image is connected by
    # hand and the kernel's partitions are dropped first: the module adopts the
    # connection and partx must make /dev/nbd5p2
    ("nbd-partx-qcow2", mapper_case("qcow2", "nbd", "partx", bare_connection="/dev/nbd5")),
    ("loop-kernel-raw", mapper_case("raw", "loop", "kernel")),
    ("loop-kpartx-raw", mapper_case("raw", "loop", "kpartx")),
    ("adopt-kpartx-map", adopt_kpartx),
    ("adopt-qemu-nbd-connection", adopt_nbd),
    ("nbd-busy-device-never-taken", nbd_busy),
    ("auto-nbd-state-ladder", ladder),
    ("tree-nbd-kpartx-qcow2", tree_case),
    ("snapshot-nbd-raw", snapshot_case),
]


if __name__ == "__main__":
    main_exit(run_cases("image_mount", CASES, os.environ.get("KT_CASES", "")))
