# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the host's own LVM does with the devices images are attached to.

lvm2's udev rule runs `pvscan --cache --autoactivation event` for every new
block device that carries a physical volume, and then activates its volume
group (`vgchange -aay`) under the VG's own name. An image with LVM inside,
attached to a loop or nbd device (or opened from LUKS by this collection),
would have its volumes activated by the host, outside any task. The host
leaves such devices alone when its global_filter rejects their paths (the
role virt.disk.image_host writes one), when its devices file is in use (it
lists the devices lvm2 may use; image devices are not among them), or when
event activation is off.

This module only reads: one `lvmconfig` of the settings that decide it.
"""

from __future__ import annotations

import os
import re

# One path of each kind of device virt.disk attaches or maps: loop and nbd
# devices and their partitions, kpartx maps of them, and the LUKS and LV
# mappings of volumes.stack (virtdisk-<key>-...).
SAMPLE_PATHS = ("/dev/loop0", "/dev/loop0p1", "/dev/nbd0", "/dev/nbd0p1", "/dev/mapper/loop0p1",
                "/dev/mapper/nbd0p1", "/dev/mapper/virtdisk-0123456789abcdef-p2",
                "/dev/mapper/virtdisk-0123456789abcdef-vg0-root")
SETTINGS = ("devices/global_filter", "devices/use_devicesfile", "devices/devicesfile", "global/event_activation")
DEFAULT_SYSTEM_DIR = "/etc/lvm"


def _value(text):
    """One lvmconfig value: a number, a "string" or a ["list", "of", "strings"]."""
    text = text.strip()
    if text.startswith("["):
        return [s.replace('\\"', '"') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text)]
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return text[1:-1].replace('\\"', '"')
    try:
        return int(text)
    except ValueError:
        return text


def parse_lvmconfig(text):
    """`lvmconfig` output (key=value lines) as a dict of the keys' last path element."""
    settings = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and re.match(r"^[a-z_]+$", key):
            settings[key] = _value(value)
    return settings


def accepts(patterns, path):
    """Whether an lvm2 filter (a list of "a|regex|" / "r|regex|") accepts path: the first pattern whose
    regex matches decides; a path no pattern matches is accepted. A pattern that is not valid lvm2
    syntax, or whose regex Python cannot compile, is skipped."""
    for pattern in patterns:
        if len(pattern) < 3 or pattern[0] not in "ar":
            continue
        delimiter = pattern[1]
        end = pattern.rfind(delimiter)
        if end <= 1:
            continue
        try:
            matched = re.search(pattern[2:end], path) is not None
        except re.error:
            continue
        if matched:
            return pattern[0] == "a"
    return True


def describe(h, system_dir=None):
    """host.lvm of image_mount_info; h: a state.host.Host."""
    system_dir = system_dir or os.environ.get("LVM_SYSTEM_DIR") or DEFAULT_SYSTEM_DIR
    lvmconfig = h.which("lvmconfig")
    result = {"lvmconfig": lvmconfig, "global_filter": None, "use_devicesfile": None, "devices_file": None,
              "event_activation": None, "image_devices_scanned": [], "autoactivates_image_devices": False}
    if lvmconfig is None:
        return result
    rc, out, err = h.runner.run([lvmconfig, "--typeconfig", "full"] + list(SETTINGS),
                                step="read the host's LVM configuration", check=False)
    if rc != 0:
        result["error"] = (err or out).strip()
        return result
    settings = parse_lvmconfig(out)
    global_filter = settings.get("global_filter", ["a|.*|"])
    if not isinstance(global_filter, list):
        global_filter = [global_filter]
    devices_file = None
    if settings.get("use_devicesfile") == 1:
        candidate = os.path.join(system_dir, "devices", settings.get("devicesfile") or "system.devices")
        if os.path.exists(candidate):
            devices_file = candidate
    scanned = [] if devices_file else [p for p in SAMPLE_PATHS if accepts(global_filter, p)]
    event_activation = settings.get("event_activation", 1) == 1
    result.update(global_filter=global_filter, use_devicesfile=settings.get("use_devicesfile") == 1,
                  devices_file=devices_file, event_activation=event_activation, image_devices_scanned=scanned,
                  autoactivates_image_devices=bool(scanned) and event_activation)
    return result
