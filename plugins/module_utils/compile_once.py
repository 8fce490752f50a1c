# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Compile each file imported from Ansible's module zip once, not twice.

Ansible runs a module from a zip of its module_utils, imported through
zipimport. Up to at least Python 3.13, zipimport compiles every source file
twice: ``get_filename`` (asked while the import machinery builds the module's
spec) compiles it only to learn the path, then ``get_code`` compiles it again
to run it (python/cpython#141276). For this collection's module_utils that was
about 10 ms of a no-op run's time (27 ms above an empty module, 16.5 after).

``install()`` wraps zipimport's ``_get_module_code`` so that the result made
for ``get_filename`` is handed to the ``get_code`` that follows, once. It is
the same code object from the same archive a few microseconds later, so
imports behave exactly as before. Where that private function is missing (a
Python that changed zipimport), nothing is installed. Importing this module
installs it; modules import it before their other module_utils.

Each of this collection's files is also compiled only once per host, not once
per task: the code object is kept in ``CACHE_DIR`` (marshal, as Python's own
``__pycache__`` keeps it), named by a hash of the Python version, its
bytecode magic number, the optimization level, the file's path inside the
collection and its source, and given the file name of the zip it is
imported from this time. Only a directory owned by this user and writable by
no one else is used (``/run`` is root's; it goes at reboot), and only files
owned by this user are read from it; anything unexpected compiles as before.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import sys
import types
import zipimport
from importlib.util import MAGIC_NUMBER

_MARK = "_virt_disk_compile_once"
# beside the collection's other run-time state (state/locking.RUN_DIR), which this module must not import:
# it is imported before the others
CACHE_DIR = "/run/virt-disk/code"
# the files kept: this collection's (AnsiballZ's zip holds ansible's module_utils too)
SCOPE = "/ansible_collections/virt/disk/"
_TAG = b"%s\0%s\0%d\0" % (MAGIC_NUMBER, sys.version.encode("utf-8", "replace"), sys.flags.optimize)


_DIRS = {}


def _usable_dir(path):
    """path, made if need be, if it is a directory of this user that no one else can write; else None.
    Looked at once a process."""
    if path not in _DIRS:
        _DIRS[path] = _check_dir(path)
    return _DIRS[path]


def _ours(st, is_kind):
    """Whether st is of that kind, this user's, and writable by no one else."""
    return is_kind(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _check_dir(path):
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    return path if _ours(st, stat.S_ISDIR) else None


def _renamed(code, filename):
    """code and the code objects in it, with filename as theirs."""
    consts = tuple(_renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def _load(path, filename):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not _ours(os.fstat(fd), stat.S_ISREG):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            code = marshal.loads(f.read())
        return _renamed(code, filename) if isinstance(code, types.CodeType) else None
    except (OSError, ValueError, EOFError, TypeError):
        return None
    finally:
        os.close(fd)


def _store(path, code):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(marshal.dumps(code))
        os.replace(tmp, path)
    except (OSError, ValueError):
        try:
            os.unlink(tmp)
        except OSError:
            pass


def cached(compile_source, scope=None, cache_dir=None):
    """zipimport._compile_source(pathname, source), with the code objects of the files whose path holds scope
    (default SCOPE, this collection's) kept in cache_dir (default CACHE_DIR; both read when the function is
    called, so tests can point them elsewhere) and named by the path from scope on."""

    def compile_kept(pathname, source):
        where = pathname.replace(os.sep, "/")
        cut = where.find(scope or SCOPE)
        kept_in = _usable_dir(cache_dir or CACHE_DIR) if cut >= 0 and isinstance(source, bytes) else None
        if kept_in is None:
            return compile_source(pathname, source)
        name = hashlib.sha256(_TAG + where[cut:].encode("utf-8", "surrogateescape") + b"\0" + source).hexdigest()
        path = os.path.join(kept_in, name)
        code = _load(path, pathname)
        if code is None:
            code = compile_source(pathname, source)
            _store(path, code)
        return code

    setattr(compile_kept, _MARK, True)
    compile_kept.original = compile_source
    return compile_kept


def install():
    """Wrap zipimport._get_module_code once; return whether it is (now) wrapped."""
    original = getattr(zipimport, "_get_module_code", None)
    if not callable(original):
        return False
    if getattr(original, _MARK, False):
        return True
    made = {}

    def get_module_code(importer, fullname):
        key = (getattr(importer, "archive", None), getattr(importer, "prefix", None), fullname)
        if key in made:
            return made.pop(key)
        result = original(importer, fullname)
        made[key] = result
        return result

    setattr(get_module_code, _MARK, True)
    get_module_code.original = original
    zipimport._get_module_code = get_module_code  # pylint: disable=protected-access
    compile_source = getattr(zipimport, "_compile_source", None)
    if callable(compile_source) and not getattr(compile_source, _MARK, False):
        zipimport._compile_source = cached(compile_source)  # pylint: disable=protected-access
    return True


install()
