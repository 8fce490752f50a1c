# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel tier's Python start-up in the guest (guest.sh puts this
directory on PYTHONPATH): the files of Ansible's module zips compiled once per
guest, not once per task.

Ansible ships a module's module_utils in a zip without bytecode, so each module
run compiles ansible.module_utils.basic and what it imports from source; under
TCG that is seconds of every task of the playbook runs (bin/krole.py, the
teardown_all.yml run). The collection's own compile_once (from the guest's
copy, $KT_COMPILE_ONCE) keeps only the collection's files; loading it installs
it as a module's import would, and its cache is then given every file of a
module zip, kept in $KT_CODE_CACHE (tmpfs). Only the compiling is skipped: the
same source gives the same code object.
"""

import importlib.util
import os
import zipimport


def _keep_module_zips(cache, compile_once_path):
    spec = importlib.util.spec_from_file_location("_kt_compile_once", compile_once_path)
    compile_once = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compile_once)
    compile_source = getattr(zipimport, "_compile_source", None)
    if callable(compile_source):
        zipimport._compile_source = compile_once.cached(  # pylint: disable=protected-access
            compile_source, scope=".zip/", cache_dir=cache)


if os.environ.get("KT_CODE_CACHE") and os.path.isfile(os.environ.get("KT_COMPILE_ONCE", "")):
    _keep_module_zips(os.environ["KT_CODE_CACHE"], os.environ["KT_COMPILE_ONCE"])
