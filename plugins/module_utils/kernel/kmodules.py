# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel modules: loaded, built in, loadable or missing, their parameters and their users.

Read from /proc/modules, /sys/module/NAME, /lib/modules/RELEASE/modules.dep and
modules.builtin, and the kernel config, all below an injectable root. This is
what the role virt.disk.image_host needs to decide whether to load, reload or
report a module, in one read instead of a task per file.
"""

from __future__ import annotations

import os
import platform

# The kernel config symbol that builds each module this collection cares about.
CONFIG_SYMBOLS = {"loop": "CONFIG_BLK_DEV_LOOP", "nbd": "CONFIG_BLK_DEV_NBD", "dm_mod": "CONFIG_BLK_DEV_DM"}
_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")


def canonical(name):
    """Module names treat '-' and '_' alike (dm-mod is dm_mod)."""
    return name.replace("-", "_")


def _read_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape").splitlines()
    except (IOError, OSError):
        return None


def _module_of(path):
    """The module name of a .ko path (kernel/drivers/block/nbd.ko.xz -> nbd), or None."""
    base = os.path.basename(path)
    for suffix in _SUFFIXES:
        if base.endswith(suffix):
            return canonical(base[:-len(suffix)])
    return None


def loaded_modules(root="/"):
    """Names of the loaded modules (/proc/modules); None when it cannot be read (no module support)."""
    lines = _read_lines(os.path.join(root, "proc", "modules"))
    if lines is None:
        return None
    return set(canonical(line.split(" ", 1)[0]) for line in lines if line.strip())


def module_files(root="/", release=None):
    """{name: path} of the loadable modules (modules.dep) and the set of built-in ones (modules.builtin)."""
    release = release or platform.release()
    base = os.path.join(root, "lib", "modules", release)
    files = {}
    for line in _read_lines(os.path.join(base, "modules.dep")) or []:
        path = line.split(":", 1)[0].strip()
        name = _module_of(path)
        if name:
            files[name] = path if os.path.isabs(path) else os.path.join("/lib/modules", release, path)
    builtin = set()
    for line in _read_lines(os.path.join(base, "modules.builtin")) or []:
        name = _module_of(line.strip())
        if name:
            builtin.add(name)
    return files, builtin


def parameters(sysfs, name):
    """The running parameters of a module or built-in driver (/sys/module/NAME/parameters/*)."""
    try:
        keys = sorted(os.listdir(sysfs.path("module", name, "parameters")))
    except OSError:
        return {}
    result = {}
    for key in keys:
        value = sysfs.read("module", name, "parameters", key)
        if value is not None:
            result[key] = value
    return result


def devices_in_use(sysfs, name):
    """Devices of the module that something uses: attached loop devices, connected nbd devices."""
    if name == "loop":
        return ["/dev/" + dev for dev in sysfs.block_devices("loop") if sysfs.exists("block", dev, "loop", "backing_file")]
    if name == "nbd":
        return ["/dev/" + dev for dev in sysfs.block_devices("nbd") if sysfs.exists("block", dev, "pid")]
    return []


def as_running(key, value):
    """The value a module parameter shows in sysfs once set to value: max_part
    (loop, nbd) is rounded up by the kernel to a power of two minus one
    (1 << fls(max_part)) - 1; every other value shows as it is."""
    text = str(value)
    if key != "max_part":
        return text
    try:
        number = int(text)
    except ValueError:
        return text
    return str((1 << number.bit_length()) - 1) if number > 0 else text


def differences(running, wanted):
    """{key: {running, wanted}} for each wanted parameter the module runs with another value."""
    found = {}
    for key, value in sorted(wanted.items()):
        if key in running and running[key] != as_running(key, value):
            found[key] = {"running": running[key], "wanted": str(value)}
    return found


def describe(sysfs, names, root="/", release=None, config=None, wanted=None):
    """{name: {state, config, filename, parameters, refcnt, devices_in_use, wanted, differs}} for each
    module name; wanted: {name: {parameter: value}}, the parameters it should run with.

    state is 'loaded' (in /proc/modules), 'builtin' (built into the kernel),
    'loadable' (a .ko in modules.dep) or 'missing'. config is the kernel
    config value of its symbol (y, m, n) or null when unknown.
    """
    loaded = loaded_modules(root)
    files, builtin = module_files(root, release)
    result = {}
    for raw_name in names:
        name = canonical(raw_name)
        symbol = CONFIG_SYMBOLS.get(name)
        config_value = config.get(symbol) if config is not None and symbol else None
        sys_dir = sysfs.exists("module", name)
        if loaded is not None and name in loaded:
            state = "loaded"
        elif name in builtin or config_value == "y" or (sys_dir and not sysfs.exists("module", name, "initstate")):
            state = "builtin"
        elif name in files:
            state = "loadable"
        else:
            state = "missing"
        running = parameters(sysfs, name) if state in ("loaded", "builtin") else {}
        want = dict((key, str(value)) for key, value in ((wanted or {}).get(raw_name) or {}).items())
        result[raw_name] = {
            "state": state,
            "config": config_value,
            "filename": "(builtin)" if state == "builtin" else files.get(name),
            "parameters": running,
            "refcnt": sysfs.read_int("module", name, "refcnt") if state == "loaded" else None,
            "devices_in_use": devices_in_use(sysfs, name) if state in ("loaded", "builtin") else [],
            "wanted": want,
            "differs": differences(running, want),
        }
    return result
