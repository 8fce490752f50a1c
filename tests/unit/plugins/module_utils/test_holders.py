# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Naming the processes that keep a mount busy, from `fuser -m` output."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.mounts import mount as mounts


def test_parse_fuser_takes_pids_and_drops_access_letters_and_kernel():
    # psmisc prints "kernel" for the mount itself and PIDs with access letters on stdout
    assert mounts.parse_fuser("kernel  1234c  5678  91rm\n") == [1234, 5678, 91]
    assert mounts.parse_fuser("") == []


def test_format_holders_names_each_pid_from_proc(tmp_path):
    (tmp_path / "1234").mkdir()
    (tmp_path / "1234" / "comm").write_text("sleep\n")
    assert mounts.format_holders([1234, 999999], str(tmp_path)) == "1234 (sleep), 999999"
