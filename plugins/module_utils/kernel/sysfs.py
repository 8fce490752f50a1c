# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading block devices from sysfs, with an injectable root for tests.

Everything here only reads: the loop attributes of /sys/block/loopN/loop/,
partitions (/sys/block/DISK/DISKpN/{partition,start,size,dev}), device-mapper
maps stacked on a disk (/sys/block/DISK/holders/dm-N/dm/{name,uuid}) and nbd
connections (/sys/block/nbdN/pid).
"""

from __future__ import annotations

import os
import re

SECTOR = 512
_KPARTX_UUID = re.compile(r"^part(\d+)-")
_TRAILING_NUMBER = re.compile(r"\d+$")


class SysFS(object):
    def __init__(self, root="/"):
        self.root = root

    def path(self, *parts):
        return os.path.join(self.root, "sys", *parts)

    def read(self, *parts):
        """Stripped contents of a sysfs attribute, or None when it is absent."""
        # os.open and one os.read: sysfs attributes are at most a page, and a host with many devices has this
        # read hundreds of times a run, where a buffered file object's set-up would cost more than the read
        try:
            fd = os.open(self.path(*parts), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return os.read(fd, 65536).decode("utf-8", "surrogateescape").strip()
        except OSError:
            return None
        finally:
            os.close(fd)

    def read_int(self, *parts):
        value = self.read(*parts)
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    def exists(self, *parts):
        return os.path.exists(self.path(*parts))

    def block_devices(self, prefix=""):
        try:
            names = os.listdir(self.path("block"))
        except OSError:
            return []
        return sorted((n for n in names if n.startswith(prefix)), key=_natural_key)

    def dev_numbers(self, name):
        """(major, minor) of a block device or partition by kernel name, or None."""
        value = self.read("class", "block", name, "dev")
        if not value or ":" not in value:
            return None
        major, minor = value.split(":", 1)
        return int(major), int(minor)

    def name_of(self, major, minor):
        """Kernel name of the block device major:minor, or None."""
        try:
            target = os.readlink(self.path("dev", "block", "%d:%d" % (major, minor)))
        except OSError:
            return None
        return os.path.basename(target)

    def size_bytes(self, name):
        sectors = self.read_int("class", "block", name, "size")
        return None if sectors is None else sectors * SECTOR

    def read_only(self, name):
        return self.read("class", "block", name, "ro") == "1"

    def partitions(self, disk):
        """Kernel partitions of disk (made by the kernel's scan or by BLKPG/partx)."""
        found = []
        try:
            entries = os.listdir(self.path("class", "block", disk))
        except OSError:
            return found
        for entry in entries:
            number = self.read_int("class", "block", disk, entry, "partition")
            if number is None:
                continue
            dev = self.read("class", "block", disk, entry, "dev") or ""
            major, _sep, minor = dev.partition(":")
            found.append({
                "name": entry,
                "number": number,
                "start": (self.read_int("class", "block", disk, entry, "start") or 0) * SECTOR,
                "size": (self.read_int("class", "block", disk, entry, "size") or 0) * SECTOR,
                "major": int(major) if major else None,
                "minor": int(minor) if minor else None,
            })
        return sorted(found, key=lambda p: p["number"])

    def holders(self, name):
        try:
            return sorted(os.listdir(self.path("class", "block", name, "holders")), key=_natural_key)
        except OSError:
            return []

    def dm_maps(self, disk):
        """Device-mapper maps whose slave is disk, whoever created them.

        A kpartx partition map has a dm uuid "partN-..." and a name ending in
        the number; other maps (number None) are holders we do not own.
        """
        maps = []
        for holder in self.holders(disk):
            if not holder.startswith("dm-"):
                continue
            name = self.read("class", "block", holder, "dm", "name")
            uuid = self.read("class", "block", holder, "dm", "uuid") or ""
            number = None
            match = _KPARTX_UUID.match(uuid)
            if match:
                number = int(match.group(1))
            elif name and name.startswith(disk):
                tail = _TRAILING_NUMBER.search(name[len(disk):])
                if tail:
                    number = int(tail.group(0))
            numbers = self.dev_numbers(holder)
            maps.append({
                "name": name,
                "kernel_name": holder,
                "uuid": uuid,
                "number": number,
                "size": self.size_bytes(holder),
                "major": numbers[0] if numbers else None,
                "minor": numbers[1] if numbers else None,
            })
        return maps

    # loop devices

    def loop_backing_file(self, name):
        return self.read("block", name, "loop", "backing_file")

    def attached_loops(self):
        """(name, backing file) of every attached loop device, in the kernel's order of names."""
        found = []
        for name in self.block_devices("loop"):
            backing = self.loop_backing_file(name)
            if backing is not None:
                found.append((name, backing))
        return found

    def loop_info(self, name):
        """Attributes of an attached loop device, or None when it is free."""
        backing = self.loop_backing_file(name)
        if backing is None:
            return None
        return {
            "name": name,
            "backing_file": backing,
            "offset": self.read_int("block", name, "loop", "offset") or 0,
            "sizelimit": self.read_int("block", name, "loop", "sizelimit") or 0,
            "partscan": self.read("block", name, "loop", "partscan") == "1",
            "autoclear": self.read("block", name, "loop", "autoclear") == "1",
            "read_only": self.read_only(name),
        }

    # nbd devices

    def nbd_pid(self, name):
        return self.read_int("block", name, "pid")


def _natural_key(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
