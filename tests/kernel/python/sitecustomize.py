# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kernel tier's Python start-up in the guest (guest.sh puts this
directory on PYTHONPATH): the files of Ansible's module zips compiled once per
guest, not once per task.

Ansible ships a module's module_utils in a zip without bytecode, so each module
run compiles ansible.module_utils.basic and what it imports from source; under
TCG that is seconds of every task of the playbook runs (bin/krole.py, the
teardown_all.yml run). The code objects are kept in $KT_CODE_CACHE (tmpfs),
named by the Python version, the file's path inside the zip and its source.
Only the compiling is skipped: the same source gives the same code object, and
the collection's own compile_once still wraps this for its files.
"""

import hashlib
import marshal
import os
import sys
import zipimport

_CACHE = os.environ.get("KT_CODE_CACHE")
_COMPILE = getattr(zipimport, "_compile_source", None)


def _compile_kept(pathname, source):
    where = pathname.replace(os.sep, "/")
    cut = where.find(".zip/")
    if cut < 0 or not isinstance(source, bytes):
        return _COMPILE(pathname, source)
    key = hashlib.sha256(b"%s\0%s\0" % (sys.version.encode(), where[cut:].encode("utf-8", "surrogateescape")) + source)
    path = os.path.join(_CACHE, key.hexdigest())
    try:
        with open(path, "rb") as f:
            code = marshal.loads(f.read())
        return _rename(code, pathname)
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = _COMPILE(pathname, source)
    tmp = "%s.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(marshal.dumps(code))
        os.replace(tmp, path)
    except OSError:
        pass
    return code


def _rename(code, filename):
    consts = tuple(_rename(c, filename) if isinstance(c, type(code)) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


if _CACHE and callable(_COMPILE) and os.path.isdir(_CACHE):
    zipimport._compile_source = _compile_kept  # pylint: disable=protected-access
