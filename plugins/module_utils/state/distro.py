# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The managed node's distribution, from os-release, for the messages that
name the package to install or say what the distribution cannot do.

What is known of the distributions the role knows:

- Debian up to 12 and Ubuntu up to 23.10 ship qemu-storage-daemon in
  qemu-system-common, Debian 13 and Ubuntu 24.04 on in qemu-utils; Ubuntu 22.04
  has QEMU 6.2, whose qemu-storage-daemon lacks --daemonize (new in 7.0).
- The RHEL family ships qemu-img, qemu-nbd and qemu-storage-daemon in qemu-img,
  but its kernels have no nbd module and its QEMU is built without the FUSE
  export, so a qemu image has neither backend there: only raw images and
  block devices (loop) can be mounted.

Read when a message needs it (a backend the host cannot run), at most once a
run.
"""

from __future__ import annotations

OS_RELEASE = ("/etc/os-release", "/usr/lib/os-release")


class Distro(object):
    """family: debian, ubuntu, rhel or None; version: VERSION_ID as a tuple of ints, () if none."""

    def __init__(self, fields):
        self.id = fields.get("ID", "").lower()
        like = fields.get("ID_LIKE", "").lower().split()
        self.name = fields.get("PRETTY_NAME") or fields.get("NAME") or "this distribution"
        if self.id in ("debian", "ubuntu"):
            self.family = self.id
        elif self.id in ("rhel", "centos", "rocky", "almalinux", "ol") or "rhel" in like:
            self.family = "rhel"
        else:
            self.family = None
        try:
            self.version = tuple(int(part) for part in fields.get("VERSION_ID", "").split("."))
        except ValueError:
            self.version = ()

    def before(self, family, version):
        """Whether this is family at a version before the given tuple."""
        return self.family == family and bool(self.version) and self.version < version


def parse(text):
    """KEY=value lines (values optionally quoted) as a dict."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            fields[key] = value.strip().strip("\"'")
    return fields


_READ = {}


def read(paths=OS_RELEASE):
    """The Distro of the first os-release file that can be read (an unknown one if none)."""
    if paths not in _READ:
        _READ[paths] = Distro({})
        for path in paths:
            try:
                with open(path) as f:
                    _READ[paths] = Distro(parse(f.read()))
                    break
            except (IOError, OSError, UnicodeDecodeError):
                continue
    return _READ[paths]


def qemu_package(distro):
    """What to install for qemu-img and qemu-nbd."""
    if distro.family == "rhel":
        return "install qemu-img"
    if distro.family in ("debian", "ubuntu"):
        return "install qemu-utils"
    return "Debian, Ubuntu: qemu-utils; RHEL family: qemu-img"


def storage_daemon_package(distro):
    """What to install for qemu-storage-daemon, or why installing will not help."""
    if distro.family == "rhel":
        return ("%s's qemu-img ships it, but its QEMU is built without the FUSE export, so the fuse backend cannot "
                "run here" % distro.name)
    if distro.before("ubuntu", (22, 10)):
        return ("%s has QEMU 6.2, and the fuse backend needs qemu-storage-daemon from QEMU 7.0 or later "
                "(--daemonize)" % distro.name)
    if distro.before("debian", (13,)) or distro.before("ubuntu", (24,)):
        return "install qemu-system-common"
    if distro.family in ("debian", "ubuntu"):
        return "install qemu-utils"
    return ("QEMU 7.0 or later; Debian 12: qemu-system-common; Debian 13, Ubuntu 24.04: qemu-utils; "
            "the RHEL family has no FUSE export")


def nbd_module(distro):
    """What to do when the kernel has no nbd devices."""
    if distro.family == "rhel":
        return "%s's kernels ship no nbd module" % distro.name
    return "modprobe nbd max_part=16, or the virt.disk.image_host role"


def no_backend(distro, fmt):
    """The advice that ends the message when no backend can serve a fmt image."""
    if distro.family == "rhel" and fmt != "raw":
        return ("on %s a qemu image has neither backend (no nbd module, no FUSE export in its QEMU): convert it "
                "with qemu-img convert -O raw and mount the raw copy" % distro.name)
    return "the virt.disk.image_host role installs the tools and loads the modules"
