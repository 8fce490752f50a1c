# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Paths of a hostile image never leave its root (tmp_path stands for a
mounted image; tmp_path/host for the host around it)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.tree import inroot


@pytest.fixture
def image(tmp_path):
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "shadow").write_text("host secret\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("image shadow\n")
    (root / "etc" / "real-fstab").write_text("LABEL=root / ext4 defaults 0 1\n")
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "boot").mkdir()
    return str(root), str(host)


def test_plain_path(image):
    root, _host = image
    assert inroot.resolve(root, "/etc/real-fstab") == (os.path.join(root, "etc", "real-fstab"), "/etc/real-fstab")


def test_absolute_symlink_points_into_the_image(image):
    root, host = image
    os.symlink(os.path.join(host, "etc", "shadow"), os.path.join(root, "etc", "fstab"))
    path, in_image = inroot.resolve(root, "/etc/fstab")
    assert path.startswith(root + os.sep) and in_image == os.path.join(host, "etc", "shadow")
    assert inroot.read_text(root, "/etc/fstab") is None  # no such file inside the image


def test_symlink_to_etc_shadow_reads_the_image_file(image):
    root, _host = image
    os.symlink("/etc/shadow", os.path.join(root, "etc", "fstab"))
    assert inroot.read_text(root, "/etc/fstab") == "image shadow\n"


def test_dotdot_stops_at_the_root(image):
    root, _host = image
    assert inroot.resolve(root, "/../../../etc/shadow")[1] == "/etc/shadow"
    os.symlink("../../../../../../etc", os.path.join(root, "usr", "lib", "up"))
    assert inroot.resolve(root, "/usr/lib/up/shadow") == (os.path.join(root, "etc", "shadow"), "/etc/shadow")


def test_directory_symlink_mount_point(image):
    root, _host = image
    os.symlink("/etc", os.path.join(root, "var"))  # a hostile /var -> /etc
    assert inroot.resolve(root, "/var/lib") == (os.path.join(root, "etc", "lib"), "/etc/lib")


def test_missing_components_are_kept_lexically(image):
    root, _host = image
    assert inroot.resolve(root, "/srv/new/../data")[1] == "/srv/data"
    assert inroot.resolve(root, "/boot/efi")[1] == "/boot/efi"


def test_symlink_loop_is_refused(image):
    root, _host = image
    os.symlink("/b", os.path.join(root, "a"))
    os.symlink("/a", os.path.join(root, "b"))
    with pytest.raises(inroot.OutsideError):
        inroot.resolve(root, "/a/x")


def test_file_as_directory_is_refused(image):
    root, _host = image
    with pytest.raises(inroot.OutsideError):
        inroot.resolve(root, "/etc/real-fstab/x")


def test_read_text_reads_only_regular_files(image):
    root, _host = image
    assert inroot.read_text(root, "/etc") is None
    assert inroot.read_text(root, "/etc/missing") is None
    os.mkfifo(os.path.join(root, "etc", "fifo"))
    assert inroot.read_text(root, "/etc/fifo") is None
    assert inroot.read_text(root, "/etc/real-fstab").startswith("LABEL=root")
