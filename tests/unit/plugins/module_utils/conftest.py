# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared helpers: a fake /sys tree laid out as the kernel lays it out, and
mountinfo line builders.

The tree mirrors a real system: devices live under sys/devices/virtual/block/,
and sys/block/NAME, sys/class/block/NAME (also for partitions) and
sys/dev/block/MAJ:MIN are symlinks to them.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.image.image import inspect
from ansible_collections.virt.disk.plugins.module_utils.kernel.sysfs import SysFS

LOOP_MAJOR = 7
NBD_MAJOR = 43
DM_MAJOR = 253
BLKEXT_MAJOR = 259


def _write(path, value):
    with open(path, "w") as f:
        f.write("%s\n" % value)


class SysTree(object):
    """Builds a fake sysfs under root/sys."""

    def __init__(self, root):
        self.root = str(root)
        self.sys = os.path.join(self.root, "sys")
        self.devices = os.path.join(self.sys, "devices", "virtual", "block")
        for sub in (self.devices, os.path.join(self.sys, "block"), os.path.join(self.sys, "class", "block"),
                    os.path.join(self.sys, "dev", "block")):
            os.makedirs(sub, exist_ok=True)

    @property
    def sysfs(self):
        return SysFS(root=self.root)

    def _link(self, target_abs, link_abs):
        os.symlink(os.path.relpath(target_abs, os.path.dirname(link_abs)), link_abs)

    def disk(self, name, major, minor, sectors=2048, ro=False):
        """A whole disk: devices/virtual/block/NAME with block/, class/block/ and dev/block/ links."""
        d = os.path.join(self.devices, name)
        os.makedirs(os.path.join(d, "holders"))
        os.makedirs(os.path.join(d, "slaves"))
        _write(os.path.join(d, "dev"), "%d:%d" % (major, minor))
        _write(os.path.join(d, "size"), sectors)
        _write(os.path.join(d, "ro"), 1 if ro else 0)
        self._link(d, os.path.join(self.sys, "block", name))
        self._link(d, os.path.join(self.sys, "class", "block", name))
        self._link(d, os.path.join(self.sys, "dev", "block", "%d:%d" % (major, minor)))
        return d

    def loop(self, name, minor, backing=None, offset=0, sizelimit=0, partscan=True, ro=False,
             autoclear=False, sectors=2048):
        """A loop device; attached (with a loop/ directory) when backing is given, else free."""
        d = self.disk(name, LOOP_MAJOR, minor, sectors=sectors if backing else 0, ro=ro)
        if backing is not None:
            ld = os.path.join(d, "loop")
            os.makedirs(ld)
            _write(os.path.join(ld, "backing_file"), backing)
            _write(os.path.join(ld, "offset"), offset)
            _write(os.path.join(ld, "sizelimit"), sizelimit)
            _write(os.path.join(ld, "partscan"), 1 if partscan else 0)
            _write(os.path.join(ld, "autoclear"), 1 if autoclear else 0)
            _write(os.path.join(ld, "dio"), 0)
        return d

    def partition(self, disk, number, start, size, major, minor, name=None):
        """A kernel (or BLKPG) partition: devices/.../DISK/DISKpN, linked from class/block/."""
        name = name or ("%sp%d" % (disk, number) if disk[-1].isdigit() else "%s%d" % (disk, number))
        p = os.path.join(self.devices, disk, name)
        os.makedirs(os.path.join(p, "holders"))
        _write(os.path.join(p, "partition"), number)
        _write(os.path.join(p, "start"), start)
        _write(os.path.join(p, "size"), size)
        _write(os.path.join(p, "dev"), "%d:%d" % (major, minor))
        _write(os.path.join(p, "ro"), 0)
        self._link(p, os.path.join(self.sys, "class", "block", name))
        self._link(p, os.path.join(self.sys, "dev", "block", "%d:%d" % (major, minor)))
        return p

    def dm(self, slave, index, name, uuid, sectors=1024):
        """A device-mapper map dm-INDEX stacked on slave (a holder of it): a disk, a partition or another map."""
        kname = "dm-%d" % index
        d = self.disk(kname, DM_MAJOR, index, sectors=sectors)
        os.makedirs(os.path.join(d, "dm"))
        _write(os.path.join(d, "dm", "name"), name)
        _write(os.path.join(d, "dm", "uuid"), uuid)
        slave_dir = os.path.realpath(os.path.join(self.sys, "class", "block", slave))
        self._link(d, os.path.join(slave_dir, "holders", kname))
        self._link(slave_dir, os.path.join(d, "slaves", slave))
        return d

    def nbd(self, name, minor, pid=None):
        d = self.disk(name, NBD_MAJOR, minor, sectors=2048 if pid else 0)
        if pid is not None:
            _write(os.path.join(d, "pid"), pid)
        return d


@pytest.fixture
def systree(tmp_path):
    return SysTree(tmp_path)


def _mountinfo_line(mount_id, parent_id, dev, path, source, fstype="ext4", root="/", options="rw,relatime",
                    optional="", super_options="rw"):
    """One /proc/self/mountinfo line; path, root and source must be given already escaped."""
    fields = [str(mount_id), str(parent_id), dev, root, path, options]
    if optional:
        fields.append(optional)
    fields += ["-", fstype, source, super_options]
    return " ".join(fields)


@pytest.fixture
def image_file(tmp_path):
    """A file with a qcow2 header, inspected as image_mount inspects an image."""
    path = tmp_path / "disk.qcow2"
    path.write_bytes(b"QFI\xfb" + b"\0" * 508)
    return inspect(str(path))


@pytest.fixture
def mountinfo_line():
    return _mountinfo_line
