# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An image's /etc/fstab: parsing, and what each entry means for a tree mount.

The text comes from the image (untrusted): every field is only parsed here,
nothing in it is opened, resolved or mounted. layout.py decides from the
entries which partitions go where.
"""

from __future__ import annotations

import re

from ansible_collections.virt.disk.plugins.module_utils.image.selector import KEYS
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts

# filesystems that are not on a disk of this image
NETWORK = frozenset(["nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "sshfs", "fuse.sshfs", "glusterfs",
                     "fuse.glusterfs", "ceph", "fuse.ceph", "9p", "virtiofs", "davfs", "fuse.s3fs", "afs", "lustre"])
PSEUDO = frozenset(["proc", "sysfs", "tmpfs", "ramfs", "devpts", "devtmpfs", "cgroup", "cgroup2", "securityfs",
                    "debugfs", "tracefs", "hugetlbfs", "mqueue", "pstore", "efivarfs", "bpf", "configfs", "fusectl",
                    "binfmt_misc", "autofs", "rpc_pipefs", "nfsd", "selinuxfs", "overlay", "none"])
BY_LINK = {"by-uuid": "uuid", "by-label": "label", "by-partuuid": "partuuid", "by-partlabel": "partlabel"}
# plain device names of a disk's partitions: /dev/vda2, /dev/sda1, /dev/xvdb3, /dev/hda1, /dev/nvme0n1p2,
# /dev/mmcblk0p1
_DEVICE = re.compile(r"^/dev/(?:(?:[shv]|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)(\d+)$")
# /dev/VG/LV: the link lvm2 makes for a logical volume (not one of the kernel's or udev's directories)
_VG_LV = re.compile(r"^/dev/([^/]+)/([^/]+)$")
NOT_VG = frozenset(["disk", "mapper", "block", "char", "bus", "cpu", "fd", "input", "net", "pts", "shm", "snd",
                    "usb", "vfio", "dri", "hugepages", "mqueue", "md", "bsg", "dma_heap", "hidraw"])
_ESCAPE = re.compile(r"\\([0-7]{3})")


class Entry(object):
    """One fstab line: source, mount point, fstype, options (a list), the
    line number, and the source as a partition table field and value:
    kind "uuid", "label", "partuuid", "partlabel", "device" (value: the
    partition number), a device-mapper device: "lv" (value "vg/lv", from
    /dev/VG/LV), "dm_name" (/dev/mapper/NAME, /dev/disk/by-id/dm-name-NAME),
    "dm_uuid" (/dev/disk/by-id/dm-uuid-UUID), or None (anything else)."""

    def __init__(self, line, source, target, fstype, options):
        self.line = line
        self.source = source
        self.target = target
        self.fstype = fstype
        self.options = options
        self.kind, self.value = source_key(source)

    @property
    def nofail(self):
        return "nofail" in self.options

    def __repr__(self):
        return "Entry(%d: %s %s %s %s)" % (self.line, self.source, self.target, self.fstype, ",".join(self.options))


def unescape(field):
    """fstab fields write a space as \\040, a tab as \\011, a backslash as \\134."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def source_key(source):
    """(kind, value) of an fstab source; see Entry."""
    key, sep, value = source.partition("=")
    if sep and key.upper() in KEYS and value:
        return KEYS[key.upper()], value.strip('"')
    if source.startswith("/dev/disk/"):
        parts = source.split("/")
        if len(parts) == 5 and parts[3] in BY_LINK and parts[4]:
            return BY_LINK[parts[3]], unescape_udev(parts[4])
        if len(parts) == 5 and parts[3] == "by-id":
            for prefix, kind in (("dm-name-", "dm_name"), ("dm-uuid-", "dm_uuid")):
                if parts[4].startswith(prefix) and len(parts[4]) > len(prefix):
                    return kind, unescape_udev(parts[4][len(prefix):])
        return None, None
    if source.startswith("/dev/mapper/") and len(source) > len("/dev/mapper/") and "/" not in source[12:]:
        return "dm_name", source[len("/dev/mapper/"):]
    match = _DEVICE.match(source)
    if match:
        return "device", int(match.group(1))
    match = _VG_LV.match(source)
    if match and match.group(1) not in NOT_VG and not match.group(1).startswith("."):
        return "lv", "%s/%s" % match.groups()
    return None, None


def unescape_udev(name):
    """udev writes unsafe characters of labels in /dev/disk/by-label as \\xNN."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), name)


def table_lines(text, least):
    """(line number, fields) of each line of a table like fstab or crypttab
    that has at least least fields; comments and blank lines left out."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            fields = line.split()
            if len(fields) >= least:
                yield number, fields


def parse(text):
    """The entries of an fstab text, in order. Lines that are not entries
    (comments, blanks, fewer than three fields) are left out."""
    entries = []
    for number, fields in table_lines(text, 3):
        options = [o for o in unescape(fields[3]).split(",") if o] if len(fields) > 3 else []
        entries.append(Entry(number, unescape(fields[0]), unescape(fields[1]), unescape(fields[2]), options))
    return entries


def skip_reason(entry, with_noauto=False):
    """Why a tree mount leaves the entry out, or None to mount it."""
    if entry.fstype == "swap" or entry.target in ("none", "swap") and "sw" in entry.options:
        return "swap"
    if "bind" in entry.options or "rbind" in entry.options:
        return "a bind mount"
    if entry.fstype in NETWORK or entry.fstype.startswith("nfs") or ":" in entry.source and entry.kind is None:
        return "a network filesystem (%s)" % entry.fstype
    if entry.fstype in PSEUDO:
        return "not on a disk (%s)" % entry.fstype
    if "noauto" in entry.options and not with_noauto:
        return "noauto"
    if not entry.target.startswith("/"):
        return "its mount point %r is not an absolute path" % entry.target
    return None


def mount_options(entry):
    """The entry's options that say how the filesystem is mounted (subvol=,
    compress=, data=, errors=, ro...), without those that say when or whether
    to mount it at boot (defaults, auto, nofail, x-systemd.*, user, comment=...)."""
    return [o for o in entry.options if not mountopts.boot_only(o)]
