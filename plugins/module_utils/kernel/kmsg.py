# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel's own words about a device, from /dev/kmsg.

mount(8) says only "wrong fs type, bad option, bad superblock" when a
filesystem refuses to mount; the reason ("XFS (loop1): Filesystem has
duplicate UUID ... - can't mount") is in the kernel log. Following /dev/kmsg
from just before the mount and keeping the records that name the device
gives that reason for this mount alone, not for others happening at the same
time. Where /dev/kmsg cannot be read (no CAP_SYSLOG, a container without it)
there is nothing to add, and nothing fails.
"""

from __future__ import annotations

import errno
import os
import re


class KernelLog(object):
    """The kernel log from the moment this is made on (as a context manager)."""

    def __init__(self, path="/dev/kmsg"):
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self.fd = None
            return
        try:
            os.lseek(self.fd, 0, os.SEEK_END)  # skip what was logged before
        except OSError as e:
            if e.errno != errno.ESPIPE:  # a stream (not /dev/kmsg) holds only what comes next anyway
                self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if getattr(self, "fd", None) is not None:
            os.close(self.fd)
        self.fd = None

    def records(self, limit=1000):
        """The messages logged since, oldest first (text after the "prio,seq,ts,flags;" prefix)."""
        out = []
        while self.fd is not None and len(out) < limit:
            try:
                raw = os.read(self.fd, 8192)
            except OSError as e:
                if e.errno == errno.EPIPE:  # records were overwritten before we read them: go on
                    continue
                break
            if not raw:
                break
            message = parse_record(raw)
            if message is not None:
                out.append(message)
        return out

    def about(self, device):
        """The messages since that name device (/dev/loop0p2, /dev/mapper/x: by its kernel names)."""
        return about(self.records(), names_of(device))


def parse_record(raw):
    """The message of one /dev/kmsg record ("6,1234,5678,-;text\\n KEY=value..."), or None."""
    text = raw.decode("utf-8", "replace")
    header, sep, rest = text.partition(";")
    if not sep or "," not in header:
        return None
    return rest.split("\n", 1)[0].strip()


def names_of(device):
    """The names the kernel logs a device by: its node name and, for a
    /dev/mapper link, the dm-N it points to."""
    names = [os.path.basename(device)]
    real = os.path.basename(os.path.realpath(device))
    if real not in names:
        names.append(real)
    return names


def about(messages, names):
    patterns = [re.compile(r"(?<![\w-])%s(?![\w-])" % re.escape(name)) for name in names if name]
    return [m for m in messages if any(p.search(m) for p in patterns)]
