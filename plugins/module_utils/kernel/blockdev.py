# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Block device ioctls done in-process rather than by starting a tool."""

from __future__ import annotations

import fcntl
import os

BLKFLSBUF = 0x1261  # what `blockdev --flushbufs` does


def flush_buffers(device):
    """Write out and drop the device's buffers (BLKFLSBUF), as `blockdev --flushbufs`.

    Best effort, like the tool's use before a detach: returns the OSError's
    text on failure, else None."""
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        return e.strerror
    try:
        fcntl.ioctl(fd, BLKFLSBUF, 0)
    except OSError as e:
        return e.strerror
    finally:
        os.close(fd)
    return None
