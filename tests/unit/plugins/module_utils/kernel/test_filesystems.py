# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.kernel.filesystems import Filesystems


def test_registered_and_loadable(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "filesystems").write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\nnodev\tfuse\n")
    mods = tmp_path / "modules" / "6.1.0-test"
    mods.mkdir(parents=True)
    (mods / "modules.alias").write_text("alias fs-vfat vfat\nalias fs-msdos msdos\nalias pci:v00008086* e1000\n")
    fs = Filesystems(str(proc), str(tmp_path / "modules"), "6.1.0-test")
    assert fs.can_mount("ext4") and fs.can_mount("ext3") and fs.can_mount("ext2") and fs.can_mount("xfs")
    assert fs.can_mount("vfat")  # loadable on demand
    assert not fs.can_mount("btrfs")
    assert fs.can_mount(None)


def test_no_modules_directory(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "filesystems").write_text("\text4\n")
    fs = Filesystems(str(proc), str(tmp_path / "none"), "x")
    assert fs.can_mount("ext4") and not fs.can_mount("vfat")
