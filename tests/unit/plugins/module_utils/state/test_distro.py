# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends import fuse
from ansible_collections.virt.disk.plugins.module_utils.state import distro

# os-release of the distributions the messages know, as they ship it
OS_RELEASE = {
    "debian12": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
    "debian13": 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_ID="13"\nID=debian\n',
    "ubuntu2204": 'PRETTY_NAME="Ubuntu 22.04.5 LTS"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n',
    "ubuntu2310": 'PRETTY_NAME="Ubuntu 23.10"\nVERSION_ID="23.10"\nID=ubuntu\nID_LIKE=debian\n',
    "ubuntu2404": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
    "rocky9": 'NAME="Rocky Linux"\nVERSION_ID="9.4"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
              'PRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"\n',
    "rhel9": 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4"\n',
    "arch": 'NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n',
}


def of(name):
    return distro.Distro(distro.parse(OS_RELEASE[name]))


@pytest.mark.parametrize("name, family, version", [
    ("debian12", "debian", (12,)), ("ubuntu2204", "ubuntu", (22, 4)), ("rocky9", "rhel", (9, 4)),
    ("rhel9", "rhel", (9, 4)), ("arch", None, ()),
])
def test_family_and_version(name, family, version):
    d = of(name)
    assert (d.family, d.version) == (family, version)


@pytest.mark.parametrize("name, advice", [
    ("debian12", "install qemu-system-common"),
    ("ubuntu2310", "install qemu-system-common"),
    ("debian13", "install qemu-utils"),
    ("ubuntu2404", "install qemu-utils"),
    ("ubuntu2204", "Ubuntu 22.04.5 LTS has QEMU 6.2, and the fuse backend needs qemu-storage-daemon from QEMU 7.0"),
    ("rocky9", "Rocky Linux 9.4 (Blue Onyx)'s qemu-img ships it, but its QEMU is built without the FUSE export"),
    ("arch", "Debian 12: qemu-system-common; Debian 13, Ubuntu 24.04: qemu-utils"),
])
def test_storage_daemon_package(name, advice):
    assert advice in distro.storage_daemon_package(of(name))


def test_nbd_and_qemu_advice():
    assert distro.nbd_module(of("rhel9")) == "Red Hat Enterprise Linux 9.4's kernels ship no nbd module"
    assert "modprobe nbd" in distro.nbd_module(of("debian12"))
    assert distro.qemu_package(of("rocky9")) == "install qemu-img"
    assert distro.qemu_package(of("ubuntu2404")) == "install qemu-utils"


def test_no_backend_on_rhel_names_the_raw_copy():
    assert "qemu-img convert -O raw" in distro.no_backend(of("rocky9"), "qcow2")
    assert "image_host role" in distro.no_backend(of("debian12"), "qcow2")


def test_read_takes_the_first_readable_file_once(tmp_path):
    first, second = tmp_path / "missing", tmp_path / "os-release"
    second.write_text(OS_RELEASE["debian13"])
    paths = (str(first), str(second))
    assert distro.read(paths).version == (13,)
    second.write_text(OS_RELEASE["rocky9"])
    assert distro.read(paths).family == "debian"
    assert distro.read((str(tmp_path / "none"),)).family is None


@pytest.mark.parametrize("error, expect", [
    ("qemu-storage-daemon: --daemonize: invalid option", "older than QEMU 7.0"),
    ("qemu-storage-daemon: --export {...}: Parameter 'type' does not accept value 'fuse'",
     "built without the FUSE export"),
    ("qemu-storage-daemon: Could not open 'x.qcow2': Permission denied", None),
    (None, None),
])
def test_fuse_start_errors_that_mean_unsupported(error, expect):
    why = fuse.unsupported(error)
    assert (why is None) if expect is None else (expect in why)
