# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kmodules: module states from /proc/modules, /sys/module, modules.dep and modules.builtin."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.kernel import kmodules

RELEASE = "6.1.0-56-amd64"
# Real lines (shortened) from Debian's 6.1 kernel.
MODULES_DEP = """kernel/drivers/block/nbd.ko:
kernel/drivers/md/dm-mod.ko: kernel/drivers/dax/dax.ko
kernel/drivers/block/loop.ko:
kernel/fs/fuse/fuse.ko:
"""
PROC_MODULES = """nbd 57344 0 - Live 0x0000000000000000
dm_mod 184320 0 - Live 0x0000000000000000
"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _root(systree, proc_modules=PROC_MODULES, dep=MODULES_DEP, builtin=""):
    root = systree.root
    if proc_modules is not None:
        _write(os.path.join(root, "proc", "modules"), proc_modules)
    base = os.path.join(root, "lib", "modules", RELEASE)
    if dep is not None:
        _write(os.path.join(base, "modules.dep"), dep)
    _write(os.path.join(base, "modules.builtin"), builtin)
    return root


def _module(systree, name, params=None, loaded=True, refcnt=0):
    base = os.path.join(systree.sys, "module", name)
    for key, value in (params or {}).items():
        _write(os.path.join(base, "parameters", key), "%s\n" % value)
    if loaded:
        _write(os.path.join(base, "initstate"), "live\n")
        _write(os.path.join(base, "refcnt"), "%d\n" % refcnt)


def test_loaded_module_with_its_parameters(systree):
    root = _root(systree)
    _module(systree, "nbd", {"max_part": 31, "nbds_max": 16})
    found = kmodules.describe(systree.sysfs, ["nbd"], root=root, release=RELEASE, config={"CONFIG_BLK_DEV_NBD": "m"})
    assert found == {"nbd": {
        "state": "loaded",
        "config": "m",
        "filename": "/lib/modules/%s/kernel/drivers/block/nbd.ko" % RELEASE,
        "parameters": {"max_part": "31", "nbds_max": "16"},
        "refcnt": 0,
        "devices_in_use": [], "wanted": {}, "differs": {},
    }}


def test_connected_nbd_device_is_in_use(systree):
    root = _root(systree)
    _module(systree, "nbd", {"max_part": 31}, refcnt=2)
    systree.nbd("nbd0", 0, pid=4242)
    systree.nbd("nbd1", 32)
    found = kmodules.describe(systree.sysfs, ["nbd"], root=root, release=RELEASE)["nbd"]
    assert found["devices_in_use"] == ["/dev/nbd0"]
    assert found["refcnt"] == 2


def test_builtin_loop_from_sys_module_without_initstate(systree):
    """loop built in (as on many cloud kernels): /sys/module/loop/parameters but no initstate."""
    root = _root(systree, proc_modules="nbd 57344 0 - Live 0x0\n", dep="kernel/drivers/block/nbd.ko:\n")
    _module(systree, "loop", {"max_part": 0}, loaded=False)
    systree.loop("loop0", 0, backing="/srv/a.img")
    found = kmodules.describe(systree.sysfs, ["loop"], root=root, release=RELEASE)["loop"]
    assert found["state"] == "builtin"
    assert found["filename"] == "(builtin)"
    assert found["parameters"] == {"max_part": "0"}
    assert found["refcnt"] is None
    assert found["devices_in_use"] == ["/dev/loop0"]


def test_builtin_from_modules_builtin_or_config(systree):
    root = _root(systree, builtin="kernel/drivers/block/loop.ko\n", dep="")
    assert kmodules.describe(systree.sysfs, ["loop"], root=root, release=RELEASE)["loop"]["state"] == "builtin"
    root = _root(systree, proc_modules="", builtin="", dep="")
    found = kmodules.describe(systree.sysfs, ["nbd"], root=root, release=RELEASE, config={"CONFIG_BLK_DEV_NBD": "y"})
    assert found["nbd"]["state"] == "builtin"


def test_loadable_and_missing(systree):
    root = _root(systree, proc_modules="")
    found = kmodules.describe(systree.sysfs, ["loop", "nbd", "zram"], root=root, release=RELEASE)
    assert found["loop"]["state"] == "loadable"
    assert found["loop"]["parameters"] == {}
    assert found["nbd"]["state"] == "loadable"
    assert found["zram"] == {"state": "missing", "config": None, "filename": None, "parameters": {},
                             "refcnt": None, "devices_in_use": [], "wanted": {}, "differs": {}}


def test_dash_and_underscore_are_one_name(systree):
    root = _root(systree)
    found = kmodules.describe(systree.sysfs, ["dm-mod", "dm_mod"], root=root, release=RELEASE)
    assert found["dm-mod"]["state"] == found["dm_mod"]["state"] == "loaded"


def test_compressed_module_files(systree):
    root = _root(systree, proc_modules="", dep="kernel/drivers/block/nbd.ko.zst:\nkernel/drivers/block/loop.ko.xz:\n")
    found = kmodules.describe(systree.sysfs, ["nbd", "loop"], root=root, release=RELEASE)
    assert found["nbd"]["filename"].endswith("nbd.ko.zst")
    assert found["loop"]["state"] == "loadable"


def test_no_module_support_and_no_module_tree(systree):
    """A kernel without CONFIG_MODULES has no /proc/modules; a container may have no /lib/modules."""
    root = _root(systree, proc_modules=None, dep=None)
    found = kmodules.describe(systree.sysfs, ["nbd"], root=root, release=RELEASE)
    assert found["nbd"]["state"] == "missing"


@pytest.mark.parametrize("value, shown", [("0", "0"), ("1", "1"), ("15", "15"), ("16", "31"), (16, "31"),
                                          ("31", "31"), ("32", "63"), ("63", "63"), ("many", "many")])
def test_max_part_as_the_kernel_rounds_it(value, shown):
    assert kmodules.as_running("max_part", value) == shown


def test_other_parameters_show_as_set():
    assert kmodules.as_running("nbds_max", 16) == "16"


def test_differences_name_only_what_runs_otherwise():
    running = {"max_part": "31", "nbds_max": "16"}
    assert kmodules.differences(running, {"max_part": "16", "nbds_max": "16"}) == {}
    assert kmodules.differences(running, {"max_part": "32", "nbds_max": 8}) == {
        "max_part": {"running": "31", "wanted": "32"}, "nbds_max": {"running": "16", "wanted": "8"}}
    # a parameter the module does not show cannot be compared
    assert kmodules.differences(running, {"unknown": "1"}) == {}


def test_describe_reports_wanted_and_differs(systree):
    root = _root(systree)
    _module(systree, "nbd", {"max_part": 15, "nbds_max": 16})
    found = kmodules.describe(systree.sysfs, ["nbd", "loop"], root=root, release=RELEASE,
                              wanted={"nbd": {"max_part": 16, "nbds_max": "16"}})
    assert found["nbd"]["wanted"] == {"max_part": "16", "nbds_max": "16"}
    assert found["nbd"]["differs"] == {"max_part": {"running": "15", "wanted": "16"}}
    assert found["loop"]["wanted"] == {} and found["loop"]["differs"] == {}
