# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's benchmark table: each goal of bench.py with the range of its
measurement over several runs of `make bench` (build/bench/runs/*.json, the
last N; or the files given), and the floor measured in the same runs where
there is one.

    .venv/bin/python bench/ranges.py [--last 3] [RUN.json ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

from bench import GOALS, REPO


def get(result, *path):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def rows():
    """(label, goal text, kind, extractor, floor extractor or None, unit); kind "max" (a value at most
    the goal) or "min" (at least the goal)."""
    out = [
        ("a. mount + unmap cycle: 2 image_mount tasks / the same commands in 2 shell tasks",
         GOALS["a"], "max", lambda r: get(r, "a", "ratio_vs_2_shell_tasks"),
         lambda r: get(r, "a", "floor_ratio_vs_2_shell_tasks"), "x"),
        ("a2. a no-op task above an empty AnsibleModule task", GOALS["a2_noop"], "max",
         lambda r: get(r, "b", "module_own_noop_s"), None, "ms"),
        ("a2. a mount task above a shell task running the same tools", GOALS["a2_mount"], "max",
         lambda r: get(r, "a", "module_own_mount_s"), None, "ms"),
        ("b. no-op re-run / `ansible.builtin.stat`", GOALS["b"], "max", lambda r: get(r, "b", "ratio"),
         lambda r: get(r, "b", "floor_ratio"), "x"),
        ("c. qcow2 to a usable device, an image seen before: task / the bare commands in a shell task",
         GOALS["c"], "max", lambda r: get(r, "c_ansible", "delta_s"),
         lambda r: get(r, "c_ansible", "floor_delta_s"), "+ms"),
        ("c. the same, an image not seen before", GOALS["c_cold"], "max",
         lambda r: get(r, "c_ansible", "cold_delta_s"), lambda r: get(r, "c_ansible", "floor_delta_s"), "+ms"),
        ("d. 32 images, forks 32 / forks 1: mount", GOALS["d"], "min", lambda r: get(r, "d", "speedup_mount"),
         lambda r: get(r, "d", "floor_mount"), "x"),
        ("d. the same: teardown", GOALS["d"], "min", lambda r: get(r, "d", "speedup_unmap"),
         lambda r: get(r, "d", "floor_unmap"), "x"),
    ]
    for name in ("loop", "nbd", "fuse"):
        for kind in ("first", "steady", "read"):
            out.append(("e. data path, %s, %s / the host filesystem" % (name, {"first": "first write", "steady":
                                                                               "steady write", "read": "read"}[kind]),
                        GOALS["e"][name], "min", lambda r, n=name, k=kind: get(r, "e", "ratio", n, k),
                        lambda r, n=name, k=kind: get(r, "e", "floor", n, k), "%"))
    out += [
        ("f. busy host / quiet host: a no-op run", GOALS["f"], "max", lambda r: get(r, "f", "ratio", "noop"), None,
         "x"),
        ("f. busy host / quiet host: a mount + unmap cycle", GOALS["f"], "max", lambda r: get(r, "f", "ratio", "cycle"),
         None, "x"),
    ]
    return out


def fmt(value, unit):
    if value is None:
        return "—"
    if unit == "ms":
        return "%.0f ms" % (1000 * value)
    if unit == "+ms":
        return "%+.0f ms" % (1000 * value)
    if unit == "%":
        return "%.0f%%" % (100 * value)
    return "%.2f×" % value


def table(results):
    lines = ["| goal | target | measured, %d runs (range) | met in | floor, same runs |" % len(results),
             "|---|---|---|---|---|"]
    for label, goal, kind, value_of, floor_of, unit in rows():
        values = [v for v in (value_of(r) for r in results) if v is not None]
        target = ("≤ " if kind == "max" else "≥ ") + fmt(goal, unit)
        if not values:
            lines.append("| %s | %s | not measured | — | — |" % (label, target))
            continue
        met = sum(1 for v in values if (v <= goal if kind == "max" else v >= goal))
        span = fmt(min(values), unit) if min(values) == max(values) else \
            "%s – %s" % (fmt(min(values), unit), fmt(max(values), unit))
        floors = [v for v in (floor_of(r) for r in results) if v is not None] if floor_of else []
        floor = "—" if not floors else fmt(min(floors), unit) if min(floors) == max(floors) else \
            "%s – %s" % (fmt(min(floors), unit), fmt(max(floors), unit))
        lines.append("| %s | %s | %s | %d of %d | %s |" % (label, target, span, met, len(values), floor))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--last", type=int, default=3)
    parser.add_argument("runs", nargs="*")
    opts = parser.parse_args()
    files = opts.runs or sorted(glob.glob(os.path.join(REPO, "build", "bench", "runs", "*.json")))[-opts.last:]
    if not files:
        print("no runs: make bench first", file=sys.stderr)
        return 1
    results = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            results.append(json.load(f))
    sys.stdout.write(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
