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
import shutil
import subprocess
import sys

import vdsys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def ok(res):
    assert not res.failed, "run failed: %s" % (res.get("msg") or res)
    return res


def teardown_all(under):
    """ansible-playbook playbooks/teardown_all.yml -e under=UNDER, its completed process."""
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         os.path.join(REPO, "playbooks", "teardown_all.yml"), "-e", "under=%s" % under],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=vdsys.module_env(), check=False,
        timeout=300)


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
        proc = teardown_all(lab.dir)
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


def test_teardown_all_stops_chrooted_processes_and_discards_the_snapshot(lab):
    """An image customized as users do: layout tree with the chroot runtime
    over a throwaway overlay, a daemon left running in the chroot. The
    playbook stops the daemon, unmounts the runtime and the tree, stops the
    helper and deletes the overlay; the image's bytes are unchanged."""
    img = lab.image("qcow2")
    before = vdsys.sh(["sha256sum", img.path]).stdout.split()[0]
    mnt = lab.path("tree")
    ok(lab.direct({"image": img.path, "path": mnt, "layout": "tree", "snapshot": True}))
    shutil.copy("/bin/busybox", os.path.join(mnt, "busybox"))
    res = ok(lab.direct({"image": img.path, "path": mnt, "layout": "tree", "snapshot": True, "runtime": "chroot"}))
    assert [m["target"] for m in res["runtime"]][:4] == ["/dev", "/dev/pts", "/proc", "/sys"], res
    vdsys.sh(["chroot", mnt, "/busybox", "sh", "-c", "/busybox setsid /busybox sleep 987 </dev/null >/dev/null 2>&1 &"])
    assert vdsys.sh(["pgrep", "-f", "^/busybox sleep 987$"], check=False).stdout.strip()
    overlays = [n for n in os.listdir(os.path.join(vdsys.RUN_DIR, "fuse")) if n.endswith(".overlay.qcow2")]
    assert overlays == [img.key + ".overlay.qcow2"], overlays
    proc = teardown_all(lab.dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert vdsys.sh(["pgrep", "-f", "^/busybox sleep 987$"], check=False).stdout == ""
    assert vdsys.mounts_under(lab.dir) == []
    assert vdsys.attachments(img) == [] and vdsys.daemons_of(img) == []
    assert not os.path.exists(os.path.join(vdsys.RUN_DIR, "fuse", img.key + ".overlay.qcow2"))
    assert vdsys.sh(["sha256sum", img.path]).stdout.split()[0] == before
    lab.assert_clean()
