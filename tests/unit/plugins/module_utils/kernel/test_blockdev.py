# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.kernel import blockdev


def test_flush_of_a_missing_device_reports_the_error(tmp_path):
    assert blockdev.flush_buffers(str(tmp_path / "loop99")) == "No such file or directory"


def test_flush_of_something_not_a_block_device_reports_the_error(tmp_path):
    plain = tmp_path / "file"
    plain.write_bytes(b"x")
    assert blockdev.flush_buffers(str(plain)) == "Inappropriate ioctl for device"
