"""Print what the kernel shows about images, as one JSON object, for the
playbooks' asserts (bin/kstate runs this with the venv's Python; the Python
drivers import it and call state()). Read from
sysfs and /proc directly, in one process: every fork is slow under emulation.
Nothing here goes through the module under test.

  nbd      connected nbd devices: name, pid (sysfs: the thread that serves it),
           tgid (that thread's process: qemu-nbd), size, partitions
  loops    attached loop devices: name, backing file, partitions
  dm       device-mapper maps: name, the disks under them (slaves), read-only ("1" or "0")
  dm_ls    `dmsetup ls` as printed ("No devices found" when empty)
  losetup  `losetup -a` as printed
  mounts   mounts of /dev/loop*, /dev/nbd*, /dev/mapper/*, /dev/dm-*: source, target, fstype
  qemu     live (non-zombie) qemu-nbd / qemu-storage-daemon processes: pid, argv
"""

from __future__ import annotations

import json
import os
import re
import subprocess

SYS = "/sys/block"


def read(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return default


def parts(disk):
    return sorted(p for p in os.listdir(os.path.join(SYS, disk))
                  if p.startswith(disk + "p") and os.path.exists(os.path.join(SYS, disk, p, "partition")))


def status_field(pid, field):
    for line in (read("/proc/%s/status" % pid, "") or "").splitlines():
        if line.startswith(field + ":"):
            return line.split()[1]
    return None


def run(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
                           env=dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"))
        return p.stdout.strip()
    except OSError as e:
        return str(e)


def state():
    """The state described above, as a dict."""
    blocks = sorted(os.listdir(SYS))
    state = {"nbd": [], "loops": [], "dm": [], "mounts": [], "qemu": []}
    for name in blocks:
        if name.startswith("nbd") and os.path.exists(os.path.join(SYS, name, "pid")):
            pid = read(os.path.join(SYS, name, "pid"))
            tgid = status_field(pid, "Tgid") if pid else None
            state["nbd"].append({"name": name, "pid": int(pid) if pid else None,
                                 "tgid": int(tgid) if tgid else None,
                                 "size": int(read(os.path.join(SYS, name, "size"), "0")), "parts": parts(name)})
        elif name.startswith("loop") and os.path.exists(os.path.join(SYS, name, "loop", "backing_file")):
            state["loops"].append({"name": name, "file": read(os.path.join(SYS, name, "loop", "backing_file")),
                                   "parts": parts(name)})
        elif name.startswith("dm-") and os.path.exists(os.path.join(SYS, name, "dm", "name")):
            state["dm"].append({"name": read(os.path.join(SYS, name, "dm", "name")),
                                "slaves": sorted(os.listdir(os.path.join(SYS, name, "slaves"))),
                                "ro": read(os.path.join(SYS, name, "ro"))})
    state["dm_ls"] = run(["dmsetup", "ls"])
    state["losetup"] = run(["losetup", "-a"])
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            source = fields[sep + 2]
            if re.match(r"^/dev/(loop|nbd|mapper/|dm-)", source):
                target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
                state["mounts"].append({"source": source, "target": target, "fstype": fields[sep + 1]})
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        comm = read("/proc/%s/comm" % pid)
        if comm not in ("qemu-nbd", "qemu-storage-d", "qemu-storage-daemon"):
            continue
        if status_field(pid, "State") in (None, "Z"):
            continue
        argv = (read("/proc/%s/cmdline" % pid, "") or "").replace("\0", " ")
        state["qemu"].append({"pid": int(pid), "argv": argv})
    return state


def main():
    print(json.dumps(state()))


if __name__ == "__main__":
    main()
