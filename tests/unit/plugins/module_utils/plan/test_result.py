# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""result.predict: the check-mode "after" from the planned steps."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment
from ansible_collections.virt.disk.plugins.module_utils.backends.registry import get as backend
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step
from ansible_collections.virt.disk.plugins.module_utils.plan.result import predict
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import want

NOTHING = {"state": "unmapped", "backend": None, "device": None, "partition_device": None, "read_only": False,
           "snapshot": False, "mounts": []}
MOUNTED = {"state": "mounted", "backend": "loop", "device": "/dev/loop0", "partition_device": "/dev/loop0p2",
           "read_only": False, "snapshot": False,
           "mounts": [{"path": "/mnt/x", "device": "/dev/loop0p2", "fstype": "ext4", "options": "rw,nosuid,nodev,relatime"}]}


def step(op, **args):
    return Step(op, op, **args)


def test_a_new_attachment_has_no_name_yet():
    steps = [step("attach", backend="loop", read_only=False), step("map", number=2, mapper="auto"),
             step("mkdir", path="/mnt/x"), step("mount", path="/mnt/x", number=2)]
    after = predict(NOTHING, steps, want("mounted", "/mnt/x", 2), None)
    assert after["state"] == "mounted" and after["backend"] == "loop"
    assert after["device"] == "(a new loop device)"
    assert after["partition_device"] == "(partition 2 of (a new loop device))"
    assert after["mounts"] == [{"path": "/mnt/x", "device": "(partition 2 of (a new loop device))", "fstype": None,
                                "options": "rw,nosuid,nodev,relatime"}]


def test_a_qemu_image_whose_partition_is_known_only_once_attached():
    steps = [step("attach", backend="fuse", read_only=True), step("resolve")]
    wanted = want("mounted", "/mnt/x", None, backend="fuse", read_only=True, selector_text="LABEL=root")
    after = predict(NOTHING, steps, wanted, None)
    assert after["partition_device"] == "(partition LABEL=root of (a new fuse device))"
    assert after["read_only"] is True


def test_a_remount_keeps_the_device_and_changes_the_options():
    att = Attachment(backend("loop"), "/dev/loop0", False)
    after = predict(MOUNTED, [step("remount", path="/mnt/x")], want("mounted", "/mnt/x", 2, opts="ro,noexec"), att)
    assert after["device"] == "/dev/loop0"
    assert after["mounts"] == [{"path": "/mnt/x", "device": "/dev/loop0p2", "fstype": "ext4",
                                "options": "ro,noexec,relatime"}]
    assert after["read_only"] is True


def test_mapped_unmounts():
    att = Attachment(backend("loop"), "/dev/loop0", False)
    after = predict(MOUNTED, [step("umount", path="/mnt/x", source="/dev/loop0p2")], want("mapped", None, 2), att)
    assert after["state"] == "mapped" and after["mounts"] == [] and after["device"] == "/dev/loop0"


def test_teardown_leads_to_nothing():
    att = Attachment(backend("loop"), "/dev/loop0", False)
    steps = [step("umount", path="/mnt/x", source="/dev/loop0p2"), step("unmap"),
             step("detach")]
    assert predict(MOUNTED, steps, want("absent", "/mnt/x", None), att) == NOTHING
