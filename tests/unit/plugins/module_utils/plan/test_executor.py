# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The executor and converge's execution: undo order, rollback on any
exception, and the disk lock let go before a device is detached."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment, Backend
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.image import inspect
from ansible_collections.virt.disk.plugins.module_utils.plan import converge
from ansible_collections.virt.disk.plugins.module_utils.plan.executor import Executor
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step, Want
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import host as fake_host


class Recording(Backend):
    """A backend whose device is a plain file; it records what it is asked
    and whether the disk lock was held at the time."""

    name = "recording"

    def __init__(self, device, executor_of):
        self.device = device
        self.executor_of = executor_of
        self.events = []

    def _locked(self):
        return self.executor_of()._disk.device is not None

    def attach(self, host, image, fmt, read_only, allow_backing_file, did, snapshot=False):
        did("started a helper", lambda: self.events.append(("stop helper", self._locked())))
        did("attached %s" % self.device, lambda: self.events.append(("detach", self._locked())))
        return self.device, 4242

    def detach(self, host, att, did):
        self.events.append(("detach", self._locked()))
        did("detached %s" % att.device)
        return None


@pytest.fixture
def lab(systree, tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * 4096)
    device = tmp_path / "fake-device"
    device.write_bytes(b"")
    found = {}
    backend = Recording(str(device), lambda: found["ex"])
    host = fake_host(systree, tmp_path)
    want = Want("mounted", str(tmp_path / "mnt" / "a"), 0, backend)

    def executor():
        found["ex"] = Executor(host, inspect(str(image)), want, None)
        return found["ex"]
    return backend, executor, want


def test_rollback_undoes_newest_first_with_the_disk_lock_let_go(lab):
    backend, executor, want = lab
    ex = executor()
    ex.run([Step("attach", "attach", backend=backend, read_only=False), Step("mkdir", "mkdir", path=want.path)])
    assert os.path.isdir(want.path)
    assert ex.rollback() == []
    assert not os.path.exists(os.path.dirname(want.path))  # every directory it made is gone
    assert ex.actions[-3:] == ["rolled back: created the mount point %s" % want.path,
                               "rolled back: attached %s" % backend.device, "rolled back: started a helper"]
    assert backend.events == [("detach", False), ("stop helper", False)]


def test_detach_lets_go_of_the_disk_lock_first(lab):
    backend, executor, _want = lab
    ex = executor()
    ex.run([Step("attach", "attach", backend=backend, read_only=False)])
    ex._disk.hold(backend.device, 1)  # as a map or mount step holds it
    ex.run([Step("detach", "detach", att=Attachment(backend, backend.device, False, pid=4242))])
    assert backend.events == [("detach", False)]


def test_any_exception_rolls_back_and_reports_without_a_traceback_in_the_message(lab, monkeypatch):
    backend, executor, want = lab
    ex = executor()

    def boom(self, path):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Executor, "_do_mkdir", boom)
    work = type("Work", (), {"Executor": staticmethod(lambda *args, **kwargs: ex)})
    monkeypatch.setattr(converge, "load_work", lambda: work)
    run = converge.Run(ex.host, ex.image, "raw", None, want, False, {"actions": []})
    obs = converge.discovery.discover(ex.host, ex.image)
    with pytest.raises(converge.ConvergeError) as failed:
        run.execute(obs, [Step("attach", "attach", backend=backend, read_only=False),
                          Step("mkdir", "mkdir", path=want.path)])
    message = str(failed.value)
    assert message.startswith(ex.image.path + ": OSError: ") and "No space left on device" in message
    assert "Traceback" not in message
    assert "Traceback" in failed.value.result["exception"]
    assert failed.value.result["actions"][-2:] == ["rolled back: attached %s" % backend.device,
                                                   "rolled back: started a helper"]
    assert failed.value.result["changed"] is False  # everything it made was taken back


def test_a_failed_undo_is_reported_and_the_rest_still_runs(lab):
    backend, executor, _want = lab
    ex = executor()
    ex.run([Step("attach", "attach", backend=backend, read_only=False)])

    def broken():
        raise VirtDiskError("helper would not stop")
    ex._undo[0] = ("started a helper", broken)
    assert ex.rollback() == ["started a helper: helper would not stop"]
    assert backend.events == [("detach", False)]
