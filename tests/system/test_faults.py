# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults, made for real on this host, and the runs that must recover from them:
the module killed by SIGKILL between steps, the qemu helper killed under a
mount, a busy mount point, the state under /run/virt-disk/ lost, a full
filesystem inside the image."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
import vdsys

KINDS = ["raw", "qcow2"]


def ok(res):
    assert not res.failed, "run failed: %s" % (res.get("msg") or res)
    return res


def messages(res):
    """Actions and warnings as text (a direct run returns warnings as structured events)."""
    return [str(a) for a in res.get("actions", [])] + [json.dumps(w) if not isinstance(w, str) else w
                                                       for w in res.get("warnings", []) or []]


def check_mounted(img, path, res=None):
    """The kernel has exactly one attachment of img, its partition 1 mapped and mounted at path (only there)."""
    loops = vdsys.attachments(img)
    assert len(loops) == 1, "%s is attached %d times: %s" % (img.path, len(loops), loops)
    part = "/dev/%sp1" % loops[0]
    assert vdsys.partition_nodes(loops[0]) == [loops[0] + "p1"]
    assert vdsys.mount_sources(path) == [part]
    assert [m for m in vdsys.mounts_under(os.path.dirname(path)) if m[1] == part] == vdsys.mounted_at(path)
    if img.kind != "raw":
        assert len(vdsys.daemons_of(img)) == 1
        assert vdsys.losetup_j(img.path) == ""
    if res is not None:
        assert res["device"] == "/dev/" + loops[0]
        assert res["partition_device"] == part
        assert res["mounts"] == [{"path": path, "device": part}]
    return loops[0]


# ------------------------------------------------------------------ SIGKILL between steps

@pytest.mark.parametrize("then", ["mounted", "unmapped"])
@pytest.mark.parametrize("point", ["attach", "map", "mount"])
@pytest.mark.parametrize("kind", KINDS)
def test_killed_after_step_then_converges(lab, image_mount, kind, point, then):
    img = lab.image(kind)
    path = lab.path("mnt")
    killed = lab.direct({"image": img.path, "path": path}, kill_after=point)
    assert killed.rc == -signal.SIGKILL, "the run was not killed after %s: rc=%s %s" % (
        point, killed.rc, killed.get("msg") or killed.stderr[-500:])

    # what the kill left behind, as the kernel shows it
    loops = vdsys.attachments(img)
    assert len(loops) == 1, "after a kill at %s: attachments %s" % (point, loops)
    if kind != "raw":
        assert len(vdsys.daemons_of(img)) == 1
    nodes = vdsys.partition_nodes(loops[0])
    assert nodes == ([] if point == "attach" else [loops[0] + "p1"])
    assert len(vdsys.mounted_at(path)) == (1 if point == "mount" else 0)

    res = ok(image_mount(image=img.path, path=path, state=then))
    if then == "mounted":
        assert res["changed"] == (point != "mount"), res["actions"]
        loop = check_mounted(img, path, res)
        assert loop == loops[0], "the leftover %s was not adopted (now %s)" % (loops[0], loop)
        assert "attached" not in " ".join(res["actions"]), res["actions"]
        ok(image_mount(image=img.path, state="unmapped"))
    else:
        assert res["changed"], res
    lab.assert_clean()


# ------------------------------------------------------------------ the qemu helper killed

def test_qemu_helper_killed_under_mount(lab, image_mount):
    img = lab.image("qcow2")
    path = lab.path("mnt")
    res = ok(image_mount(image=img.path, path=path))
    check_mounted(img, path, res)
    pid = res["pid"]
    assert vdsys.daemons_of(img) == [pid]

    os.kill(pid, signal.SIGKILL)
    vdsys.wait_for(lambda: not vdsys.alive(pid), 5, "qemu-storage-daemon %d to die" % pid)
    assert vdsys.mounted_at(img.export), "the stale FUSE export should still be mounted"

    res = ok(image_mount(image=img.path, state="unmapped"))
    assert res["changed"]
    text = " ".join(messages(res))
    assert "forced" in text or "by force" in text, "nothing says what was forced: %s" % messages(res)
    assert not os.path.lexists(img.export)
    lab.assert_clean()


# ------------------------------------------------------------------ a busy mount point

def busy(lab, image_mount, kind):
    img = lab.image(kind)
    path = lab.path("mnt")
    ok(image_mount(image=img.path, path=path))
    loop = check_mounted(img, path)
    holder = lab.spawn(["sleep", "60"], cwd=path)
    vdsys.wait_for(lambda: os.readlink("/proc/%d/cwd" % holder.pid) == path, 5, "sleep to enter %s" % path)
    res = image_mount(image=img.path, state="unmapped")
    return img, path, loop, holder, res


@pytest.mark.parametrize("kind", KINDS)
def test_busy_mount_point(lab, image_mount, kind):
    img, path, loop, holder, res = busy(lab, image_mount, kind)
    assert res.failed, "unmapped succeeded with a busy mount point: %s" % res
    assert path in res["msg"] and "busy" in res["msg"], res["msg"]
    # nothing half torn down: still mounted, still mapped, still attached (and the helper still serving)
    assert check_mounted(img, path) == loop
    assert res["changed"] is False, res

    holder.kill()
    holder.wait()
    res = ok(image_mount(image=img.path, state="unmapped"))
    assert res["changed"]
    lab.assert_clean()


def test_busy_mount_point_names_the_holders(lab, image_mount):
    img, path, loop, holder, res = busy(lab, image_mount, "raw")
    assert res.failed
    assert str(holder.pid) in res["msg"], "the message does not name the holder %d: %s" % (holder.pid, res["msg"])
    assert "sleep" in res["msg"], res["msg"]


# ------------------------------------------------------------------ the state under /run/virt-disk lost

def forget(img):
    """Remove what the module recorded of this image under /run/virt-disk/ (not the live FUSE export mount).

    Only this image's files: other people's runs on this host keep theirs."""
    for path in (img.statefile, img.lockfile, img.pidfile):
        try:
            os.unlink(path)
        except OSError:
            pass
    assert not os.path.exists(img.statefile) and not os.path.exists(img.lockfile)


@pytest.mark.parametrize("kind", KINDS)
def test_state_lost_between_runs(lab, image_mount, kind):
    img = lab.image(kind)
    path = lab.path("mnt")
    first = ok(image_mount(image=img.path, path=path))
    loop = check_mounted(img, path, first)

    forget(img)
    res = ok(image_mount(image=img.path, path=path))
    assert res["changed"] is False, res["actions"]
    assert check_mounted(img, path, res) == loop
    assert res["pid"] == first["pid"]

    forget(img)
    res = ok(image_mount(image=img.path, state="unmapped"))
    assert res["changed"]
    lab.assert_clean()


# ------------------------------------------------------------------ a full filesystem inside the image

@pytest.mark.parametrize("kind", KINDS)
def test_full_disk_then_teardown_and_fsck(lab, image_mount, kind):
    img = lab.image(kind)
    path = lab.path("mnt")
    ok(image_mount(image=img.path, path=path))
    check_mounted(img, path)
    with open(os.path.join(path, "marker"), "w") as f:
        f.write("written before the disk filled up\n")
    fill = subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(path, "fill"), "bs=1M"],
                          capture_output=True, text=True, check=False)
    assert fill.returncode != 0 and "No space left on device" in fill.stderr, fill.stderr

    res = ok(image_mount(image=img.path, state="unmapped"))
    assert res["changed"]
    lab.assert_clean()

    mapped = ok(image_mount(image=img.path, state="mapped"))
    node = mapped["partition_device"]
    assert node and os.path.exists(node), mapped
    fsck = subprocess.run(["e2fsck", "-fn", node], capture_output=True, text=True, env=vdsys.tool_env(), check=False)
    assert fsck.returncode == 0, "e2fsck -fn %s: rc %d\n%s%s" % (node, fsck.returncode, fsck.stdout, fsck.stderr)

    ok(image_mount(image=img.path, path=path))
    with open(os.path.join(path, "marker")) as f:
        assert f.read() == "written before the disk filled up\n"
    assert os.path.getsize(os.path.join(path, "fill")) > 0
    ok(image_mount(image=img.path, state="unmapped"))
    lab.assert_clean()


# ------------------------------------------------------------------ a launcher that closes stdin

def test_qcow2_with_closed_stdin(lab):
    """A module started with fd 0 closed (as some launchers leave it) must still serve the image's bytes."""
    img = lab.image("qcow2")
    path = lab.path("mnt")
    res = lab.direct({"image": img.path, "path": path}, close_stdin=True)
    ok(res)
    check_mounted(img, path, res)
