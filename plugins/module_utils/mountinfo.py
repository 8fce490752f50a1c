# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parsing /proc/self/mountinfo (path injectable, escapes handled)."""

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

    def __init__(self, **fields):
        for key in self.__slots__:
            setattr(self, key, fields.get(key))

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
    for line in data.split(b"\n"):
        fields = line.split(b" ")
        if len(fields) < 10:
            continue
        try:
            sep = fields.index(b"-", 6)
        except ValueError:
            continue
        major, _sep, minor = fields[2].partition(b":")
        mounts.append(Mount(
            mount_id=int(fields[0]),
            parent_id=int(fields[1]),
            major=int(major),
            minor=int(minor),
            root=_text(fields[3]),
            path=_text(fields[4]),
            options=_text(fields[5]),
            fstype=_text(fields[sep + 1]),
            source=_text(fields[sep + 2]),
            super_options=_text(fields[sep + 3]) if len(fields) > sep + 3 else "",
        ))
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


def depth(path):
    return len([p for p in os.path.normpath(path).split("/") if p])
