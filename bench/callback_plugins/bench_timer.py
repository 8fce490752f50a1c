# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record when each task starts and when each host's result arrives, as JSON.

Used by bench/bench.py only (not shipped with the collection). Enable with
ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=bench_timer;
the JSON goes to $BENCH_TIMER_OUT when the playbook ends.

Timing is the profile_tasks approach: a task's time on a host runs from the
task-start event in the controller to that host's result event, so it holds
everything Ansible does per task (worker fork, templating, module transfer,
the module's own run, result processing), the same for every module compared.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: task start/end times to JSON, for the virt.disk benchmark
description: Writes the start time of every task and the arrival time of every host's result to $BENCH_TIMER_OUT.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""

# result keys worth keeping for the benchmark's own checks
KEEP = ("changed", "device", "partition_device", "backend", "mapper", "pid", "stdout", "stdout_lines", "rc", "msg", "actions",
        "tree")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.tasks = []
        self.current = None
        self.t0 = time.time()
        self.m0 = time.monotonic()

    def _now(self):
        return time.monotonic() - self.m0

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.current = {"name": task.get_name(), "start": self._now(), "hosts": {}}
        self.tasks.append(self.current)

    def v2_runner_on_start(self, host, task):
        if self.current is not None:
            self.current["hosts"].setdefault(host.get_name(), {})["worker_start"] = self._now()

    def _record(self, result, status):
        if self.current is None:
            return
        host = getattr(result, "host", None) or result._host
        data = getattr(result, "result", None)
        if data is None:
            data = result._result
        entry = self.current["hosts"].setdefault(host.get_name(), {})
        entry["end"] = self._now()
        entry["status"] = status
        entry["result"] = dict((k, data[k]) for k in KEEP if k in data)
        if status != "ok" and "stderr" in data:
            entry["result"]["stderr"] = data["stderr"]

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        out = os.environ.get("BENCH_TIMER_OUT")
        if not out:
            return
        with open(out, "w") as f:
            json.dump({"epoch": self.t0, "end": self._now(), "tasks": self.tasks}, f, indent=1)
