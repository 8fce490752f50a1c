# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.mappers import partx as mapper_partx
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import MapContext
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host

BLKEXT = 259
BUSY = (1, "", "partx: /dev/nbd5: error deleting partition 2")


class DeletingRunner(object):
    """partx --delete that fails while the partition is busy, then removes it from the fake sysfs."""

    def __init__(self, systree, busy_times):
        self.systree = systree
        self.busy_times = busy_times
        self.calls = []

    def run(self, argv, step=None, check=True):
        self.calls.append(argv)
        if len(self.calls) <= self.busy_times:
            return BUSY
        part = os.path.join(self.systree.devices, "nbd5", "nbd5p2")
        shutil.rmtree(part)
        os.unlink(os.path.join(self.systree.sys, "class", "block", "nbd5p2"))
        return 0, "", ""


def _ctx(systree, runner, timeout=5):
    systree.nbd("nbd5", 80, pid=4242)
    systree.partition("nbd5", 2, 2048, 8192, BLKEXT, 0)
    return MapContext(Host(runner, systree.sysfs, timeout=timeout), "/dev/nbd5")


def test_delete_tries_again_while_udev_still_holds_the_new_partition(systree):
    runner = DeletingRunner(systree, busy_times=3)
    mapper_partx.unmap_partition(_ctx(systree, runner), 2)
    assert len(runner.calls) == 4
    assert runner.calls[0] == ["partx", "--delete", "--nr", "2:2", "/dev/nbd5"]
    assert not os.path.exists(os.path.join(systree.sys, "class", "block", "nbd5p2"))


def test_delete_still_busy_at_the_deadline_fails_with_partx_error(systree):
    runner = DeletingRunner(systree, busy_times=10 ** 6)
    with pytest.raises(VirtDiskError) as e:
        mapper_partx.unmap_all(_ctx(systree, runner, timeout=0.05))
    assert "partx --delete exited with 1" in e.value.msg
    assert e.value.tool_error == BUSY[2]
    assert e.value.step == "remove the partitions of /dev/nbd5"
    assert len(runner.calls) > 1
