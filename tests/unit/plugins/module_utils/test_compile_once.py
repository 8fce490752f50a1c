# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""compile_once against real zip archives imported through zipimport, as
Ansible imports a module's module_utils."""

from __future__ import annotations

import collections
import importlib
import os
import sys
import uuid
import zipfile
import zipimport

import pytest

from ansible_collections.virt.disk.plugins.module_utils import compile_once


@pytest.fixture
def compiles(monkeypatch):
    """zipimport's compiles per file name, starting from zipimport as Python
    ships it (importing compile_once wrapped it); restored afterwards."""
    seen = collections.Counter()
    original = zipimport._compile_source

    def counting(pathname, source):
        seen[os.path.basename(pathname)] += 1
        return original(pathname, source)

    monkeypatch.setattr(zipimport, "_compile_source", counting)
    current = zipimport._get_module_code
    monkeypatch.setattr(zipimport, "_get_module_code", getattr(current, "original", current))
    # no cache unless a test asks for one
    monkeypatch.setattr(compile_once, "CACHE_DIR", "/nonexistent/virt-disk-code")
    monkeypatch.setattr(compile_once, "_DIRS", {})
    return seen


@pytest.fixture
def archive(tmp_path, monkeypatch):
    """A zip on sys.path holding a fresh package; returns (package name, zip path, add(name, source))."""
    package = "zpkg_%s" % uuid.uuid4().hex
    path = str(tmp_path / "payload.zip")
    files = {"%s/__init__.py" % package: ""}

    def add(name, source):
        files["%s/%s.py" % (package, name)] = source
        with zipfile.ZipFile(path, "w") as z:
            for member, text in files.items():
                z.writestr(member, text)

    add("base", "VALUE = 1\n")
    monkeypatch.syspath_prepend(path)
    yield package, path, add
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def test_a_module_from_a_zip_is_compiled_once_and_runs(compiles, archive):
    package, path, add = archive
    add("mod", "from . import base\nVALUE = base.VALUE + 41\n")
    assert compile_once.install() is True
    mod = importlib.import_module(package + ".mod")
    assert mod.VALUE == 42
    assert mod.__file__ == os.path.join(path, package, "mod.py")
    assert mod.__spec__.origin == mod.__file__
    assert compiles == {"__init__.py": 1, "mod.py": 1, "base.py": 1}


def test_without_it_zipimport_compiles_each_file_twice(compiles, archive):
    """The cost compile_once removes; should this fail, Python fixed
    python/cpython#141276 and compile_once can go."""
    package, _path, add = archive
    add("mod", "VALUE = 42\n")
    assert importlib.import_module(package + ".mod").VALUE == 42
    assert compiles == {"__init__.py": 2, "mod.py": 2}


def test_a_syntax_error_in_the_zip_is_still_raised_each_time(compiles, archive):
    package, _path, add = archive
    add("broken", "def f(:\n")
    compile_once.install()
    for _attempt in range(2):
        with pytest.raises(SyntaxError) as err:
            importlib.import_module(package + ".broken")
        assert err.value.filename.endswith(os.path.join(package, "broken.py"))
    assert package + ".broken" not in sys.modules


def test_a_module_missing_from_the_zip_is_still_not_found(compiles, archive):
    package, _path, _add = archive
    compile_once.install()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(package + ".absent")


def test_install_wraps_once(compiles):
    original = zipimport._get_module_code
    assert compile_once.install() is True
    wrapped = zipimport._get_module_code
    assert wrapped is not original and wrapped.original is original
    assert compile_once.install() is True
    assert zipimport._get_module_code is wrapped


def test_nothing_is_installed_where_zipimport_has_no_get_module_code(compiles, monkeypatch):
    monkeypatch.delattr(zipimport, "_get_module_code")
    assert compile_once.install() is False
    assert not hasattr(zipimport, "_get_module_code")


@pytest.fixture
def kept(tmp_path, monkeypatch, archive):
    """A cache directory for the archive's package, which counts as this collection's."""
    package, _path, _add = archive
    cache = tmp_path / "code"
    monkeypatch.setattr(compile_once, "CACHE_DIR", str(cache))
    monkeypatch.setattr(compile_once, "SCOPE", "/%s/" % package)
    return cache


def _forget(package):
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def _second_zip(tmp_path, path, monkeypatch):
    """The same files in another zip, as the next task's AnsiballZ payload is."""
    other = str(tmp_path / "next" / "payload.zip")
    os.makedirs(os.path.dirname(other))
    with open(path, "rb") as src, open(other, "wb") as dst:
        dst.write(src.read())
    monkeypatch.syspath_prepend(other)
    return other


def test_the_next_import_from_another_zip_loads_the_kept_code(compiles, archive, kept, tmp_path, monkeypatch):
    package, path, add = archive
    add("mod", "from . import base\n\ndef where():\n    return __file__\n\nVALUE = base.VALUE + 41\n")
    compile_once.install()
    assert importlib.import_module(package + ".mod").VALUE == 42
    assert compiles == {"__init__.py": 1, "mod.py": 1, "base.py": 1}
    assert len(os.listdir(kept)) == 3
    _forget(package)
    importlib.invalidate_caches()
    other = _second_zip(tmp_path, path, monkeypatch)
    mod = importlib.import_module(package + ".mod")
    assert mod.VALUE == 42
    assert compiles == {"__init__.py": 1, "mod.py": 1, "base.py": 1}  # nothing compiled again
    # the kept code carries the file name of the zip it came from this time, in nested code too
    assert mod.__file__ == os.path.join(other, package, "mod.py") == mod.where()
    assert mod.where.__code__.co_filename == mod.__file__


def test_changed_source_is_compiled_again(compiles, archive, kept):
    package, _path, add = archive
    add("mod", "VALUE = 1\n")
    compile_once.install()
    assert importlib.import_module(package + ".mod").VALUE == 1
    _forget(package)
    add("mod", "VALUE = 2\n")
    importlib.invalidate_caches()
    zipimport._zip_directory_cache.clear()
    assert importlib.import_module(package + ".mod").VALUE == 2
    assert compiles["mod.py"] == 2


def test_files_of_others_are_not_kept(compiles, archive, kept, monkeypatch):
    package, _path, add = archive
    monkeypatch.setattr(compile_once, "SCOPE", "/ansible_collections/someone/else/")
    add("mod", "VALUE = 1\n")
    compile_once.install()
    importlib.import_module(package + ".mod")
    assert not kept.exists() or os.listdir(kept) == []


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_a_directory_others_can_write_is_not_used(compiles, archive, kept, mode):
    package, _path, add = archive
    kept.mkdir()
    kept.chmod(mode)
    add("mod", "VALUE = 1\n")
    compile_once.install()
    assert importlib.import_module(package + ".mod").VALUE == 1
    assert os.listdir(kept) == []


def test_a_damaged_or_foreign_entry_is_compiled_again(compiles, archive, kept, tmp_path, monkeypatch):
    package, path, add = archive
    add("mod", "VALUE = 7\n")
    compile_once.install()
    importlib.import_module(package + ".mod")
    for name in os.listdir(kept):
        with open(os.path.join(kept, name), "wb") as f:
            f.write(b"not marshal")
    _forget(package)
    importlib.invalidate_caches()
    _second_zip(tmp_path, path, monkeypatch)
    assert importlib.import_module(package + ".mod").VALUE == 7
    assert compiles["mod.py"] == 2


def test_a_cache_given_another_scope_and_directory_keeps_those_files(tmp_path):
    seen = []

    def compile_source(pathname, source):
        seen.append(pathname)
        return compile(source, pathname, "exec", dont_inherit=True)

    cache = tmp_path / "elsewhere"
    kept = compile_once.cached(compile_source, scope=".zip/", cache_dir=str(cache))
    first = kept("/tmp/a/payload_one.zip/ansible/module_utils/x.py", b"VALUE = 1\n")
    second = kept("/tmp/b/payload_two.zip/ansible/module_utils/x.py", b"VALUE = 1\n")
    assert seen == ["/tmp/a/payload_one.zip/ansible/module_utils/x.py"]  # the second one loaded, not compiled
    assert second.co_filename == "/tmp/b/payload_two.zip/ansible/module_utils/x.py" != first.co_filename
    assert len(os.listdir(cache)) == 1
    kept("/tmp/c/no-zip/x.py", b"VALUE = 1\n")  # outside the scope: compiled, not kept
    assert len(seen) == 2 and len(os.listdir(cache)) == 1
