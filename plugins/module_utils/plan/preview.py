# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Looking into an image before mounting it: its partitions, the way
`virt-filesystems --long` lists them, so a user can pick a selector.

A raw file is probed as it is. An attached image is probed through its
device. A qemu image that is not attached passes the same checks as before a
mount (backing files refused unless allowed, damaged images refused), is
attached read-only for the probe and taken down again, through the executor
whose rollback undoes the attach. What an unchanged file showed is kept in
the image cache, so looking again starts nothing.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.plan import converge
from ansible_collections.virt.disk.plugins.module_utils.image import selector
from ansible_collections.virt.disk.plugins.module_utils.image import image as image_mod
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.state.imagecache import ImageCache
from ansible_collections.virt.disk.plugins.module_utils.state.locking import Lock
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step, Want


def look(env, given, fmt="auto", backend="auto", allow_backing_file=False):
    """What image `given` holds: {image, format, attached, partition_table, partitions, auto_partition}."""
    image = image_mod.inspect(given)
    fmt = converge.choose_format(image, fmt)
    with Lock(image.key, env.timeout, image.path, run_dir=env.run_dir):
        obs = converge.discover_in(env, image)
        att = obs.attachment
        cache = ImageCache(image, env.run_dir)
        if att is None and fmt != "raw":
            converge.check_image(env.runner, image, fmt, allow_backing_file, cache)
        table = converge.cached_table(cache)
        if table is None and (att is not None or fmt == "raw"):
            table = converge.probe_table(env, att.device if att is not None else image.path, cache)
        elif table is None:
            table = _probe_attached(env, image, fmt, backend, allow_backing_file, cache)
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
        "partitions": converge.partitions_of(table, att),
        "auto_partition": auto,
    }


def _probe_attached(env, image, fmt, backend, allow_backing_file, cache):
    """Attach the qemu image read-only, probe it, take it down again."""
    from ansible_collections.virt.disk.plugins.module_utils.plan.executor import Executor  # pylint: disable=import-outside-toplevel
    backend = converge.choose_backend(image, fmt, backend, env.sysfs, env.runner)
    want = Want("mapped", None, 0, backend, read_only=True)
    ex = Executor(env, image, want, None, fmt=fmt, allow_backing_file=allow_backing_file)
    try:
        ex.run([Step("attach", "attach %s read-only to probe it" % image.path, backend=backend, read_only=True)])
        return converge.probe_table(env, ex.device, cache)
    finally:
        errors = ex.rollback()
        if errors:
            raise VirtDiskError("%s: taking it down after probing failed: %s" % (image.path, "; ".join(errors)))
