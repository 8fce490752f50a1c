# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mount table: parsing /proc/self/mountinfo (path injectable, escapes
handled), and questions about it (the mounts of given devices, the order to
unmount them in, the mount visible at a path)."""

from __future__ import annotations

import os
import re

DEFAULT_PATH = "/proc/self/mountinfo"
_ESCAPE = re.compile(br"\\([0-7]{3})")


def unescape(field):
    """Undo the kernel's octal escapes (\\040 space, \\011 tab, \\012 newline, \\134 backslash)."""
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field)


def _text(raw):
    return unescape(raw).decode("utf-8", "surrogateescape")


class Mount(object):
    __slots__ = ("mount_id", "parent_id", "major", "minor", "root", "path",
                 "options", "fstype", "source", "super_options")

    def __init__(self, mount_id=None, parent_id=None, major=None, minor=None, root=None, path=None, options=None,
                 fstype=None, source=None, super_options=None):
        self.mount_id = mount_id
        self.parent_id = parent_id
        self.major = major
        self.minor = minor
        self.root = root
        self.path = path
        self.options = options
        self.fstype = fstype
        self.source = source
        self.super_options = super_options

    @property
    def read_only(self):
        return "ro" in self.options.split(",")

    def __repr__(self):
        return "Mount(%s on %s, %d:%d)" % (self.source, self.path, self.major, self.minor)


def parse(data):
    """Parse mountinfo bytes (or text) into a list of Mount, in kernel order."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8", "surrogateescape")
    mounts = []
    # Decoded as a whole: " " and "\n" are single bytes that no UTF-8 sequence contains, so splitting the
    # text is splitting the bytes. A line with an escape is taken apart as bytes instead, since an escaped
    # byte may be part of a multi-byte character.
    for line in data.decode("utf-8", "surrogateescape").split("\n"):
        escaped = "\\" in line
        fields = line.encode("utf-8", "surrogateescape").split(b" ") if escaped else line.split(" ")
        if len(fields) < 10:
            continue
        try:
            sep = fields.index(b"-" if escaped else "-", 6)
        except ValueError:
            continue
        if escaped:
            fields = [_text(field) for field in fields]
        major, _sep, minor = fields[2].partition(":")
        mounts.append(Mount(int(fields[0]), int(fields[1]), int(major), int(minor), fields[3], fields[4],
                            fields[5], fields[sep + 1], fields[sep + 2], fields[sep + 3] if len(fields) > sep + 3 else ""))
    return mounts


def read(path=DEFAULT_PATH):
    with open(path, "rb") as f:
        return parse(f.read())


def is_below(path, top):
    """True if path is top itself or lies beneath it."""
    top = top.rstrip("/") or "/"
    if top == "/":
        return True
    return path == top or path.startswith(top + "/")


def mounts_of(mounts, numbers, nodes=()):
    """Mounts whose device is one of numbers ((major, minor) pairs).

    Filesystems with anonymous device numbers (btrfs) are matched by their
    source node instead.
    """
    numbers = set(numbers)
    nodes = set(nodes)
    found = []
    for m in mounts:
        if (m.major, m.minor) in numbers:
            found.append(m)
        elif m.source in nodes:
            found.append(m)
        elif m.major == 0 and m.source.startswith("/dev/"):
            try:
                rdev = os.stat(m.source).st_rdev
            except OSError:
                continue
            if (os.major(rdev), os.minor(rdev)) in numbers:
                found.append(m)
    return found


def teardown_order(mounts, ours):
    """Mounts to unmount to take ours down: ours and every mount stacked on or
    beneath them in the mount tree (by parent id), deepest in the tree first,
    later mounts before earlier ones."""
    by_id = dict((m.mount_id, m) for m in mounts)
    ours_ids = set(m.mount_id for m in ours)
    order = dict((m.mount_id, i) for i, m in enumerate(mounts))

    def ancestry(m):
        chain = []
        while m is not None and m not in chain:
            chain.append(m)
            m = by_id.get(m.parent_id)
        return chain

    chosen = []
    for m in mounts:
        chain = ancestry(m)
        if any(a.mount_id in ours_ids for a in chain):
            chosen.append((len(chain), m))
    chosen.sort(key=lambda pair: (-pair[0], -order[pair[1].mount_id]))
    return [m for _depth, m in chosen]


def top_mount_at(mounts, path):
    """The mount visible at path (the last one mounted there), or None."""
    found = None
    for m in mounts:
        if m.path == path:
            found = m
    return found
