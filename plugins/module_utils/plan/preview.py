# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Looking into an image before mounting it: its partitions, the way
`virt-filesystems --long` lists them, so a user can pick a selector.

The table is read as image_mount reads it (converge.read_table): through an
attached device, from a raw file, or from the image cache. A qemu image seen
for the first time is attached read-only for the probe and taken down again,
through the executor whose rollback undoes the attach.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.backends import registry
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import image as image_mod, selector
from ansible_collections.virt.disk.plugins.module_utils.plan import converge
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step, Want
from ansible_collections.virt.disk.plugins.module_utils.plan.result import partitions_of
from ansible_collections.virt.disk.plugins.module_utils.state import discovery
from ansible_collections.virt.disk.plugins.module_utils.state.imagecache import ImageCache
from ansible_collections.virt.disk.plugins.module_utils.state.locking import Lock


def look(host, given, fmt="auto", backend="auto", allow_backing_file=False):
    """What image `given` holds: {image, format, attached, partition_table, partitions, auto_partition}."""
    image = image_mod.inspect(given)
    fmt = converge.choose_format(image, fmt)
    with Lock(image.key, host.timeout, image.path, run_dir=host.run_dir):
        att = discovery.discover(host, image).attachment
        cache = ImageCache(image, host.run_dir)
        table = converge.read_table(host, image, fmt, att, cache, allow_backing_file)
        if table is None:
            table = _probe_attached(host, image, fmt, registry.choose(image, fmt, backend, host), cache,
                                    allow_backing_file)
        cache.save()
    try:
        auto = selector.resolve(selector.parse("auto"), table, image.path)
    except VirtDiskError:
        auto = None  # auto cannot choose here: the user has to
    return {
        "image": image.path,
        "format": fmt,
        "attached": att is not None,
        "partition_table": table.label,
        "partitions": partitions_of(table, att),
        "auto_partition": auto,
    }


def _probe_attached(host, image, fmt, backend, cache, allow_backing_file):
    """Attach the qemu image read-only, probe it, take it down again."""
    want = Want("mapped", None, 0, backend, read_only=True)
    ex = converge.load_work().Executor(host, image, want, None, fmt=fmt, allow_backing_file=allow_backing_file)
    try:
        ex.run([Step("attach", "attach %s read-only to probe it" % image.path, backend=backend, read_only=True)])
        return converge.probe_table(host, ex.device, cache)
    finally:
        errors = ex.rollback()
        if errors:
            raise VirtDiskError("%s: taking it down after probing failed: %s" % (image.path, "; ".join(errors)))
