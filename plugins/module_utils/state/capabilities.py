# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What this host can do: kernel features, module parameters, tools, usable backends."""

from __future__ import annotations

import gzip
import os
import platform

from ansible_collections.virt.disk.plugins.module_utils.backends import fuse, nbd, registry
from ansible_collections.virt.disk.plugins.module_utils.connection import arch

TOOLS = {"qemu_nbd": nbd.SERVER, "qemu_storage_daemon": fuse.DAEMON, "qemu_img": "qemu-img",
         "kpartx": "kpartx", "partx": "partx"}
PARSERS = ("CONFIG_MSDOS_PARTITION", "CONFIG_EFI_PARTITION")


def kernel_config(root="/", release=None):
    """The running kernel's config as a dict, from /proc/config.gz or /boot/config-RELEASE; None if neither."""
    release = release or platform.release()
    candidates = [(os.path.join(root, "proc", "config.gz"), True),
                  (os.path.join(root, "boot", "config-%s" % release), False)]
    for path, compressed in candidates:
        try:
            opener = gzip.open if compressed else open
            with opener(path, "rt") as f:
                return parse_config(f.read())
        except (IOError, OSError, EOFError):
            continue
    return None


def parse_config(text):
    config = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            config[line[2:-len(" is not set")]] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            key, _sep, value = line.partition("=")
            config[key] = value
    return config


def partition_parsers(config):
    """True/False if the kernel config says whether it parses MBR or GPT tables; None if unknown."""
    if config is None:
        return None
    return any(config.get(key) in ("y", "m") for key in PARSERS)


def host(h, root="/", config=None):
    """The host dict of image_mount_info (and the role's image_host_capabilities); h: a state.host.Host."""
    sysfs = h.sysfs
    nbd_devices = len(sysfs.block_devices("nbd"))
    if config is None:
        config = kernel_config(root)
    result = {
        "loop": registry.get("loop").unusable(h) is None,
        "loop_max_part": sysfs.read_int("module", "loop", "parameters", "max_part"),
        "nbd": nbd_devices > 0,
        "nbd_devices": nbd_devices,
        "nbd_max_part": sysfs.read_int("module", "nbd", "parameters", "max_part"),
        "kernel_partition_scan": partition_parsers(config),
        "device_mapper": sysfs.exists("class", "misc", "device-mapper"),
        "fuse": os.path.exists(h.dev("fuse")),
    }
    result.update((key, h.which(name)) for key, name in TOOLS.items())
    result["backends"] = registry.usable(h)
    binfmt_dir = os.path.join(root, arch.BINFMT_DIR.lstrip("/"))
    result["binfmt_misc"] = os.path.exists(os.path.join(binfmt_dir, "register"))
    result["architectures"], result["binfmt_handlers"] = arch.machines(binfmt_dir=binfmt_dir)
    return result
