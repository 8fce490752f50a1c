# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tree phase of a run with layout tree: for each mount of the tree
(tree/layout.py) below the root, what it takes to have it as wanted.

A mount point is resolved inside the image only once its parents are
mounted (a symlink on /boot's filesystem decides where /boot/efi is), so
the executor asks decide() for one mount at a time, in the tree's order,
after doing the steps for the ones before. decide() itself is pure."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step


def wanted_options(mount, opts):
    """The options of a tree mount: the fstab's (subvol=, umask=, ro...)
    followed by the module's opts, later ones winning for the generic flags."""
    return merge_options(mount.options, opts)


def merge_options(options, opts):
    """The option list options (an fstab entry's) followed by the option
    string opts, each option once, as one string."""
    merged = []
    for option in list(options) + mountopts.split(opts):
        if option not in merged:
            merged.append(option)
    return ",".join(merged)


def subvolume(options):
    """The btrfs subvolume an option list asks for ("@home" from subvol=@home,
    subvol=/@home), or None."""
    name = mountopts.subvol(options)
    return name.lstrip("/") if name is not None else None


def decide(mount, host_target, exists, top, node, record, opts, read_only, mapper="auto"):
    """(steps, skip_reason) for one tree mount.

    mount: a layout.Mount; host_target: its mount point resolved inside the
    root; exists: whether something is there; top: the mountinfo.Mount
    visible there or None; node: the partition node of mount.number that is
    mapped now, or None; record: what this collection recorded when it made
    the mount at host_target, or None; opts, read_only, mapper: the module's."""
    want_opts = wanted_options(mount, opts)
    if top is not None:
        same_device = node is not None and ((top.major, top.minor) == (node.major, node.minor)
                                            or top.source == node.device)
        same_root = subvolume(mount.options) is None or top.root.lstrip("/") == subvolume(mount.options)
        if not (same_device and same_root):
            raise VirtDiskError("the image's %s (%s) already has %s %s%s mounted, not %s%s as its %s says"
                                % (mount.target, host_target, top.fstype, top.source,
                                   " (subvolume %s)" % top.root if top.root not in ("/", None) else "",
                                   mount.what, " subvolume " + subvolume(mount.options)
                                   if subvolume(mount.options) else "", _origin(mount)))
        change = mountopts.compare(top, record, want_opts, mount.fstype, read_only)
        if change is None:
            return [], None
        if change == "remount":
            return [Step("remount", "remount %s with %s" % (host_target, mountopts.render(
                *mountopts.wanted(want_opts, read_only))), path=host_target, source=top.source, opts=want_opts,
                fstype=mount.fstype)], None
        raise VirtDiskError("the image's %s (%s) is mounted with other filesystem options than %s; unmount it "
                            "(state: unmapped) first" % (mount.target, host_target, want_opts))
    steps = []
    if node is None and mount.volume is not None:
        how = " read-only" if read_only else ""
        steps.append(Step("volume", "activate %s (the image's %s)%s" % (mount.what, mount.target, how),
                          spec=mount.volume))
    elif node is None:
        steps.append(Step("map", "map partition %d (the image's %s)" % (mount.number, mount.target),
                          number=mount.number, mapper=mapper))
    if not exists:
        if read_only:
            return [], "the image has no %s and is mounted read-only" % mount.target
        steps.append(Step("mkdir", "create the mount point %s in the image" % mount.target, path=host_target))
    extra = {"volume": mount.volume} if mount.volume is not None else {}
    steps.append(Step("mount_tree", "mount %s at the image's %s (%s)%s"
                      % (mount.what, mount.target, host_target, " read-only" if read_only else ""),
                      path=host_target, number=mount.number, fstype=mount.fstype, opts=want_opts, **extra))
    return steps, None


def _origin(mount):
    if mount.origin == "fstab":
        return "fstab line %d" % mount.line
    return "partition type (Discoverable Partitions Specification)"
