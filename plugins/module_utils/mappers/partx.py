# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The partx partition mapper: BLKPG partitions added by `partx --add`.

partx reads the table itself and tells the kernel where each partition is,
so it works where the kernel has no parser for the table.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.mappers.base import sysfs_partition
from ansible_collections.virt.disk.plugins.module_utils.waits import poll

NAME = "partx"


def map_partition(ctx, number):
    step = "map partition %d of %s with partx" % (number, ctx.device)
    if sysfs_partition(ctx, number) is None:
        rc, out, err = ctx.runner.run(["partx", "--add", "--nr", "%d:%d" % (number, number), ctx.device],
                                      step=step, check=False)
        # a concurrent scan may have added it first: what counts is that it exists
        if rc != 0 and sysfs_partition(ctx, number) is None:
            raise VirtDiskError("partx --add exited with %d" % rc, step=step, tool_error=err or out)
    return poll(lambda: sysfs_partition(ctx, number), ctx.timeout, "partition %d of %s" % (number, ctx.device),
                step=step)


def unmap_partition(ctx, number):
    """Delete one partition; judged by sysfs, since partx can fail on closing a
    device whose helper died even though the partition is gone."""
    _delete(ctx, ["--nr", "%d:%d" % (number, number)], lambda: sysfs_partition(ctx, number) is None,
            "remove partition %d of %s" % (number, ctx.device))


def unmap_all(ctx):
    if ctx.sysfs.partitions(ctx.disk):
        _delete(ctx, [], lambda: not ctx.sysfs.partitions(ctx.disk), "remove the partitions of %s" % ctx.device)


def _delete(ctx, selection, gone, step):
    """partx --delete until gone() holds. Right after a partition appears, udev
    opens it to probe it, and an open partition cannot be deleted (BLKPG says
    EBUSY, partx only "error deleting partition"): such a holder lets go within
    moments, so try again until ctx.timeout before failing with partx's error."""
    failed = {}

    def attempt():
        rc, out, err = ctx.runner.run(["partx", "--delete"] + selection + [ctx.device], step=step, check=False)
        if rc == 0 or gone():
            return True
        failed.update(rc=rc, error=err or out)
        return False

    try:
        poll(attempt, ctx.timeout, "partx --delete to succeed", step=step)
    except VirtDiskError:
        raise VirtDiskError("partx --delete exited with %d (still failing after %gs)" % (failed["rc"], ctx.timeout),
                            step=step, tool_error=failed["error"])
