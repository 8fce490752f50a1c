# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The registered backends, and the one rule that chooses among them.

auto: a block device as it is, a raw file on loop, a qemu image on nbd where
the kernel has it, else through FUSE; with snapshot (writes to a throwaway
overlay), any image on nbd, else through FUSE. A backend asked for by name must be able
to read the image; whether the host can run it is then up to its attach.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.backends import block, fuse, loop, nbd
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.state import distro

BACKENDS = (loop.BACKEND, nbd.BACKEND, fuse.BACKEND, block.BACKEND)
NAMES = tuple(b.name for b in BACKENDS)
_BY_NAME = dict((b.name, b) for b in BACKENDS)
AUTO = (block.BACKEND, loop.BACKEND, nbd.BACKEND, fuse.BACKEND)
# fuse first: its loop devices are claimed before the loop backend sees them
SCAN = (fuse.BACKEND, loop.BACKEND, nbd.BACKEND, block.BACKEND)


def get(name):
    return _BY_NAME[name]


def choose(image, fmt, wanted, host, snapshot=False):
    """The backend that serves image read as fmt: wanted by name, or the auto rule."""
    if wanted != "auto":
        backend = get(wanted)
        why = backend.refuse(image, fmt, snapshot)
        if why:
            raise VirtDiskError(why)
        return backend
    reasons = []
    for backend in AUTO:
        if backend.refuse(image, fmt, snapshot):
            continue
        why = backend.unusable(host)
        if why is None:
            return backend
        reasons.append("%s: %s" % (backend.name, why))
    raise VirtDiskError("%s is a %s image, and this host has no backend for it (%s); %s"
                        % (image.path, fmt, "; ".join(reasons), distro.no_backend(distro.read(), fmt)))


def usable(host):
    """The names of the backends this host can run."""
    return [b.name for b in BACKENDS if b.unusable(host) is None]


def scan(host):
    """Every attachment on the host, whoever made it (image_mount_info)."""
    claimed = set()
    loops = host.sysfs.attached_loops()
    found = []
    for backend in SCAN:
        found += backend.scan(host, claimed, loops)
    return found


def find(host, image):
    """The attachments of image; the loop devices' backing files are read once for the backends that
    look at loop devices (fuse and loop)."""
    claimed = set()
    loops = host.sysfs.attached_loops()
    found = []
    for backend in SCAN:
        found += backend.find(host, image, claimed, loops)
    return found
