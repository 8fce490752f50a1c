# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The image's architecture from its /bin/sh, and binfmt_misc handlers (an injected directory)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.connection import arch
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

AARCH64 = bytes.fromhex("7f454c460201010000000000000000000200b700") + b"\0" * 44
X86_64 = bytes.fromhex("7f454c460201010000000000000000000200" + "3e00") + b"\0" * 44
QEMU_AARCH64 = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: {flags}
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def image(tmp_path, header):
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "dash").write_bytes(header)
    os.symlink("/usr/bin/dash", str(root / "bin" / "sh"))
    return str(root)


def binfmt(tmp_path, **entries):
    d = tmp_path / "binfmt_misc"
    d.mkdir()
    (d / "status").write_text("enabled\n")
    (d / "register").write_text("")
    for name, text in entries.items():
        (d / name).write_text(text)
    return str(d)


def test_header_names_the_machine():
    assert arch.Header(AARCH64).machine == "aarch64"
    assert arch.Header(X86_64).machine == "x86_64"
    with pytest.raises(ValueError):
        arch.Header(b"#!/bin/sh\n" + b"\0" * 30)


def test_native_image_needs_nothing(tmp_path):
    root = image(tmp_path, X86_64)
    assert arch.check(root, "img", host_machine="x86_64", binfmt_dir=str(tmp_path / "none")) == "x86_64"


def test_foreign_image_runs_with_an_f_handler(tmp_path):
    root = image(tmp_path, AARCH64)
    d = binfmt(tmp_path, **{"qemu-aarch64": QEMU_AARCH64.format(flags="POCF")})
    assert arch.check(root, "img", host_machine="x86_64", binfmt_dir=d) == "aarch64"


def test_foreign_image_without_f_flag_says_why(tmp_path):
    root = image(tmp_path, AARCH64)
    d = binfmt(tmp_path, **{"qemu-aarch64": QEMU_AARCH64.format(flags="P")})
    with pytest.raises(VirtDiskError, match="qemu-aarch64 has no F flag.*qemu-user-static and binfmt-support"):
        arch.check(root, "img.qcow2", host_machine="x86_64", binfmt_dir=d)


def test_foreign_image_without_handler_says_what_to_install(tmp_path):
    root = image(tmp_path, AARCH64)
    d = binfmt(tmp_path, **{"qemu-aarch64": QEMU_AARCH64.format(flags="F").replace("enabled", "disabled")})
    with pytest.raises(VirtDiskError, match="img.qcow2 is a aarch64 image and this host is x86_64: binfmt_misc has "
                                            "no enabled handler for it; install qemu-user-static"):
        arch.check(root, "img.qcow2", host_machine="x86_64", binfmt_dir=d)


def test_image_without_an_elf_shell_is_left_to_raw(tmp_path):
    root = image(tmp_path, b"#!/bin/busybox\n")
    assert arch.check(root, "img", host_machine="x86_64", binfmt_dir=str(tmp_path)) is None


QEMU_S390X = """enabled
interpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P
flags: POCF
offset 0
magic 7f454c4602020100000000000000000000020016
mask ffffffffffffff00fffffffffffffffffffeffff
"""


def test_sample_headers_are_what_the_handlers_match():
    assert arch.Header(arch.sample_header("aarch64")).machine == "aarch64"
    assert arch.Header(arch.sample_header("s390x")).machine == "s390x"
    assert arch.sample_header("aarch64")[:20] == AARCH64[:20]
    assert all(len(arch.sample_header(m)) == 64 for m in arch.ELF_OF)


def test_machines_native_and_through_f_handlers(tmp_path):
    d = binfmt(tmp_path, **{"qemu-aarch64": QEMU_AARCH64.format(flags="POCF"), "qemu-s390x": QEMU_S390X})
    runs, foreign = arch.machines(host_machine="x86_64", binfmt_dir=d)
    assert runs == ["x86_64", "i686", "aarch64", "s390x"]
    assert foreign["aarch64"] == {"handler": "qemu-aarch64", "enabled": True, "flags": "POCF",
                                  "interpreter": "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"}
    assert set(foreign) == {"aarch64", "s390x"}


def test_machines_reports_unusable_handlers_without_running_them(tmp_path):
    d = binfmt(tmp_path, **{"qemu-aarch64": QEMU_AARCH64.format(flags="P"),
                            "qemu-s390x": QEMU_S390X.replace("enabled", "disabled")})
    runs, foreign = arch.machines(host_machine="x86_64", binfmt_dir=d)
    assert runs == ["x86_64", "i686"]
    assert foreign["aarch64"]["flags"] == "P" and foreign["s390x"]["enabled"] is False


def test_machines_without_binfmt_misc(tmp_path):
    assert arch.machines(host_machine="aarch64", binfmt_dir=str(tmp_path / "none")) == (["aarch64"], {})
