# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils import waits
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


class FakeTime(object):
    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_value_at_once_without_sleeping():
    t = FakeTime()
    assert waits.poll(lambda: "/dev/loop0p1", 5, "x", clock=t.clock, sleep=t.sleep) == "/dev/loop0p1"
    assert t.sleeps == []


def test_interval_starts_at_one_millisecond_and_doubles_up_to_the_cap():
    t = FakeTime()
    answers = iter([None, 0, "", False, None, None, None, None, 42])
    assert waits.poll(lambda: next(answers), 10, "x", clock=t.clock, sleep=t.sleep) == 42
    assert t.sleeps == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.016, 0.02, 0.02, 0.02])
    assert waits.FIRST_INTERVAL == 0.001


def test_timeout_names_what_and_step():
    t = FakeTime()
    calls = []

    def never():
        calls.append(t.now)
        return None

    with pytest.raises(VirtDiskError) as info:
        waits.poll(never, 0.05, "partition 1 of /dev/loop0", step="map partition 1", clock=t.clock, sleep=t.sleep)
    assert str(info.value) == "map partition 1: timed out after 0.05s waiting for partition 1 of /dev/loop0"
    assert info.value.step == "map partition 1"
    # never sleeps past the deadline, and the predicate is checked once more at the deadline
    assert sum(t.sleeps) == pytest.approx(0.05)
    assert max(t.sleeps) <= waits.MAX_INTERVAL
    assert t.sleeps[:5] == pytest.approx([0.001, 0.002, 0.004, 0.008, 0.016])
    assert calls[-1] == pytest.approx(1000.05)
    assert len(calls) == len(t.sleeps) + 1


def test_zero_timeout_checks_once():
    t = FakeTime()
    calls = []
    with pytest.raises(VirtDiskError, match="timed out after 0s waiting for the lock"):
        waits.poll(lambda: calls.append(1), 0, "the lock", clock=t.clock, sleep=t.sleep)
    assert calls == [1]
    assert t.sleeps == []


def test_long_wait_is_many_short_polls():
    t = FakeTime()
    with pytest.raises(VirtDiskError):
        waits.poll(lambda: None, 1, "x", clock=t.clock, sleep=t.sleep)
    assert len(t.sleeps) > 45
    assert max(t.sleeps) == pytest.approx(waits.MAX_INTERVAL)


def test_real_clock_short_timeout():
    with pytest.raises(VirtDiskError, match="waiting for nothing"):
        waits.poll(lambda: None, 0.01, "nothing")
