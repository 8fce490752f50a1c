# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every image attached on this host, whoever attached it (image_mount_info's
images): the same scan as discovery, not narrowed to one image."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.backends import registry
from ansible_collections.virt.disk.plugins.module_utils.image.image import key_of
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.state import discovery, statefile


def describe(host, image_filter=None):
    """The images list: attachments with their partitions and mounts, in an order safe to take down."""
    all_mounts = mountinfo.read(host.mountinfo_path)
    wanted = key_of(image_filter) if image_filter is not None else None
    images = []
    for att in registry.scan(host):
        key = key_of(att.image) if att.image else None
        if image_filter is not None and not (key == wanted if key and wanted else _same_path(att.image, image_filter)):
            continue
        discovery.read_nodes(host, att)
        if key:
            discovery.name_mappers(att, statefile.load(key, host.run_dir))
        own = discovery.mounts_of_all(all_mounts, [att])
        nodes = sorted(att.nodes.values(), key=lambda n: n.number)
        mappers = sorted(set(n.mapper for n in nodes))
        images.append({
            "image": att.image, "format": att.format, "backend": att.kind, "device": att.device,
            "read_only": att.read_only, "pid": att.pid, "export": att.export,
            "snapshot": att.snapshot, "overlay": att.overlay,
            "mapper": mappers[0] if len(mappers) == 1 else (mappers or None),
            "partitions": [{"number": n.number, "device": n.device, "size": n.size, "mapper": n.mapper}
                           for n in nodes],
            "mounts": [{"path": m.path, "device": m.source, "fstype": m.fstype, "read_only": m.read_only}
                       for m in own],
            "volumes": [v.to_dict(key) for v in att.volumes],
            "beneath": [{"path": m.path, "source": m.source, "fstype": m.fstype}
                        for m in reversed(mountinfo.teardown_order(all_mounts, own)) if m not in own],
        })
    return teardown_order(images)


def _same_path(path, other):
    return path is not None and os.path.realpath(path) == os.path.realpath(other)


def _depends_on(inner, outer):
    """True if inner must come down before outer: its file or a mount lies beneath outer's mounts."""
    paths = [m["path"] for m in inner["mounts"]] + ([inner["image"]] if inner["image"] else [])
    return any(p != m["path"] and mountinfo.is_below(p, m["path"]) for p in paths for m in outer["mounts"])


def teardown_order(images):
    """Images in an order safe to take down one by one: an image whose file or
    mounts lie beneath another image's mounts comes before that image."""
    pending = list(images)
    ordered = []
    while pending:
        for candidate in pending:
            if not any(_depends_on(other, candidate) for other in pending if other is not candidate):
                break
        else:
            candidate = pending[0]  # a cycle cannot happen with real mounts; keep going anyway
        pending.remove(candidate)
        ordered.append(candidate)
    return ordered
