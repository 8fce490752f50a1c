# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a collection module directly, as `python -m MODULE ARGS.json` would, and
time its phases.

    python bench/run_module.py ansible_collections.virt.disk.plugins.modules.image_mount ARGS.json

stdout is the module's JSON. When BENCH_MODULE_TIMES names a file, the phases
are written there in seconds: `imports` (importing the module and everything it
imports: ansible.module_utils.basic, module_utils/*) and `main` (main(): argument
parsing, the converge, exit_json). Interpreter start-up is what the caller's wall
time holds beyond these two.
"""

import time

T0 = time.perf_counter()

import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def run():
    name, args = sys.argv[1], sys.argv[2]
    sys.argv = [name, args]  # AnsibleModule reads its arguments from argv[1]
    module = importlib.import_module(name)
    t1 = time.perf_counter()
    code = 0
    try:
        module.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    t2 = time.perf_counter()
    out = os.environ.get("BENCH_MODULE_TIMES")
    if out:
        with open(out, "w") as f:
            json.dump({"imports": t1 - T0, "main": t2 - t1}, f)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(run())
