# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nbd backend: allocation and readiness of a device, and finding connections by the file they serve."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends import nbd as nbd_backend
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import nbd
from ansible_collections.virt.disk.plugins.module_utils.state import discovery
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeProcs, FakeRunner, host


def test_served_file_skips_option_values():
    assert nbd.served_file(["qemu-nbd", "-c", "/dev/nbd3", "-f", "qcow2", "disk.qcow2"]) == "disk.qcow2"
    assert nbd.served_file(["qemu-nbd", "--connect=/dev/nbd0", "--read-only", "--cache", "none", "/i/a.img"]) == \
        "/i/a.img"
    assert nbd.served_file(["qemu-nbd", "-d", "/dev/nbd0"]) is None


def test_snapshot_of_reads_the_flag_not_an_option_value():
    assert nbd.snapshot_of(["qemu-nbd", "-c", "/dev/nbd0", "--snapshot", "-f", "raw", "/i/a.img"])
    assert nbd.snapshot_of(["qemu-nbd", "-s", "/i/a.img"])
    assert not nbd.snapshot_of(["qemu-nbd", "-c", "/dev/nbd0", "--read-only", "/i/a.img"])
    assert not nbd.snapshot_of(["qemu-nbd", "-x", "-s", "/i/a.img"])  # "-s" is the export name here


def test_free_means_no_pid_no_size_no_holders(systree):
    systree.nbd("nbd0", 0, pid=100)
    systree.nbd("nbd1", 32)
    systree.nbd("nbd2", 64)
    systree.dm("nbd2", 0, "nbd2p1", "part1-x")
    sysfs = systree.sysfs
    assert [nbd_backend.is_free(sysfs, n) for n in ("nbd0", "nbd1", "nbd2")] == [False, True, False]


def _connect_in_sysfs(systree, name, pid):
    base = os.path.join(systree.sys, "block", name)
    with open(os.path.join(base, "size"), "w") as f:
        f.write("2048\n")
    with open(os.path.join(base, "pid"), "w") as f:
        f.write("%d\n" % pid)


def test_connect_takes_the_first_free_device_and_waits_for_it(systree, tmp_path):
    systree.nbd("nbd0", 0, pid=100)  # busy
    systree.nbd("nbd1", 32)
    systree.nbd("nbd2", 64)

    def on_run(args, rc):
        if args[:2] == ["qemu-nbd", "--connect"] and rc == 0:
            _connect_in_sysfs(systree, os.path.basename(args[2]), 4242)
    runner = FakeRunner(on_run=on_run)
    device, pid = nbd_backend.connect(
        host(systree, tmp_path, runner, FakeProcs({}, threads={4242: 4240}), timeout=2), "/img/a.qcow2", "qcow2", True)
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
    device, pid = nbd_backend.connect(
        host(systree, tmp_path, runner, FakeProcs({}), timeout=2), "/img/a.qcow2", "qcow2", False)
    assert (device, pid) == ("/dev/nbd1", 77)
    assert "--read-only" not in runner.calls[-1]


def test_connect_fails_clearly_when_nothing_is_free(systree, tmp_path):
    systree.nbd("nbd0", 0, pid=1)
    with pytest.raises(VirtDiskError, match="no free nbd device.*nbds_max"):
        nbd_backend.connect(
            host(systree, tmp_path, FakeRunner(), FakeProcs({}), timeout=1), "/img/a.qcow2", "qcow2", False)


def test_connect_times_out_and_disconnects_when_the_device_never_goes_live(systree, tmp_path):
    systree.nbd("nbd0", 0)
    runner = FakeRunner()
    with pytest.raises(VirtDiskError, match="timed out.*nbd0 to be connected"):
        nbd_backend.connect(
            host(systree, tmp_path, runner, FakeProcs({}), timeout=0.05), "/img/a.qcow2", "qcow2", False)
    assert ["qemu-nbd", "--disconnect", "/dev/nbd0"] in runner.calls


def test_discovers_a_hand_made_qemu_nbd_connection_by_served_file(systree, tmp_path, image_file):
    systree.nbd("nbd0", 0, pid=500)
    systree.nbd("nbd3", 96, pid=503)  # sysfs names the server's thread 503 of process 501
    procs = FakeProcs({500: ["qemu-nbd", "-c", "/dev/nbd0", "/other.qcow2"],
                       501: ["qemu-nbd", "-c", "/dev/nbd3", "-f", "qcow2", "disk.qcow2"]}, cwd=str(tmp_path),
                      threads={503: 501})
    obs = discovery.discover(host(systree, tmp_path, procs=procs), image_file)
    assert [(a.kind, a.device, a.pid) for a in obs.attachments] == [("nbd", "/dev/nbd3", 501)]
    assert obs.attachment.device == "/dev/nbd3"
