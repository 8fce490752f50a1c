# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a mapper works on, and the device nodes it makes where devtmpfs made none."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel.partnodes import Node
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import MapContext, ensure_node, remove_stale_node
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host

BLKEXT = 259


def test_ensure_node_refuses_a_regular_file(tmp_path):
    path = tmp_path / "loop0p1"
    path.write_text("not a device")
    with pytest.raises(VirtDiskError, match="exists but is not the block device 259:0"):
        ensure_node(Node(1, str(path), BLKEXT, 0))


def test_remove_stale_node_leaves_other_files(tmp_path):
    path = tmp_path / "loop0p1"
    path.write_text("keep me")
    remove_stale_node(Node(1, str(path), BLKEXT, 0))
    assert path.read_text() == "keep me"
    remove_stale_node(Node(1, str(tmp_path / "missing"), BLKEXT, 0))
    assert not os.path.exists(str(tmp_path / "missing"))


def test_map_context_fields():
    ctx = MapContext(Host("runner", "sysfs", timeout=5), "/dev/loop4", loop=True)
    assert (ctx.disk, ctx.device, ctx.timeout, ctx.dev_root, ctx.loop) == ("loop4", "/dev/loop4", 5, "/dev", True)
