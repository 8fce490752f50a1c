# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.kernel import loop


def kernel_encode_dev(major, minor):
    """The kernel's new_encode_dev()/huge_encode_dev(), as it fills lo_device."""
    return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)


def packed_status(major, minor, inode, offset=0, sizelimit=0, flags=0, file_name=b"/srv/disk.img"):
    return loop.LOOP_INFO64.pack(
        kernel_encode_dev(major, minor), inode, 0, offset, sizelimit,
        3, 0, 0, flags, file_name, b"", b"", 0, 0)


def test_struct_size_matches_the_kernel_abi():
    # sizeof(struct loop_info64) == 232 on every architecture
    assert loop.LOOP_INFO64.size == 232


@pytest.mark.parametrize("major, minor", [(8, 1), (259, 3), (0, 45), (253, 300), (259, 1048575), (4095, 255)])
def test_decode_kernel_dev_inverts_the_kernel_encoding(major, minor):
    assert loop.decode_kernel_dev(kernel_encode_dev(major, minor)) == (major, minor)


def test_decode_kernel_dev_agrees_with_os_makedev_for_small_numbers():
    # glibc's userspace dev_t and the kernel's encoding agree below 2^20
    value = os.makedev(8, 17)
    assert loop.decode_kernel_dev(value) == (8, 17)


def test_unpack_status():
    raw = packed_status(259, 2, 1234567, flags=loop.LO_FLAGS_PARTSCAN | loop.LO_FLAGS_AUTOCLEAR)
    st = loop.unpack_status(raw)
    assert st == {
        "backing_dev": (259, 2),
        "backing_inode": 1234567,
        "offset": 0,
        "sizelimit": 0,
        "flags": loop.LO_FLAGS_PARTSCAN | loop.LO_FLAGS_AUTOCLEAR,
        "file_name": "/srv/disk.img",
    }


def test_unpack_status_offset_sizelimit_and_truncated_name():
    # lo_file_name holds the first 63 bytes of the path, NUL-terminated
    long_name = ("/very/long/" + "x" * 80).encode()[:63]
    st = loop.unpack_status(packed_status(0, 45, 99, offset=1 << 20, sizelimit=1 << 30, flags=loop.LO_FLAGS_READ_ONLY,
                                          file_name=long_name))
    assert st["backing_dev"] == (0, 45)
    assert (st["offset"], st["sizelimit"]) == (1 << 20, 1 << 30)
    assert st["flags"] & loop.LO_FLAGS_READ_ONLY
    assert st["file_name"] == long_name.decode()


def test_unpack_status_non_utf8_name():
    st = loop.unpack_status(packed_status(8, 1, 5, file_name=b"/srv/\xff.img"))
    assert os.fsencode(st["file_name"]) == b"/srv/\xff.img"


def test_get_status_of_a_missing_device_is_none(tmp_path):
    assert loop.get_status(str(tmp_path / "loop99")) is None


def test_get_status_of_a_regular_file_is_none(tmp_path):
    path = tmp_path / "notaloop"
    path.write_bytes(b"\0" * 512)
    assert loop.get_status(str(path)) is None
