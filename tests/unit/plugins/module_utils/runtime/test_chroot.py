# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The chroot runtime's decisions against a real directory as the image's
root and an injected mount table: where each mount lands, what is adopted,
what a read-only image goes without."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.runtime import chroot
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host


@pytest.fixture
def image(tmp_path):
    root = tmp_path / "root"
    for name in ("dev", "proc", "sys", "run", "etc"):
        (root / name).mkdir(parents=True)
    resolv = tmp_path / "host-resolv.conf"
    resolv.write_text(u"nameserver 192.0.2.1\n")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(u"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n")
    return str(root), str(resolv), str(mountinfo)


def phase(image, read_only=False, lines=()):
    root, resolv, mountinfo = image
    with open(mountinfo, "a") as f:
        f.write("".join(line + "\n" for line in lines))
    return chroot.Phase(Host(mountinfo_path=mountinfo), root, read_only, None, host_resolv_conf=resolv).run()


def test_a_dry_pass_plans_every_mount_in_order(image):
    root = image[0]
    with open(os.path.join(root, "etc", "resolv.conf"), "w") as f:
        f.write(u"nameserver 10.0.0.1\n")
    done = phase(image)
    mounts = [s.args for s in done.steps if s.op == "runtime_mount"]
    assert [m["path"][len(root):] for m in mounts] == ["/dev", "/dev/pts", "/proc", "/sys", "/run", "/etc/resolv.conf"]
    assert mounts[0]["fstype"] is None and mounts[0]["source"] == "/dev"
    assert mounts[3]["options"].startswith("ro,") and mounts[5]["options"] == "ro"
    assert [s.op for s in done.steps].count("mkdir") == 0  # /dev/pts is on the host's /dev once bound
    assert done.warnings == []


def test_mount_points_that_are_symlinks_resolve_inside_the_image(image):
    root = image[0]
    os.rmdir(os.path.join(root, "proc"))
    os.symlink("/etc/../../../host-proc", os.path.join(root, "proc"))
    done = phase(image)
    proc = [s.args for s in done.steps if s.op == "runtime_mount" and s.args["fstype"] == "proc"][0]
    assert proc["path"] == os.path.join(root, "host-proc")
    assert [s.args["path"] for s in done.steps if s.op == "mkdir"] == [os.path.join(root, "host-proc")]


def test_a_resolv_conf_link_into_run_gets_its_file_made_on_the_tmpfs(image):
    root = image[0]
    os.symlink("../run/systemd/resolve/stub-resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    done = phase(image)
    target = os.path.join(root, "run", "systemd", "resolve", "stub-resolv.conf")
    assert [s.args["path"] for s in done.steps if s.op == "runtime_file"] == [target]
    assert done.entries[-1]["link"] == os.path.join(root, "etc", "resolv.conf") and done.entries[-1]["path"] == target


def test_no_resolv_conf_outside_run_is_left_out_with_a_warning(image):
    done = phase(image)
    assert [e["target"] for e in done.entries] == ["/dev", "/dev/pts", "/proc", "/sys", "/run"]
    assert "would write the image" in done.warnings[0]


def test_a_read_only_image_without_a_mount_point_goes_without_it(image):
    os.rmdir(os.path.join(image[0], "sys"))
    done = phase(image, read_only=True)
    assert "/sys" not in [e["target"] for e in done.entries]
    assert "no /sys and is mounted read-only" in done.warnings[0]


def test_mounted_runtime_is_adopted_and_something_else_fails(image):
    root = image[0]
    lines = ["30 22 0:5 / %s/dev rw - devtmpfs udev rw" % root,
             "31 30 0:6 / %s/dev/pts rw - devpts devpts rw" % root,
             "32 22 0:7 / %s/proc rw - proc proc rw" % root,
             "33 22 0:8 / %s/sys ro - sysfs sysfs ro" % root,
             "34 22 0:9 / %s/run rw - tmpfs tmpfs rw" % root]
    assert phase(image, lines=lines).steps == []
    with pytest.raises(VirtDiskError) as info:
        phase(image, lines=["40 22 0:10 / %s/proc rw - ext4 /dev/sdb1 rw" % root])
    assert "already has ext4 /dev/sdb1 mounted" in str(info.value)
