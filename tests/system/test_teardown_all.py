# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/teardown_all.yml takes down every image attached from a file,
whoever attached it, innermost first: here a qcow2 (fuse) mounted inside a
raw image's mount, a raw image whose file lies inside that mount and is
mounted by hand, and a loop device attached by hand."""

from __future__ import annotations

import os
import subprocess
import sys

import vdsys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ok(res):
    assert not res.failed, "run failed: %s" % (res.get("msg") or res)
    return res


def test_teardown_all_takes_down_nested_images_innermost_first(lab):
    outer = lab.image("raw")
    inner_qcow = lab.image("qcow2")
    by_hand = lab.image("raw")
    outer_mnt = lab.path("outer")
    ok(lab.direct({"image": outer.path, "path": outer_mnt}))
    # a qcow2 (fuse backend) mounted beneath the outer mount
    ok(lab.direct({"image": inner_qcow.path, "path": os.path.join(outer_mnt, "qcow")}))
    # an image file that lives inside the outer filesystem, attached and mounted by hand
    nested_file = os.path.join(outer_mnt, "nested.img")
    vdsys.sh(["truncate", "-s", "4M", nested_file])
    vdsys.sh(["mkfs.ext4", "-q", "-F", nested_file])
    nested_loop = vdsys.sh(["losetup", "-f", "--show", nested_file]).stdout.strip()
    nested_mnt = lab.path("nested")
    os.mkdir(nested_mnt)
    vdsys.sh(["mount", nested_loop, nested_mnt])
    # a loop device attached by hand, nothing mounted
    hand_loop = vdsys.sh(["losetup", "-f", "--show", by_hand.path]).stdout.strip()
    try:
        proc = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
             os.path.join(REPO, "playbooks", "teardown_all.yml"), "-e", "under=%s" % lab.dir],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=vdsys.module_env(), check=False,
            timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "taken down" in proc.stdout and nested_file in proc.stdout, proc.stdout[-3000:]
        assert vdsys.mounts_under(lab.dir) == []
        for img in (outer, inner_qcow, by_hand):
            assert vdsys.attachments(img) == [], "%s still attached" % img.path
            assert vdsys.daemons_of(img) == []
        assert vdsys.sh(["losetup", "-j", by_hand.path]).stdout == ""
        assert not os.path.exists(inner_qcow.export)
    finally:
        # the nested image is not one of the lab's: take it down by hand if the playbook did not
        if vdsys.mounted_at(nested_mnt):
            vdsys.sh(["umount", nested_mnt], check=False)
        vdsys.sh(["losetup", "-d", nested_loop], check=False)
        vdsys.sh(["losetup", "-d", hand_loop], check=False)
    lab.assert_clean()
