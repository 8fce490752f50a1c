# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The qemu side: format policy, the fuse daemon's command line, nbd
allocation and readiness, and discovery of nbd and fuse attachments."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.state import discovery
from ansible_collections.virt.disk.plugins.module_utils.image import formats
from ansible_collections.virt.disk.plugins.module_utils.kernel import qsd as fuse
from ansible_collections.virt.disk.plugins.module_utils.kernel import nbd
from ansible_collections.virt.disk.plugins.module_utils.backends import nbd as nbd_connect
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.image import Image


# format policy ------------------------------------------------------------

QCOW2_OVERLAY = {
    "format": "qcow2", "filename": "/img/ov.qcow2", "backing-filename": "base.qcow2",
    "full-backing-filename": "/img/base.qcow2", "backing-filename-format": "qcow2",
    "format-specific": {"type": "qcow2", "data": {"corrupt": False}},
}
QCOW2_DATA_FILE = {
    "format": "qcow2", "filename": "/img/d.qcow2",
    "format-specific": {"type": "qcow2", "data": {"corrupt": False, "data-file": "/etc/shadow"}},
}
VMDK_TWO_EXTENTS = {
    "format": "vmdk", "filename": "/img/d.vmdk",
    "format-specific": {"type": "vmdk", "data": {"extents": [
        {"filename": "/img/d.vmdk", "format": "monolithicSparse"},
        {"filename": "/etc/passwd", "format": "FLAT"}]}},
}
VMDK_SPARSE = {
    "format": "vmdk", "filename": "/img/s.vmdk",
    "format-specific": {"type": "vmdk", "data": {"extents": [{"filename": "/img/s.vmdk"}]}},
}


@pytest.mark.parametrize("info, kind, name", [
    (QCOW2_OVERLAY, "backing file", "/img/base.qcow2"),
    (QCOW2_DATA_FILE, "external data file", "/etc/shadow"),
    (VMDK_TWO_EXTENTS, "VMDK extent", "/etc/passwd"),
])
def test_policy_refuses_files_outside_the_image(info, kind, name):
    with pytest.raises(VirtDiskError) as e:
        formats.check_policy(info, info["filename"], info["format"], allow_backing_file=False)
    assert name in str(e.value)
    assert kind in str(e.value)
    assert "allow_backing_file" in str(e.value)
    assert info["filename"] in str(e.value)


def test_policy_allows_them_when_asked():
    assert formats.check_policy(QCOW2_OVERLAY, "/img/ov.qcow2", "qcow2", True) == [
        ("backing file", "/img/base.qcow2")]


def test_policy_accepts_self_contained_images():
    assert formats.check_policy(VMDK_SPARSE, "/img/s.vmdk", "vmdk", False) == []
    plain = {"format": "vdi", "filename": "/img/x.vdi"}
    assert formats.check_policy(plain, "/img/x.vdi", "vdi", False) == []


def test_policy_refuses_a_qcow2_marked_corrupt():
    info = {"format": "qcow2", "format-specific": {"type": "qcow2", "data": {"corrupt": True}}}
    with pytest.raises(VirtDiskError, match="marked corrupt"):
        formats.check_policy(info, "/img/c.qcow2", "qcow2", True)


class FakeRunner(object):
    """Answers commands from a table of (argv prefix -> (rc, out, err)) and records calls."""

    def __init__(self, answers=None, on_run=None):
        self.answers = answers or []
        self.calls = []
        self.on_run = on_run

    def which(self, name, required=True, purpose=None):
        return "/usr/bin/" + name

    def run(self, args, step, check=True, data=None):
        self.calls.append(list(args))
        rc, out, err = 0, "", ""
        for prefix, answer in self.answers:
            if list(args[:len(prefix)]) == list(prefix):
                rc, out, err = answer
                break
        if self.on_run:
            self.on_run(list(args), rc)
        if check and rc:
            raise VirtDiskError("%s exited with %d" % (args[0], rc), step=step, tool_error=err)
        return rc, out, err


def test_qemu_info_always_names_the_format():
    runner = FakeRunner([(["qemu-img", "info"], (0, json.dumps(QCOW2_OVERLAY), ""))])
    assert formats.qemu_info(runner, "/img/ov.qcow2", "qcow2")["backing-filename"] == "base.qcow2"
    assert runner.calls == [["qemu-img", "info", "--force-share", "--output=json", "-f", "qcow2", "/img/ov.qcow2"]]


@pytest.mark.parametrize("rc, ok", [(0, True), (3, True), (63, True), (2, False), (1, False)])
def test_integrity_check_exit_codes(rc, ok):
    runner = FakeRunner([(["qemu-img", "check"], (rc, "", "ERROR: cluster beyond end of file"))])
    if ok:
        formats.check_integrity(runner, "/img/t.qcow2", "qcow2")
    else:
        with pytest.raises(VirtDiskError) as e:
            formats.check_integrity(runner, "/img/t.qcow2", "qcow2")
        assert "/img/t.qcow2" in str(e.value) and "cluster beyond end of file" in str(e.value)
    assert runner.calls[0][:5] == ["qemu-img", "check", "--force-share", "-f", "qcow2"]


# the fuse daemon's command line ------------------------------------------------

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
                      "writable": False}


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
                                            "export": "/tmp/exp.raw", "writable": True}


def test_parse_daemon_argv_without_fuse_export():
    argv = ["qemu-storage-daemon", "--blockdev", "driver=file,node-name=f,filename=/x",
            "--export", "type=nbd,id=e,node-name=f"]
    assert fuse.parse_daemon_argv(argv) is None


def test_export_file_names_carry_the_image_key(tmp_path):
    run_dir = str(tmp_path)
    path = fuse.export_path("file-254-0-42", run_dir)
    assert fuse.key_of_export(path, run_dir) == "file-254-0-42"
    assert fuse.key_of_export("/elsewhere/file-254-0-42.raw", run_dir) is None


# nbd allocation and readiness -----------------------------------------------

def test_served_file_skips_option_values():
    assert nbd.served_file(["qemu-nbd", "-c", "/dev/nbd3", "-f", "qcow2", "disk.qcow2"]) == "disk.qcow2"
    assert nbd.served_file(["qemu-nbd", "--connect=/dev/nbd0", "--read-only", "--cache", "none", "/i/a.img"]) == \
        "/i/a.img"
    assert nbd.served_file(["qemu-nbd", "-d", "/dev/nbd0"]) is None


def test_free_means_no_pid_no_size_no_holders(systree):
    systree.nbd("nbd0", 0, pid=100)
    systree.nbd("nbd1", 32)
    systree.nbd("nbd2", 64)
    systree.dm("nbd2", 0, "nbd2p1", "part1-x")
    sysfs = systree.sysfs
    assert [nbd_connect.is_free(sysfs, n) for n in ("nbd0", "nbd1", "nbd2")] == [False, True, False]


def _connect_in_sysfs(systree, name, pid):
    base = os.path.join(systree.sys, "block", name)
    with open(os.path.join(base, "size"), "w") as f:
        f.write("2048\n")
    with open(os.path.join(base, "pid"), "w") as f:
        f.write("%d\n" % pid)


class Threads(object):
    """/proc's view of thread ids: sysfs names qemu-nbd's thread, the result names its process."""

    def __init__(self, tgids=None):
        self.tgids = tgids or {}

    def tgid(self, pid):
        return self.tgids.get(pid, pid)


def test_connect_takes_the_first_free_device_and_waits_for_it(systree, tmp_path):
    systree.nbd("nbd0", 0, pid=100)  # busy
    systree.nbd("nbd1", 32)
    systree.nbd("nbd2", 64)

    def on_run(args, rc):
        if args[:2] == ["qemu-nbd", "--connect"] and rc == 0:
            _connect_in_sysfs(systree, os.path.basename(args[2]), 4242)
    runner = FakeRunner(on_run=on_run)
    device, pid = nbd_connect.connect(runner, systree.sysfs, "/img/a.qcow2", "qcow2", True, 2, str(tmp_path),
                                      Threads({4242: 4240}))
    assert (device, pid) == ("/dev/nbd1", 4240)
    call = runner.calls[0]
    assert call[:3] == ["qemu-nbd", "--connect", "/dev/nbd1"]
    assert call[call.index("--format") + 1] == "qcow2"
    assert "--read-only" in call and call[-1] == "/img/a.qcow2"


def test_connect_moves_on_when_qemu_nbd_loses_a_race(systree, tmp_path):
    systree.nbd("nbd0", 0)
    systree.nbd("nbd1", 32)

    def on_run(args, rc):
        if args[:2] == ["qemu-nbd", "--connect"] and rc == 0:
            _connect_in_sysfs(systree, os.path.basename(args[2]), 77)
    runner = FakeRunner([(["qemu-nbd", "--connect", "/dev/nbd0"], (1, "", "Failed to set NBD socket: busy"))],
                        on_run=on_run)
    device, pid = nbd_connect.connect(runner, systree.sysfs, "/img/a.qcow2", "qcow2", False, 2, str(tmp_path),
                                      Threads())
    assert (device, pid) == ("/dev/nbd1", 77)
    assert "--read-only" not in runner.calls[-1]


def test_connect_fails_clearly_when_nothing_is_free(systree, tmp_path):
    systree.nbd("nbd0", 0, pid=1)
    with pytest.raises(VirtDiskError, match="no free nbd device.*nbds_max"):
        nbd_connect.connect(FakeRunner(), systree.sysfs, "/img/a.qcow2", "qcow2", False, 1, str(tmp_path), Threads())


def test_connect_times_out_and_disconnects_when_the_device_never_goes_live(systree, tmp_path):
    systree.nbd("nbd0", 0)
    runner = FakeRunner()
    with pytest.raises(VirtDiskError, match="timed out.*nbd0 to be connected"):
        nbd_connect.connect(runner, systree.sysfs, "/img/a.qcow2", "qcow2", False, 0.05, str(tmp_path), Threads())
    assert ["qemu-nbd", "--disconnect", "/dev/nbd0"] in runner.calls


# discovery of nbd and fuse attachments --------------------------------------

class FakeProcs(object):
    def __init__(self, table, cwd="/", threads=None):
        self.table = table
        self._cwd = cwd
        self.threads = threads or {}

    def argv(self, pid):
        return self.table.get(pid)

    def named(self, name):
        return sorted((pid, argv) for pid, argv in self.table.items() if os.path.basename(argv[0]) == name)

    def resolve(self, pid, path):
        return path if os.path.isabs(path) else os.path.join(self._cwd, path)

    def alive(self, pid):
        return pid in self.table

    def tgid(self, pid):
        return self.threads.get(pid, pid)


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "disk.qcow2"
    path.write_bytes(b"QFI\xfb" + b"\0" * 508)
    st = os.stat(str(path))
    return Image(str(path), "file", (os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino, None, st.st_size,
                 "qcow2")


def _mountinfo(tmp_path, text=""):
    p = tmp_path / "mountinfo"
    p.write_text(text)
    return str(p)


def test_discovers_a_hand_made_qemu_nbd_connection_by_served_file(systree, tmp_path, image_file):
    systree.nbd("nbd0", 0, pid=500)
    systree.nbd("nbd3", 96, pid=503)  # sysfs names the server's thread 503 of process 501
    procs = FakeProcs({500: ["qemu-nbd", "-c", "/dev/nbd0", "/other.qcow2"],
                       501: ["qemu-nbd", "-c", "/dev/nbd3", "-f", "qcow2", "disk.qcow2"]}, cwd=str(tmp_path),
                      threads={503: 501})
    obs = discovery.discover(image_file, systree.sysfs, mountinfo_path=_mountinfo(tmp_path),
                             status=lambda dev: None, procs=procs, run_dir=str(tmp_path / "run"))
    assert [(a.backend, a.device, a.pid) for a in obs.attachments] == [("nbd", "/dev/nbd3", 501)]
    assert obs.attachment.device == "/dev/nbd3"


def test_discovers_a_fuse_export_and_the_loop_over_it(systree, tmp_path, image_file):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    argv = fuse.daemon_args(image_file.path, "qcow2", export, export + ".pid", False, False)
    systree.loop("loop0", 0, backing="/unrelated.img")
    systree.loop("loop1", 1, backing=export)
    obs = discovery.discover(image_file, systree.sysfs, mountinfo_path=_mountinfo(tmp_path),
                             status=lambda dev: None, procs=FakeProcs({900: argv}), run_dir=run_dir)
    att = obs.attachment
    assert (att.backend, att.device, att.pid, att.export, att.broken) == ("fuse", "/dev/loop1", 900, export, False)


def test_a_loop_over_our_export_is_found_after_the_daemon_died(systree, tmp_path, image_file):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    systree.loop("loop2", 2, backing=export)
    obs = discovery.discover(image_file, systree.sysfs, mountinfo_path=_mountinfo(tmp_path),
                             status=lambda dev: None, procs=FakeProcs({}), run_dir=run_dir)
    [att] = obs.attachments
    assert (att.backend, att.device, att.pid, att.broken) == ("fuse", "/dev/loop2", None, True)
    assert obs.attachment is None  # nothing usable: the planner takes it down and attaches anew


def test_a_daemon_without_its_loop_is_a_broken_attachment(systree, tmp_path, image_file):
    run_dir = str(tmp_path / "run")
    export = fuse.export_path(image_file.key, run_dir)
    argv = fuse.daemon_args(image_file.path, "qcow2", export, export + ".pid", True, False)
    obs = discovery.discover(image_file, systree.sysfs, mountinfo_path=_mountinfo(tmp_path),
                             status=lambda dev: None, procs=FakeProcs({901: argv}), run_dir=run_dir)
    [att] = obs.attachments
    assert (att.backend, att.device, att.pid, att.read_only, att.broken) == ("fuse", None, 901, True, True)


def test_integrity_failure_keeps_only_the_first_lines_of_a_long_report():
    report = "\n".join("ERROR: counting reference for region %d" % i for i in range(1000))
    runner = FakeRunner([(["qemu-img", "check"], (2, "", report))])
    with pytest.raises(VirtDiskError) as e:
        formats.check_integrity(runner, "/img/t.qcow2", "qcow2")
    text = str(e.value)
    assert "region 0" in text and "region 5" in text and "region 6" not in text
    assert "(994 more lines)" in text
