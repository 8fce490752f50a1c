# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small record per image under /run/virt-disk/state/ of what the
collection made that the kernel cannot tell afterwards (which mapper made a
partition node). Only a hint: losing it never breaks discovery."""

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils.locking import RUN_DIR


def _path(key, run_dir):
    return os.path.join(run_dir, "state", key + ".json")


def load(key, run_dir=RUN_DIR):
    try:
        with open(_path(key, run_dir)) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (IOError, OSError, ValueError):
        return {}


def save(key, data, run_dir=RUN_DIR):
    path = _path(key, run_dir)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.rename(tmp, path)
    except (IOError, OSError):
        pass


def drop(key, run_dir=RUN_DIR):
    try:
        os.unlink(_path(key, run_dir))
    except OSError:
        pass
