# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""virt.disk.image_mount with LVM and LUKS inside images, on a real kernel
(device-mapper exists only here). Run by suites/30-volumes.sh in the guest.

The images are built here, in the guest (bin/kvolumes.py build_*), since
lvcreate and cryptsetup need device-mapper: lvm.img (raw GPT: 1=boot ext4,
2=LVM PV of VG vg0 with LVs root and var, ext4; root has an /etc/fstab that
mounts them the way installers write it: /dev/mapper/vg0-root at /,
LABEL=boot at /boot, /dev/vg0/var at /var), luks-lvm.qcow2 (the same with
the PV inside LUKS2), luks1.img (2=LUKS1 with ext4 inside) and crypt-tree.img
(1=root ext4, 2=LUKS2 and 3=LUKS1 with ext4 inside; the root's crypttab names
2 cryptdata by its LUKS UUID and 3 by its PARTUUID, with a key file path of
the image that is not used; its fstab mounts /dev/mapper/cryptdata at
/srv/data and UUID= of the filesystem inside 3 at /home). Every lvm2
command of the build is limited to the image's device (--devices), so the
"host" VG vg0 that a case makes on a loop device of its own can exist beside it.

Each case checks the module's results against the kernel (bin/kstate.py:
sysfs, dmsetup, losetup, mountinfo) and leaves nothing; ktlib.run_cases checks
that after each case no dm map, loop device, mount or qemu helper is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

from ktlib import ENV, REPO, RUN_TIMEOUT, WORK, CheckFailed, brief, expect, kernel, mounted_at, run, run_cases, main_exit, sh, start

IMAGES = os.path.join(WORK, "volumes")
LVM_IMG = os.path.join(IMAGES, "lvm.img")
LUKS_LVM = os.path.join(IMAGES, "luks-lvm.qcow2")
LUKS1 = os.path.join(IMAGES, "luks1.img")
CRYPT_TREE = os.path.join(IMAGES, "crypt-tree.img")
HOME_UUID = "5eb0c0de-0000-4000-8000-00000000c0de"
HOST_DISK = os.path.join(IMAGES, "host-vg0.img")
KEYFILE = os.path.join(IMAGES, "keyfile")
PASS = "correct horse battery staple"
FSTAB = """# written by kvolumes.py, as an installer would
/dev/mapper/vg0-root / ext4 errors=remount-ro 0 1
LABEL=boot /boot ext4 defaults 0 2
/dev/vg0/var /var ext4 defaults 0 2
"""
MNT = os.path.join(WORK, "mnt", "vol")
MNT2 = os.path.join(WORK, "mnt", "vol2")
BUILD_MNT = os.path.join(WORK, "mnt", "vol-build")
# lvm2 of the build and of the "host": no udev in the guest, no devices file
LVM_CONFIG = "activation { udev_sync=0 udev_rules=0 } devices { use_devicesfile=0 }"
FAST_LUKS = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--batch-mode"]


def lvm(command, device, *args):
    return sh("lvm", command, "--config", LVM_CONFIG, "--devices", device, *args)


def build_disk(path, inside, luks_type=None):
    """A raw GPT disk at path: 1=boot ext4; 2=an LVM PV with vg0/root and
    vg0/var (inside "lvm") or ext4 labelled secret (inside "ext4"), in LUKS
    of luks_type when given (key PASS, and KEYFILE in slot 1)."""
    sh("truncate", "-s", "96M", path)
    sh("sfdisk", "-q", path, data="label: gpt\nsize=16MiB, name=boot\nname=%s\n" % inside)
    loop = sh("losetup", "-f", "-P", "--show", path)
    try:
        sh("mkfs.ext4", "-q", "-L", "boot", loop + "p1")
        dev = loop + "p2"
        if luks_type:
            sh("cryptsetup", "luksFormat", "--type", luks_type, *FAST_LUKS, "--key-file=-", dev, data=PASS)
            sh("cryptsetup", "luksAddKey", *FAST_LUKS, "--key-file=-", dev, KEYFILE, data=PASS)
            sh("cryptsetup", "open", "--key-file=-", dev, "kt-build", data=PASS)
            dev = "/dev/mapper/kt-build"
        try:
            if inside == "lvm":
                lvm("pvcreate", dev, "-q", dev)
                lvm("vgcreate", dev, "-q", "vg0", dev)
                for lv, size in (("root", "32M"), ("var", "16M")):
                    lvm("lvcreate", dev, "-q", "-y", "-L", size, "-n", lv, "vg0")
                    sh("mkfs.ext4", "-q", "-L", lv, "/dev/mapper/vg0-" + lv)
                os.makedirs(BUILD_MNT, exist_ok=True)
                sh("mount", "/dev/mapper/vg0-root", BUILD_MNT)
                try:
                    for name in ("etc", "boot", "var"):
                        os.mkdir(os.path.join(BUILD_MNT, name))
                    with open(os.path.join(BUILD_MNT, "etc", "fstab"), "w", encoding="utf-8") as f:
                        f.write(FSTAB)
                finally:
                    sh("umount", BUILD_MNT)
                lvm("vgchange", dev, "-q", "-an", "vg0")
            else:
                sh("mkfs.ext4", "-q", "-L", "secret", dev)
        finally:
            if luks_type:
                sh("cryptsetup", "close", "kt-build")
    finally:
        sh("losetup", "-d", loop)


def build_crypt_tree(path):
    """crypt-tree.img (see the module's docstring); both LUKS partitions open with PASS."""
    sh("truncate", "-s", "112M", path)
    sh("sfdisk", "-q", path, data="label: gpt\nsize=24MiB, name=root\nsize=40MiB, name=data\nname=home\n")
    loop = sh("losetup", "-f", "-P", "--show", path)
    try:
        sh("mkfs.ext4", "-q", "-L", "root", loop + "p1")
        for number, luks_type, label, extra in ((2, "luks2", "data", []), (3, "luks1", "home", ["-U", HOME_UUID])):
            dev = "%sp%d" % (loop, number)
            sh("cryptsetup", "luksFormat", "--type", luks_type, *FAST_LUKS, "--key-file=-", dev, data=PASS)
            sh("cryptsetup", "open", "--key-file=-", dev, "kt-build", data=PASS)
            try:
                sh("mkfs.ext4", "-q", "-L", label, *extra, "/dev/mapper/kt-build")
            finally:
                sh("cryptsetup", "close", "kt-build")
        data_uuid = sh("cryptsetup", "luksUUID", loop + "p2")
        home_partuuid = sh("blkid", "-p", "-s", "PART_ENTRY_UUID", "-o", "value", loop + "p3")
        os.makedirs(BUILD_MNT, exist_ok=True)
        sh("mount", loop + "p1", BUILD_MNT)
        try:
            for name in ("bin", "etc", "home", "srv"):
                os.mkdir(os.path.join(BUILD_MNT, name))
            # a shell for the connection's chroot (busybox-static, which vng's initramfs needs anyway)
            shutil.copy2(shutil.which("busybox"), os.path.join(BUILD_MNT, "bin", "busybox"))
            os.symlink("busybox", os.path.join(BUILD_MNT, "bin", "sh"))
            with open(os.path.join(BUILD_MNT, "etc", "crypttab"), "w", encoding="utf-8") as f:
                f.write("# written by kvolumes.py\ncryptdata UUID=%s none luks,discard\n"
                        "crypthome PARTUUID=%s /etc/keys/home.key luks\n" % (data_uuid, home_partuuid))
            with open(os.path.join(BUILD_MNT, "etc", "fstab"), "w", encoding="utf-8") as f:
                f.write("LABEL=root / ext4 defaults 0 1\n/dev/mapper/cryptdata /srv/data ext4 defaults 0 2\n"
                        "UUID=%s /home ext4 defaults 0 2\n" % HOME_UUID)
        finally:
            sh("umount", BUILD_MNT)
    finally:
        sh("losetup", "-d", loop)


def build():
    os.makedirs(IMAGES, exist_ok=True)
    with open(KEYFILE, "wb") as f:
        f.write(os.urandom(64))
    os.chmod(KEYFILE, 0o600)
    build_disk(LVM_IMG, "lvm")
    build_disk(LUKS_LVM + ".raw", "lvm", "luks2")
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", LUKS_LVM + ".raw", LUKS_LVM)
    os.unlink(LUKS_LVM + ".raw")
    build_disk(LUKS1, "ext4", "luks1")
    build_crypt_tree(CRYPT_TREE)


class HostVG(object):
    """The "host's" VG vg0 with LV root, active on a loop device of its own, as an installer leaves it."""

    def __enter__(self):
        sh("truncate", "-s", "32M", HOST_DISK)
        self.loop = sh("losetup", "-f", "--show", HOST_DISK)
        lvm("pvcreate", self.loop, "-q", self.loop)
        lvm("vgcreate", self.loop, "-q", "vg0", self.loop)
        lvm("lvcreate", self.loop, "-q", "-y", "-L", "8M", "-n", "root", "vg0")
        self.table = self.now()
        return self

    def now(self):
        """The table of the host's vg0-root, '' when it is not there."""
        try:
            return sh("dmsetup", "table", "vg0-root")
        except CheckFailed:
            return ""

    def __exit__(self, *exc):
        try:
            lvm("vgchange", self.loop, "-q", "-an", "vg0")
        finally:
            sh("losetup", "-d", self.loop)
            os.unlink(HOST_DISK)


def dm_names():
    return sorted(m["name"] for m in kernel()["dm"])


def image_maps():
    return [n for n in dm_names() if n.startswith("virtdisk-")]


def mount_lv(image, lv, path=MNT, may_fail=False, **options):
    return run("image_mount", dict({"image": image, "path": path, "partition": "LV=" + lv}, **options),
               may_fail=may_fail)


def down(image, state="absent", path=MNT, may_fail=False):
    return run("image_mount", {"image": image, "path": path, "state": state}, may_fail=may_fail)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def same_named_vg():
    """The image's VG vg0 beside the host's active vg0: LV=vg0/root and
    vg0/var mounted, a second run unchanged, the host's vg0-root untouched;
    absent takes both down; read-only again, the data there."""
    with HostVG() as host:
        r = mount_lv(LVM_IMG, "vg0/root")
        k = kernel()
        maps = image_maps()
        root = [n for n in maps if n.endswith("-vg0-root")]
        expect([("changed", r.get("changed") is True),
                ("one map of the image's vg0/root, virtdisk-...-vg0-root (maps %s)" % maps, len(root) == 1),
                ("partition_device is it", r.get("partition_device") == "/dev/mapper/%s" % (root[0] if root else "")),
                ("it is mounted at the path", root and mounted_at(k, MNT) == ["/dev/mapper/" + root[0]]),
                ("the host's vg0-root is there, unchanged", host.now() == host.table),
                ("volumes lists it as ours", [v["name"] for v in r.get("volumes", []) if v.get("ours")] == root)],
               "result: %s kernel: %s" % (brief(r), k))
        with open(os.path.join(MNT, "data"), "w", encoding="utf-8") as f:
            f.write("written on the image's vg0/root")
        again = mount_lv(LVM_IMG, "vg0/root")
        r2 = mount_lv(LVM_IMG, "vg0/var", path=MNT2)
        k = kernel()
        expect([("a second run changed nothing", again.get("changed") is False),
                ("vg0/var mounted too", len(mounted_at(k, MNT2)) == 1 and mounted_at(k, MNT2)[0].endswith("-vg0-var")),
                ("two maps of the image", len(image_maps()) == 2),
                ("the host's vg0-root unchanged", host.now() == host.table)],
               "again: %s var: %s kernel: %s" % (brief(again), brief(r2), k))
        r3 = down(LVM_IMG)
        k = kernel()
        expect([("absent changed", r3.get("changed") is True),
                ("no map of the image left (maps: %s)" % dm_names(), image_maps() == []),
                ("the host's vg0-root still active, unchanged", host.now() == host.table),
                ("only the host's loop device", len(k["loops"]) == 1),
                ("nothing mounted", k["mounts"] == [])], "absent: %s kernel: %s" % (brief(r3), k))
        r4 = mount_lv(LVM_IMG, "vg0/root", read_only=True)
        k = kernel()
        ro_map = image_maps()
        dm = [m for m in k["dm"] if m["name"] in ro_map]
        expect([("read-only mounted", r4.get("changed") is True and r4.get("read_only") is True),
                ("the data is there", read(os.path.join(MNT, "data")) == "written on the image's vg0/root"),
                ("its map is read-only", len(dm) == 1 and dm[0].get("ro") == "1"),
                ("the host's vg0-root unchanged", host.now() == host.table)], "read-only: %s kernel: %s"
               % (brief(r4), k))
        down(LVM_IMG)
        down(LVM_IMG, path=MNT2)
        expect([("the host's vg0-root active to the end", host.now() == host.table)])
    return "image vg0/root and vg0/var as %s beside the host's active vg0-root (untouched); read-only again" % root


def luks_lvm():
    """vg0 inside LUKS2 of a qcow2 on nbd: no key and a wrong key fail and
    leave nothing; with the key, mapped opens LUKS and activates the LV
    (image_mount_info lists both), then mounted (as a run that stopped after
    activating would be re-run) adopts what is there; unmapped closes the LV
    and the LUKS mapping before the device goes."""
    r0 = mount_lv(LUKS_LVM, "vg0/root", backend="nbd", may_fail=True)
    k = kernel()
    expect([("no key: failed", r0.get("failed") is True),
            ("the message names passphrase and keyfile", "passphrase or keyfile" in (r0.get("msg") or "")),
            ("nothing left", k["nbd"] == [] and k["dm"] == [] and k["qemu"] == [])], "no key: %s %s" % (brief(r0), k))
    r1 = mount_lv(LUKS_LVM, "vg0/root", backend="nbd", passphrase="wrong", may_fail=True)
    k = kernel()
    expect([("wrong key: failed", r1.get("failed") is True),
            ("the message says the key does not open it", "key does not open" in (r1.get("msg") or "")),
            ("nothing left", k["nbd"] == [] and k["dm"] == [] and k["qemu"] == [])], "wrong: %s %s" % (brief(r1), k))
    r2 = run("image_mount", {"image": LUKS_LVM, "path": MNT, "partition": "LV=vg0/root", "backend": "nbd",
                             "passphrase": PASS, "state": "mapped"})
    # The guest runs udev with lvm2's rules: once the LUKS mapping shows a physical volume, lvm2's event
    # activation may activate vg0 itself (vg0-root, vg0-var) before the module makes its map; then the module
    # uses that one rather than make a second map of the same volume. Either is right; both are the image's.
    lv_dev = r2.get("partition_device") or ""
    crypt = [n for n in image_maps() if n.endswith("-p2")]
    expect([("mapped changed", r2.get("changed") is True),
            ("our LUKS mapping ...-p2 (maps %s)" % dm_names(), len(crypt) == 1),
            ("partition_device is the LV, ours or lvm2's (%s)" % lv_dev,
             lv_dev == "/dev/mapper/vg0-root" or (lv_dev.startswith("/dev/mapper/virtdisk-")
                                                  and lv_dev.endswith("-vg0-root"))),
            ("nothing mounted", kernel()["mounts"] == [])], "mapped: %s" % brief(r2))
    by_lvm = [n for n in dm_names() if not n.startswith("virtdisk-")]
    info = run("image_mount_info", {})
    listed = [[v["name"] for v in i.get("volumes", [])] for i in info.get("images", [])]
    lv_name = lv_dev[len("/dev/mapper/"):]
    expect([("image_mount_info lists the LV before the LUKS mapping, and no other image (it lists %s)" % listed,
             len(listed) == 1 and lv_name in listed[0] and listed[0][-1] == crypt[0]),
            ("what is not ours is lvm2's own activation of vg0 (%s)" % by_lvm,
             set(by_lvm) <= set(["vg0-root", "vg0-var"]))])
    maps = dm_names()
    r3 = mount_lv(LUKS_LVM, "vg0/root", backend="nbd", passphrase=PASS)
    k = kernel()
    expect([("mounted changed", r3.get("changed") is True),
            ("adopted: no volume opened again", not [a for a in r3.get("actions", []) if "opened" in a or
                                                     "activated" in a]),
            ("the LV is mounted", mounted_at(k, MNT) == [lv_dev]),
            ("the same maps", dm_names() == maps)], "mounted: %s kernel: %s" % (brief(r3), k))
    r4 = down(LUKS_LVM, "unmapped")
    k = kernel()
    closes = [a for a in r4.get("actions", []) if a.startswith("closed")]
    expect([("unmapped changed", r4.get("changed") is True),
            ("closed the LVs, the LUKS mapping last", len(closes) >= 2 and all("vg0" in c for c in closes[:-1])
             and closes[-1].endswith("-p2")),
            ("no dm map, nbd or qemu helper left", k["dm"] == [] and k["nbd"] == [] and k["qemu"] == [])],
           "unmapped: %s kernel: %s" % (brief(r4), k))
    down(LUKS_LVM)
    return "no key and a wrong key refused with nothing left; %s over %s (lvm2's event activation made %s); " \
        "adopted after mapped; closed in order" % (lv_dev, crypt, by_lvm or "nothing")


def luks1_partition():
    """A LUKS1 partition selected by number, opened with a key file; then a
    mapping opened by hand (cryptsetup open) is adopted and closed by unmapped."""
    r = run("image_mount", {"image": LUKS1, "path": MNT, "partition": "2", "keyfile": KEYFILE})
    k = kernel()
    maps = image_maps()
    expect([("changed", r.get("changed") is True),
            ("one LUKS mapping, ...-p2 (maps %s)" % maps, len(maps) == 1 and maps[0].endswith("-p2")),
            ("it is mounted", mounted_at(k, MNT) == ["/dev/mapper/" + maps[0]] if maps else False),
            ("its fstype is ext4", r.get("fstype") == "ext4")], "result: %s kernel: %s" % (brief(r), k))
    down(LUKS1, "unmapped")
    loop = sh("losetup", "-f", "-P", "--show", LUKS1)
    sh("cryptsetup", "open", "--key-file", KEYFILE, loop + "p2", "by-hand")
    r2 = run("image_mount", {"image": LUKS1, "path": MNT, "partition": "2"})
    k = kernel()
    expect([("changed", r2.get("changed") is True),
            ("the mapping made by hand is mounted, no key needed", mounted_at(k, MNT) == ["/dev/mapper/by-hand"]),
            ("no second mapping", dm_names() == ["by-hand"]),
            ("volumes lists it, not ours", [(v["name"], v["ours"], v["type"]) for v in r2.get("volumes", [])]
             == [("by-hand", False, "luks")])], "by hand: %s kernel: %s" % (brief(r2), k))
    r3 = down(LUKS1)
    k = kernel()
    expect([("absent closed it and detached", r3.get("changed") is True and k["dm"] == [] and k["loops"] == [])],
           "absent: %s kernel: %s" % (brief(r3), k))
    return "LUKS1 opened with a key file as %s; a mapping by hand adopted and closed" % maps


def busy_lv():
    """An LV held open by a process: unmapped fails naming the process, and
    the LV, the loop device and its partitions stay; once it is gone, unmapped works."""
    run("image_mount", {"image": LVM_IMG, "partition": "LV=vg0/var", "state": "mapped"})
    maps = image_maps()
    holder = subprocess.Popen(["sh", "-c", 'exec 3<"$1"; exec sleep 600', "holder", "/dev/mapper/" + maps[0]])
    try:
        time.sleep(1)
        r = down(LVM_IMG, "unmapped", may_fail=True)
        k = kernel()
        expect([("unmapped failed", r.get("failed") is True),
                ("the message names the process %d" % holder.pid, "process %d" % holder.pid in (r.get("msg") or "")),
                ("the LV stays", image_maps() == maps),
                ("the loop device stays", len(k["loops"]) == 1)], "busy: %s kernel: %s" % (brief(r), k))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    r2 = down(LVM_IMG)
    expect([("then unmapped took it down", r2.get("changed") is True and kernel()["dm"] == [])], brief(r2))
    return "%s held by process %d: refused naming it, nothing below pulled away; then taken down" % (maps, holder.pid)


def tree_luks_lvm():
    """layout tree of luks-lvm.qcow2 (its root vg0/root inside LUKS2): the first run is killed (SIGKILL)
    once it has opened LUKS, the re-run adopts what it left and mounts the tree as the image's fstab says
    (/boot a partition, /var the LV /dev/vg0/var); a second run changes nothing; absent takes it all down;
    read-only again, the data written to /var is there."""
    args = {"image": LUKS_LVM, "path": MNT, "partition": "LV=vg0/root", "layout": "tree", "backend": "nbd",
            "passphrase": PASS}
    proc = start("image_mount", args)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline and not [n for n in image_maps() if n.endswith("-p2")]:
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        proc.kill()
    proc.communicate(timeout=600)
    left = kernel()
    if killed:
        stopped = "killed with %s open and %d mounts" % (image_maps() or "nothing", len(left["mounts"]))
    else:
        stopped = "finished before it could be killed"
    r = run("image_mount", args)
    k = kernel()
    tree = {e.get("target"): e for e in r.get("tree", [])}
    var_dev = (tree.get("/var") or {}).get("device") or ""
    # ours, or lvm2's own when its event activation took vg0 once the killed run had opened LUKS
    ours = var_dev.startswith("/dev/mapper/virtdisk-") and var_dev.endswith("-vg0-var")
    var_is_lv = ours or var_dev == "/dev/mapper/vg0-var"
    expect([("changed", r.get("changed") is True),
            ("the tree is /, /boot, /var (%s)" % sorted(tree), sorted(tree) == ["/", "/boot", "/var"]),
            ("/var is the logical volume vg0/var", (tree.get("/var") or {}).get("volume") == "vg0/var"),
            ("/boot is partition 1", (tree.get("/boot") or {}).get("partition") == 1),
            ("the kernel has vg0/var at /var (%s)" % var_dev,
             var_is_lv and mounted_at(k, os.path.join(MNT, "var")) == [var_dev]),
            ("and a partition at /boot", len(mounted_at(k, os.path.join(MNT, "boot"))) == 1),
            ("the LUKS mapping was not opened twice", len([n for n in image_maps() if n.endswith("-p2")]) == 1),
            ("nothing opened again that the killed run had opened",
             not killed or not [a for a in r.get("actions", []) if a.startswith("opened the LUKS")])],
           "%s; result: %s kernel: %s" % (stopped, brief(r), k))
    with open(os.path.join(MNT, "var", "data"), "w", encoding="utf-8") as f:
        f.write("written on the image's /var")
    again = run("image_mount", args)
    expect([("a second run changed nothing", again.get("changed") is False)], brief(again))
    gone = down(LUKS_LVM)
    k = kernel()
    expect([("absent changed", gone.get("changed") is True),
            ("no dm map, nbd or qemu helper left", k["dm"] == [] and k["nbd"] == [] and k["qemu"] == [])],
           "absent: %s kernel: %s" % (brief(gone), k))
    ro = run("image_mount", dict(args, read_only=True))
    expect([("read-only tree mounted", ro.get("changed") is True),
            ("the data written to /var is there", read(os.path.join(MNT, "var", "data")) == "written on the image's /var")],
           brief(ro))
    down(LUKS_LVM)
    return "tree of LV vg0/root in LUKS2 (first run %s): /boot partition 1, /var %s; read-only again" % (
        stopped, var_dev)


def tree_crypttab_teardown_all():
    """layout tree of crypt-tree.img: without a key it fails naming passphrase and keyfile and leaves nothing,
    and with partition 2 opened by hand it names partition 3 alone as closed; with a key, /srv/data (the
    crypttab's cryptdata, LUKS2) and /home (UUID= of the filesystem inside LUKS1) are opened and mounted,
    a second run changes nothing; then playbooks/teardown_all.yml takes it down together with lvm.img's
    vg0/var (mapped), and nothing is left."""
    args = {"image": CRYPT_TREE, "path": MNT, "partition": "LABEL=root", "layout": "tree"}
    r0 = run("image_mount", args, may_fail=True)
    k = kernel()
    expect([("no key: failed", r0.get("failed") is True),
            ("the message names passphrase and keyfile", "set passphrase or keyfile" in (r0.get("msg") or "")),
            ("nothing left", k["dm"] == [] and k["loops"] == [] and k["mounts"] == [])],
           "no key: %s kernel: %s" % (brief(r0), k))
    print("no key: %s" % r0.get("msg"), flush=True)
    # partition 2 opened by hand: without a key the run looks into it (/srv/data is found there) and the
    # message names only partition 3 as closed
    loop = sh("losetup", "-f", "-P", "--show", CRYPT_TREE)
    sh("cryptsetup", "open", "--key-file=-", loop + "p2", "by-hand", data=PASS)
    r1 = run("image_mount", args, may_fail=True)
    expect([("no key, 2 open by hand: failed", r1.get("failed") is True),
            ("the message names partition 3 alone as closed",
             "(partition 3 is LUKS-encrypted and no key was given" in (r1.get("msg") or ""))],
           "2 open by hand: %s" % brief(r1))
    down(CRYPT_TREE)
    k = kernel()
    expect([("absent closed the mapping by hand and detached", k["dm"] == [] and k["loops"] == [] and k["mounts"] == [])],
           "kernel: %s" % k)
    r = run("image_mount", dict(args, passphrase=PASS))
    k = kernel()
    tree = {e.get("target"): e for e in r.get("tree", [])}
    maps = image_maps()
    data, home = tree.get("/srv/data") or {}, tree.get("/home") or {}
    expect([("changed", r.get("changed") is True),
            ("the tree is /, /home, /srv/data (%s)" % sorted(tree), sorted(tree) == ["/", "/home", "/srv/data"]),
            ("/srv/data is LUKS partition 2, /home LUKS partition 3",
             (data.get("partition"), data.get("encrypted"), home.get("partition"), home.get("encrypted"))
             == (2, True, 3, True)),
            ("two LUKS mappings of ours, -p2 and -p3 (%s)" % maps,
             sorted(n[-3:] for n in maps) == ["-p2", "-p3"] and len(maps) == 2),
            ("the kernel mounts them there", mounted_at(k, os.path.join(MNT, "srv", "data")) == [data.get("device")]
             and mounted_at(k, os.path.join(MNT, "home")) == [home.get("device")]
             and str(data.get("device")).endswith("-p2") and str(home.get("device")).endswith("-p3"))],
           "result: %s kernel: %s" % (brief(r), k))
    for where in ("srv/data", "home"):
        with open(os.path.join(MNT, where, "note"), "w", encoding="utf-8") as f:
            f.write("written on the image's /" + where)
    again = run("image_mount", dict(args, passphrase=PASS))
    expect([("a second run changed nothing", again.get("changed") is False)], brief(again))
    lv = run("image_mount", {"image": LVM_IMG, "partition": "LV=vg0/var", "state": "mapped"})
    lv_dev = lv.get("partition_device") or ""
    expect([("lvm.img's vg0/var is mapped too (%s)" % lv_dev, lv_dev.endswith("vg0-var") and os.path.exists(lv_dev))],
           "%s maps: %s" % (brief(lv), dm_names()))
    env = dict(os.environ, ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    proc = subprocess.run(["ansible-playbook", os.path.join(REPO, "playbooks", "teardown_all.yml")],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env, timeout=RUN_TIMEOUT, check=False)
    print(proc.stdout, flush=True)
    k = kernel()
    expect([("teardown_all.yml passed (exit %d)" % proc.returncode, proc.returncode == 0),
            ("no dm map, loop device or mount left", k["dm"] == [] and k["loops"] == [] and k["mounts"] == [])],
           "kernel: %s" % k)
    ro = run("image_mount", dict(args, passphrase=PASS, read_only=True))
    expect([("read-only tree mounted", ro.get("changed") is True),
            ("the data is there", [read(os.path.join(MNT, w, "note")) for w in ("srv/data", "home")]
             == ["written on the image's /srv/data", "written on the image's /home"])], brief(ro))
    down(CRYPT_TREE)
    # the connection plugin's side (its agent, as the plugin calls it on the image host), with the key it passes
    connected = agent("connect", {"partition": "LABEL=root", "passphrase": PASS})
    root = connected.get("path") or ""
    inside = subprocess.run(["chroot", root, "/bin/sh", "-c", "cat /srv/data/note /home/note"], check=False,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) if root else None
    maps = image_maps()
    agent("teardown", {})
    k = kernel()
    expect([("the agent connected with the key (%s)" % connected, connected.get("changed") is True and root != ""),
            ("both LUKS partitions open under it (%s)" % maps, len(maps) == 2),
            ("a command in the chroot reads both (%s)" % (inside and inside.stdout),
             inside is not None and inside.stdout == "written on the image's /srv/datawritten on the image's /home"),
            ("its teardown leaves nothing", k["dm"] == [] and k["loops"] == [] and k["mounts"] == [])],
           "kernel: %s" % k)
    return "no key refused naming the options; /srv/data by crypttab name and /home by UUID inside LUKS " \
        "mounted; teardown_all.yml took it and lvm.img's vg0/var down; read-only again; the connection's agent " \
        "with the passphrase"


def agent(op, params):
    """The connection plugin's agent (module_utils/connection/agent.py) doing op on crypt-tree.img, in a
    process of its own as on an image host; its reply, or {"failed", "msg"}."""
    code = ("import json, sys\n"
            "from ansible_collections.virt.disk.plugins.module_utils.connection import agent\n"
            "from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError\n"
            "try:\n"
            "    print(json.dumps(agent.handle(json.loads(sys.argv[1]))))\n"
            "except VirtDiskError as e:\n"
            "    print(json.dumps({'failed': True, 'msg': str(e)}))\n")
    request = {"op": op, "image": CRYPT_TREE, "path": None, "params": params}
    proc = subprocess.run(["python3", "-c", code, json.dumps(request)], env=ENV, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT, check=False)
    try:
        reply = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        reply = {"failed": True, "msg": "no reply (rc %d): %s" % (proc.returncode, proc.stderr[-800:])}
    print("agent %s -> %s" % (op, {k: v for k, v in reply.items() if k != "actions"}), flush=True)
    if reply.get("failed"):
        raise CheckFailed("agent %s failed: %s" % (op, reply.get("msg")))
    return reply


CASES = [
    ("lvm-same-named-vg-loop", same_named_vg),
    ("lvm-tree-luks-killed-nbd", tree_luks_lvm),
    ("luks2-lvm-nbd-qcow2", luks_lvm),
    ("luks1-partition-keyfile", luks1_partition),
    ("lvm-busy-lv", busy_lv),
    ("luks-tree-crypttab-teardown-all", tree_crypttab_teardown_all),
]


if __name__ == "__main__":
    subprocess.run(["modprobe", "dm-crypt"], check=False)
    build()
    main_exit(run_cases("volumes", CASES, os.environ.get("KT_CASES", "")))
