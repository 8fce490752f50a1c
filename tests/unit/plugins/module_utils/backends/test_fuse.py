# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fuse backend: the daemon's command line, export names, and finding exports and the loops over them."""

from __future__ import annotations

import json

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends import fuse
from ansible_collections.virt.disk.plugins.module_utils.state import discovery
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeProcs, host


def test_daemon_args_round_trip_through_the_parser():
    argv = fuse.daemon_args("/img/a,b c.qcow2", "qcow2", "/run/virt-disk/fuse/k.raw", "/run/virt-disk/fuse/k.pid",
                            read_only=True, allow_backing_file=False)
    assert argv[0] == "qemu-storage-daemon"
    blockdevs = [json.loads(argv[i + 1]) for i, a in enumerate(argv) if a == "--blockdev"]
    assert blockdevs[0]["filename"] == "/img/a,b c.qcow2" and blockdevs[0]["read-only"] is True
    assert blockdevs[1]["driver"] == "qcow2" and blockdevs[1]["backing"] is None
    export = json.loads(argv[argv.index("--export") + 1])
    assert export["writable"] is False and export["type"] == "fuse"
    parsed = fuse.parse_daemon_argv(argv)
    assert parsed == {"image": "/img/a,b c.qcow2", "format": "qcow2", "export": "/run/virt-disk/fuse/k.raw",
                      "writable": False, "overlay": None}


@pytest.mark.parametrize("read_only", [False, True])
def test_snapshot_exports_a_writable_overlay_over_the_read_only_image(read_only):
    overlay = fuse.overlay_path("/run/virt-disk/fuse/k.raw")
    assert overlay == "/run/virt-disk/fuse/k.overlay.qcow2"
    argv = fuse.daemon_args("/img/a.raw", "raw", "/run/virt-disk/fuse/k.raw", "/run/virt-disk/fuse/k.pid",
                            read_only=read_only, allow_backing_file=False, overlay=overlay)
    parsed = [json.loads(argv[i + 1]) for i, a in enumerate(argv) if a == "--blockdev"]
    blockdevs = dict((b["node-name"], b) for b in parsed)
    assert blockdevs["vd-file"]["read-only"] is True and blockdevs["vd-image"]["read-only"] is True
    assert blockdevs["vd-fmt"] == {"driver": "qcow2", "node-name": "vd-fmt", "file": "vd-overlay-file",
                                   "backing": "vd-image"}
    assert blockdevs["vd-overlay-file"]["filename"] == overlay
    assert json.loads(argv[argv.index("--export") + 1])["writable"] is True
    assert fuse.parse_daemon_argv(argv) == {"image": "/img/a.raw", "format": "raw", "writable": True,
                                            "export": "/run/virt-disk/fuse/k.raw", "overlay": overlay}


@pytest.mark.parametrize("fmt, allow, has_backing_key", [
    ("qcow2", False, True), ("qed", False, True), ("qcow2", True, False), ("vdi", False, False),
    ("vpc", False, False)])
def test_backing_is_cut_only_where_the_format_has_one(fmt, allow, has_backing_key):
    argv = fuse.daemon_args("/i", fmt, "/e.raw", "/e.pid", False, allow)
    node = json.loads(argv[argv.index("--blockdev", 2) + 1])
    assert ("backing" in node) is has_backing_key


def test_parse_daemon_argv_in_key_value_syntax():
    argv = ["qemu-storage-daemon", "--blockdev", "driver=file,node-name=f,filename=/img/x,,y.qcow2",
            "--blockdev", "driver=qcow2,node-name=q,file=f",
            "--export", "type=fuse,id=e,node-name=q,mountpoint=/tmp/exp.raw,writable=on"]
    assert fuse.parse_daemon_argv(argv) == {"image": "/img/x,y.qcow2", "format": "qcow2",
                                            "export": "/tmp/exp.raw", "writable": True, "overlay": None}


def test_parse_daemon_argv_without_fuse_export():
    argv = ["qemu-storage-daemon", "--blockdev", "driver=file,node-name=f,filename=/x",
            "--export", "type=nbd,id=e,node-name=f"]
    assert fuse.parse_daemon_argv(argv) is None


def test_export_file_names_carry_the_image_key(tmp_path):
    run_dir = str(tmp_path)
    path = fuse.export_path("file-254-0-42", run_dir)
    assert fuse.key_of_export(path, run_dir) == "file-254-0-42"
    assert fuse.key_of_export("/elsewhere/file-254-0-42.raw", run_dir) is None


def test_discovers_a_fuse_export_and_the_loop_over_it(systree, tmp_path, image_file):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    argv = fuse.daemon_args(image_file.path, "qcow2", export, export + ".pid", False, False)
    systree.loop("loop0", 0, backing="/unrelated.img")
    systree.loop("loop1", 1, backing=export)
    obs = discovery.discover(host(systree, tmp_path, procs=FakeProcs({900: argv})), image_file)
    att = obs.attachment
    assert (att.kind, att.device, att.pid, att.export, att.broken) == ("fuse", "/dev/loop1", 900, export, False)


def test_a_loop_over_our_export_is_found_after_the_daemon_died(systree, tmp_path, image_file):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    systree.loop("loop2", 2, backing=export)
    obs = discovery.discover(host(systree, tmp_path, procs=FakeProcs({})), image_file)
    [att] = obs.attachments
    assert (att.kind, att.device, att.pid, att.broken) == ("fuse", "/dev/loop2", None, True)
    assert obs.attachment is None  # nothing usable: the planner takes it down and attaches anew


def test_a_daemon_without_its_loop_is_a_broken_attachment(systree, tmp_path, image_file):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    argv = fuse.daemon_args(image_file.path, "qcow2", export, export + ".pid", True, False)
    obs = discovery.discover(host(systree, tmp_path, procs=FakeProcs({901: argv})), image_file)
    [att] = obs.attachments
    assert (att.kind, att.device, att.pid, att.read_only, att.broken) == ("fuse", None, 901, True, True)


def test_only_the_loop_devices_over_an_export_are_read_in_full(systree, tmp_path, image_file, monkeypatch):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    systree.loop("loop0", 0, backing="/srv/a.img")
    systree.loop("loop1", 1, backing=export)
    h = host(systree, tmp_path, procs=FakeProcs({}))
    read, real = [], h.sysfs.read
    monkeypatch.setattr(h.sysfs, "read", lambda *parts: read.append(parts) or real(*parts))
    [att] = fuse.BACKEND.scan(h, set())
    assert att.device == "/dev/loop1"
    assert [p for p in read if p[1] == "loop0"] == [("block", "loop0", "loop", "backing_file")]
