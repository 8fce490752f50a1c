# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small record per image under /run/virt-disk/state/ of what the
collection made that the kernel cannot tell afterwards (which mapper made a
partition node). Only a hint: losing it never breaks discovery.

The same JSON store, with kind "cache", keeps the image cache
(imagecache.py) under /run/virt-disk/cache/."""

from __future__ import annotations

import json
import os

from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR


def path(key, run_dir=RUN_DIR, kind="state"):
    return os.path.join(run_dir, kind, key + ".json")


def load(key, run_dir=RUN_DIR, kind="state"):
    """The dict stored for key, or {} when there is none or it cannot be read."""
    try:
        with open(path(key, run_dir, kind)) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (IOError, OSError, ValueError):
        return {}


def load_all(run_dir=RUN_DIR, kind="state"):
    """{key: dict} of every record stored (unreadable ones left out)."""
    try:
        names = os.listdir(os.path.join(run_dir, kind))
    except OSError:
        return {}
    found = {}
    for name in names:
        if name.endswith(".json"):
            data = load(name[:-len(".json")], run_dir, kind)
            if data:
                found[name[:-len(".json")]] = data
    return found


def save(key, data, run_dir=RUN_DIR, kind="state"):
    """Replace what is stored for key (atomically: a reader sees the old or the new)."""
    target = path(key, run_dir, kind)
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        tmp = target + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.rename(tmp, target)
    except (IOError, OSError):
        pass


def drop(key, run_dir=RUN_DIR):
    try:
        os.unlink(path(key, run_dir))
    except OSError:
        pass
