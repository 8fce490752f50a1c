# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Section e of the benchmark: the data path.

A file of SIZE MiB is written (1 MiB writes, then fsync) and read back
(caches dropped first) inside an ext4 filesystem of a mounted image, and the
same on the host filesystem that holds the image; throughput inside over
throughput on the host is the ratio. Three measurements each:

  first   the first write of the file: on a freshly made image the blocks
          are not allocated yet (a sparse raw file, unallocated qcow2
          clusters), on the host a new file;
  steady  the same file written over (its blocks allocated: what a
          long-lived image sees);
  read    the file read with the page cache dropped (echo 3 > drop_caches),
          so every layer is read through.

Variants: loop (a raw image), fuse (a qcow2 image: qemu-storage-daemon's
FUSE export with a loop device over it), and nbd (a qcow2 image through
qemu-nbd) where the kernel has nbd. Each is mounted and taken down by
image_mount run directly; rounds rotate the order of the variants.

The floor of fuse is measured in the same rounds: the export file of a bare
qemu-storage-daemon (the same nodes image_mount starts: file and qcow2,
writable FUSE export) written and read directly, from its first byte, with
no loop device and no filesystem: what the export itself can carry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from statistics import median

BLOCK = 1 << 20


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as f:
        f.write("3\n")


def write(path, mib, data):
    """MB/s of writing mib MiB of data (1 MiB) to path, fsync included; the
    file is not truncated first, so a second write goes over allocated blocks."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        t0 = time.perf_counter()
        for _block in range(mib):
            os.write(fd, data)
        os.fsync(fd)
        seconds = time.perf_counter() - t0
    finally:
        os.close(fd)
    return mib * BLOCK / seconds / 1e6


def read(path, mib=None):
    """MB/s of reading path from the start to its end (or its first mib MiB) with the caches dropped."""
    drop_caches()
    fd = os.open(path, os.O_RDONLY)
    total = 0
    limit = None if mib is None else mib * BLOCK
    try:
        t0 = time.perf_counter()
        while limit is None or total < limit:
            piece = os.read(fd, 4 * BLOCK if limit is None else min(4 * BLOCK, limit - total))
            if not piece:
                break
            total += len(piece)
        seconds = time.perf_counter() - t0
    finally:
        os.close(fd)
    return total / seconds / 1e6


def measure_dir(directory, mib, data):
    """{"first", "steady", "read"} MB/s of a file in directory."""
    path = os.path.join(directory, "bench-e.bin")
    out = {"first": write(path, mib, data), "steady": write(path, mib, data), "read": read(path)}
    os.unlink(path)
    os.sync()
    return out


def measure_export(export, mib, data):
    """{"first", "steady", "read"} MB/s of the first mib MiB of a FUSE export file, written and read in place."""
    return {"first": write(export, mib, data), "steady": write(export, mib, data), "read": read(export, mib)}


class DataPath(object):
    """bench: the Bench (run_module, work dir, failures); mib: the file's
    size; image_gib: the image's size; rounds: measured rounds."""

    def __init__(self, bench, mib=1024, image_gib=3, rounds=3):
        self.bench = bench
        self.mib = mib
        self.image_gib = image_gib
        self.rounds = rounds
        self.dir = os.path.join(bench.work, "e")
        os.makedirs(self.dir, exist_ok=True)
        self.template = os.path.join(self.dir, "template.raw")
        # the same incompressible data everywhere, made once (qcow2 and ext4 compress nothing, but zeroes
        # could be detected on the way)
        self.data = os.urandom(BLOCK)

    def variants(self):
        names = ["host", "loop", "fuse", "fuse-export"]
        if os.path.exists("/sys/block/nbd0") and shutil.which("qemu-nbd"):
            names.append("nbd")
        return names

    def make_template(self):
        with open(self.template, "wb") as f:
            f.truncate(self.image_gib << 30)
        # inode tables and journal written now, so no lazy-init thread writes beside the measurement
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "bench-e", "-E", "lazy_itable_init=0,lazy_journal_init=0",
                        self.template], check=True)

    def fresh_image(self, variant):
        """A new image for variant, its blocks unallocated: (path, backend)."""
        if variant == "loop":
            path = os.path.join(self.dir, "img.raw")
            subprocess.run(["cp", "--sparse=always", self.template, path], check=True)
            return path, "loop"
        path = os.path.join(self.dir, "img.qcow2")
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", self.template, path], check=True)
        return path, variant

    def export_alone(self):
        """The floor of fuse: a bare qemu-storage-daemon's export of a fresh qcow2, written and read directly."""
        image, _backend = self.fresh_image("fuse")
        export = os.path.join(self.dir, "export.raw")
        pidfile = os.path.join(self.dir, "export.pid")
        self.bench.bare_fuse_export(image, export, pidfile)
        try:
            return measure_export(export, self.mib, self.data)
        finally:
            self.bench.bare_fuse_unexport(export, pidfile)
            os.unlink(image)

    def one(self, variant):
        if variant == "host":
            return measure_dir(self.dir, self.mib, self.data)
        if variant == "fuse-export":
            return self.export_alone()
        image, backend = self.fresh_image(variant)
        mnt = os.path.join(self.dir, "mnt")
        _wall, _phases, res = self.bench.run_module({"image": image, "path": mnt, "partition": "0",
                                                     "backend": backend})
        if res.get("failed"):
            raise RuntimeError("e: mounting %s with backend %s failed: %s" % (image, backend, res.get("msg")))
        try:
            return measure_dir(mnt, self.mib, self.data)
        finally:
            _wall, _phases, down = self.bench.run_module({"image": image, "path": mnt, "state": "absent"})
            if down.get("failed"):
                self.bench.failures.append("e: taking %s down failed: %s" % (image, down.get("msg")))
            os.unlink(image)

    def run(self, log):
        self.make_template()
        names = self.variants()
        per = dict((name, {"first": [], "steady": [], "read": []}) for name in names)
        try:
            for r in range(self.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for name in order:
                    got = self.one(name)
                    for kind, value in got.items():
                        per[name][kind].append(value)
                    log("e round %d %s: first %.0f, steady %.0f, read %.0f MB/s"
                        % (r + 1, name, got["first"], got["steady"], got["read"]))
        finally:
            os.unlink(self.template)
        return summarize(per, self.mib, self.image_gib)


def summarize(per, mib, image_gib):
    """The section's result: MB/s per variant and kind (every round, and the
    median), each image variant's ratios to the host (median over median), and
    the floors: the FUSE export alone over the host."""
    out = {"what": "%d MiB written (fsync) and read (caches dropped) in ext4 of a %d GiB image, against the "
                   "host filesystem holding it" % (mib, image_gib),
           "mb_s": {}, "ratio": {}, "floor": {}}
    for name, kinds in per.items():
        out["mb_s"][name] = dict((kind, {"median": median(v), "rounds": v}) for kind, v in kinds.items())
    host = out["mb_s"].get("host")
    for name in per:
        if name == "host" or host is None:
            continue
        ratios = dict((kind, out["mb_s"][name][kind]["median"] / host[kind]["median"])
                      for kind in ("first", "steady", "read"))
        if name.endswith("-export"):
            out["floor"][name[:-len("-export")]] = ratios
        else:
            out["ratio"][name] = ratios
    return out
