# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registered partition mappers and the auto rule."""

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import partnodes
from ansible_collections.virt.disk.plugins.module_utils.mappers import registry
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import MapContext
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeRunner, host

BLKEXT = 259


def test_registered_mappers_are_the_argument_choices():
    assert registry.NAMES == partnodes.MAPPERS


class Mapping(FakeRunner):
    """partx or kpartx that makes the partition appear in the fake sysfs; tools not in installed are missing."""

    def __init__(self, systree, installed=("partx", "kpartx"), failing=()):
        super(Mapping, self).__init__()
        self.systree = systree
        self.installed = installed
        self.failing = failing

    def which(self, name, required=True, purpose=None):
        return "/usr/sbin/" + name if name in self.installed else None

    def run(self, args, step, check=True, data=None):
        self.calls.append(list(args))
        if args[0] in self.failing:
            if check:
                raise VirtDiskError("%s failed" % args[0], step=step)
            return 1, "", "%s: failed" % args[0]
        if args[:2] == ["partx", "--add"]:
            self.systree.partition("loop0", 2, 10240, 16384, BLKEXT, 1)
        if args[:2] == ["kpartx", "-a"]:
            self.systree.dm("loop0", 7, "loop0p2", "part2-x")
        return 0, "", ""


def _ctx(systree, tmp_path, runner):
    systree.loop("loop0", 0, backing="/x.img")
    h = host(systree, tmp_path, runner=runner, timeout=0.2)
    h.dev_root = str(tmp_path / "dev")
    (tmp_path / "dev" / "mapper").mkdir(parents=True)
    return MapContext(h, "/dev/loop0", loop=True)


def test_auto_uses_partx_first(systree, tmp_path):
    runner = Mapping(systree)
    node, used, _created = registry.map_partition(_ctx(systree, tmp_path, runner), 2, "auto")
    assert used == "partx" and node.device.endswith("/loop0p2") and node.mapper == "partx"
    assert [c[0] for c in runner.calls] == ["partx"]


def test_auto_falls_back_to_kpartx(systree, tmp_path):
    runner = Mapping(systree, failing=("partx",))
    node, used, _created = registry.map_partition(_ctx(systree, tmp_path, runner), 2, "auto")
    assert used == "kpartx" and node.device.endswith("/mapper/loop0p2")


def test_auto_with_no_tool_names_what_is_missing(systree, tmp_path):
    with pytest.raises(VirtDiskError) as e:
        registry.map_partition(_ctx(systree, tmp_path, Mapping(systree, installed=())), 2, "auto")
    assert "partx is not installed; kpartx is not installed" in str(e.value)


def test_an_existing_node_is_reused_without_a_tool(systree, tmp_path):
    runner = Mapping(systree)
    ctx = _ctx(systree, tmp_path, runner)
    systree.partition("loop0", 2, 10240, 16384, BLKEXT, 1)
    node, used, _created = registry.map_partition(ctx, 2, "auto")
    assert used is None and node.mapper == "kernel" and runner.calls == []
