# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Many `ansible localhost -m virt.disk.image_mount` processes started at once,
as users do, checked against the kernel: distinct devices for distinct images,
one attachment and one mount for one image, exactly one run reporting changed."""

from __future__ import annotations

import os

import vdsys

MODULE = "virt.disk.image_mount"


def run_at_once(jobs):
    """Start every job before waiting for any; return their results in order."""
    procs = [vdsys.start_adhoc(MODULE, args) for args in jobs]
    return [vdsys.finish_adhoc(proc) for proc in procs]


def teardown_at_once(lab, images):
    procs = [vdsys.start_direct({"image": img.path, "state": "unmapped"}, lab.dir) for img in images]
    results = [vdsys.finish_direct(proc) for proc in procs]
    for img, res in zip(images, results):
        assert not res.failed, "unmapped %s failed: %s %s" % (img.path, res.get("msg"), res.stderr[-500:])


def describe(res):
    return "%s rc=%s msg=%s stderr=%s" % (res.status, res.rc, res.get("msg") or res.get("unparsed_stdout"),
                                          res.stderr[-300:])


def check_one_image(img, path, results):
    """Runs on one image: none failed, exactly one changed, all agree; the kernel has one attachment, one mount."""
    failed = [describe(r) for r in results if r.failed]
    assert not failed, "runs on %s failed: %s" % (img.path, failed)
    changed = [r for r in results if r["changed"]]
    assert len(changed) == 1, "%d of %d runs on %s reported changed (actions: %s)" % (
        len(changed), len(results), img.path, [r["actions"] for r in changed])
    loops = vdsys.attachments(img)
    assert len(loops) == 1, "%s is attached %d times: %s" % (img.path, len(loops), loops)
    device = "/dev/" + loops[0]
    assert set(r["device"] for r in results) == {device}
    part = "%sp1" % device
    assert set(r["partition_device"] for r in results) == {part}
    assert vdsys.partition_nodes(loops[0]) == [loops[0] + "p1"]
    assert vdsys.mount_sources(path) == [part], "mounts at %s: %s" % (path, vdsys.mounted_at(path))
    if img.kind == "raw":
        assert len(vdsys.losetup_j(img.path).splitlines()) == 1
    else:
        assert len(vdsys.daemons_of(img)) == 1, "qemu-storage-daemons of %s: %s" % (img.path, vdsys.daemons_of(img))
        assert vdsys.losetup_j(img.path) == ""
        assert set(r["pid"] for r in results) == set(vdsys.daemons_of(img))
    return device


def test_sixteen_raw_images_at_once(lab):
    images = [lab.image("raw") for _i in range(16)]
    paths = [lab.path("mnt%d" % i) for i in range(16)]
    results = run_at_once([{"image": img.path, "path": path} for img, path in zip(images, paths)])

    failed = [describe(r) for r in results if r.failed]
    assert not failed, "%d of 16 runs failed: %s" % (len(failed), failed)
    assert all(r["changed"] for r in results)
    devices = [check_one_image(img, path, [res]) for img, path, res in zip(images, paths, results)]
    assert len(set(devices)) == 16, "devices handed out twice: %s" % sorted(devices)
    assert len(vdsys.mounts_under(lab.dir)) == 16

    teardown_at_once(lab, images)
    lab.assert_clean()


def test_eight_runs_on_one_image_at_once(lab):
    img = lab.image("raw")
    path = lab.path("mnt")
    results = run_at_once([{"image": img.path, "path": path}] * 8)
    check_one_image(img, path, results)

    teardown_at_once(lab, [img])
    lab.assert_clean()


def test_mixed_raw_and_qcow2_at_once(lab):
    """Two raw and two qcow2 images (qcow2 through FUSE here), three runs on each, twelve at once."""
    images = [lab.image("raw"), lab.image("qcow2"), lab.image("raw"), lab.image("qcow2")]
    paths = [lab.path("mnt%d" % i) for i in range(len(images))]
    jobs = []
    for _round in range(3):
        jobs += [{"image": img.path, "path": path} for img, path in zip(images, paths)]
    results = run_at_once(jobs)

    devices = []
    for i, (img, path) in enumerate(zip(images, paths)):
        mine = results[i::len(images)]
        devices.append(check_one_image(img, path, mine))
        assert set(r["backend"] for r in mine) == {"loop" if img.kind == "raw" else "fuse"}
    assert len(set(devices)) == len(images), "devices handed out twice: %s" % devices
    for img in images:
        if img.kind == "qcow2":
            assert os.path.exists(img.export)

    teardown_at_once(lab, images)
    lab.assert_clean()
