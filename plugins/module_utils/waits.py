# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting on the thing itself: poll at millisecond intervals against a deadline."""

from __future__ import annotations

import time

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

FIRST_INTERVAL = 0.001
MAX_INTERVAL = 0.02


def poll(predicate, timeout, what, step=None, clock=time.monotonic, sleep=time.sleep):
    """Call predicate until it returns a true value; return that value.

    The interval starts at 1 ms and grows to 20 ms; no fixed sleeps. After
    timeout seconds raise VirtDiskError naming what was awaited.
    """
    deadline = clock() + timeout
    interval = FIRST_INTERVAL
    while True:
        value = predicate()
        if value:
            return value
        now = clock()
        if now >= deadline:
            raise VirtDiskError("timed out after %gs waiting for %s" % (timeout, what), step=step)
        sleep(min(interval, max(deadline - now, 0)))
        interval = min(interval * 2, MAX_INTERVAL)
