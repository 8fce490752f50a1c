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
"""

from __future__ import annotations

import zipimport

_MARK = "_virt_disk_compile_once"


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
    return True


install()
