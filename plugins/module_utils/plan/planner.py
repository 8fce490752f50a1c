# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The planner: from the discovered state and the wanted state to a list of steps.

A pure function of its inputs, so check mode runs only this and unit tests can
cover every pair of states. The steps are executed in order by the executor.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts
from ansible_collections.virt.disk.plugins.module_utils.volumes.key import spec_text

STATES = ("mounted", "mapped", "unmapped", "absent")
TREE_SOURCES = ("auto", "fstab", "dps")  # where layout tree takes the tree from (plan/treephase.py)


class Want(object):
    """The wanted end state of one task."""

    def __init__(self, state, path=None, number=0, backend=None, mapper="auto", fstype=None,
                 opts="nodev,nosuid", read_only=False, backend_explicit=False, selector_text="auto", tree=None,
                 snapshot=False, runtime=None, key=None):
        self.state = state
        self.path = path
        self.number = number  # None: known only once the image is attached (qemu formats)
        self.backend = backend  # the backends.base.Backend that attaches it (registry.choose)
        self.backend_explicit = backend_explicit
        self.selector_text = selector_text
        self.mapper = mapper
        self.fstype = fstype
        self.opts = opts
        self.read_only = read_only
        self.tree = tree  # with layout tree: {"source", "noauto"} (plan/treephase.py), else None
        self.snapshot = snapshot  # writes go to a throwaway overlay
        self.runtime = runtime  # "chroot": the chroot runtime at path (runtime/chroot.py), else None
        # the volume to mount instead of a partition, once the selection knows it: {"kind": "luks", "number"}
        # (a LUKS partition) or {"kind": "lv", "vg", "lv"} (a logical volume); key: the volumes.key.Key
        self.volume = None
        self.key = key

    def volume_text(self):
        return spec_text(self.volume)

    @property
    def device_read_only(self):
        """Whether the device is attached read-only: with snapshot it is
        writable (over the overlay) even for a read-only mount, so that the
        kernel can replay a journal into the overlay."""
        return self.read_only and not self.snapshot


class PathInfo(object):
    """What is at the mount point path: exists, is a directory, is empty
    (or is a mount point, whose directory below cannot be seen)."""

    def __init__(self, exists=False, is_dir=False, empty=True):
        self.exists = exists
        self.is_dir = is_dir
        self.empty = empty


class Step(object):
    def __init__(self, op, desc, **args):
        self.op = op
        self.desc = desc
        self.args = args

    def __repr__(self):
        return "Step(%s: %s)" % (self.op, self.desc)


def _unmount(obs, ours, done):
    steps = []
    for m in mountinfo.teardown_order(obs.all_mounts, ours):
        if m.mount_id in done:
            continue
        done.add(m.mount_id)
        steps.append(Step("umount", "unmount %s (%s)" % (m.path, m.source), path=m.path, source=m.source))
    return steps


def _take_down(att, key=None):
    """Steps that close the volumes on an attachment, remove its partition devices and detach it."""
    steps = []
    for vol in att.volumes:
        # on a device that is not ours to detach (a block device), only the volumes this collection made
        if att.backend.detaches or (key is not None and vol.ours(key)):
            steps.append(Step("close", "close %s (%s, on %s)" % (vol.device, vol.kind, ", ".join(vol.slaves)),
                              vol=vol))
    # a device that is not ours to detach keeps the partitions its kernel made; only what tools mapped goes
    own_nodes = [n for n in att.nodes.values() if att.backend.detaches or n.mapper != "kernel"]
    if own_nodes:
        steps.append(Step("unmap", "remove the partition devices of %s (%s)"
                          % (att.device, ", ".join(sorted(n.device for n in own_nodes))), att=att, nodes=own_nodes))
    if att.backend.detaches:
        steps.append(Step("detach", att.backend.describe_detach(att), att=att))
    return steps


def _incompatible(att, want):
    """Why the attachment cannot serve what is wanted, or None."""
    if att.broken:
        return "its qemu helper is gone" if att.device else "it has no device"
    if not att.backend.detaches:
        return None  # used as it is
    if att.snapshot != want.snapshot:
        return "it is attached %s a throwaway overlay" % ("with" if att.snapshot else "without")
    if att.read_only != want.device_read_only:
        return "it is attached %s" % ("read-only" if att.read_only else "read-write")
    if want.backend_explicit and att.backend is not want.backend:
        return "it is attached with backend %s" % att.kind
    return None


def plan(obs, want, path_info=None):
    """List the steps that take the image from obs to want."""
    path_info = path_info or PathInfo()
    done = set()
    if want.state in ("unmapped", "absent"):
        steps = []
        if obs.inside:
            steps.append(Step("stop", "stop the processes chrooted into the image's mounts: %s" % ", ".join(
                "%d (%s)" % (pid, comm) for pid, comm, _root in obs.inside), procs=obs.inside))
        steps += _unmount(obs, obs.mounts, done)
        for att in obs.attachments:
            steps += _take_down(att, obs.image.key)
        if want.state == "absent" and want.path and path_info.is_dir and path_info.empty:
            steps.append(Step("rmdir", "remove the mount point %s if it is empty" % want.path, path=want.path,
                              optional=True))
        return steps

    steps = []
    att = obs.attachment
    why = _incompatible(att, want) if att is not None else None
    if why:
        # attached anew: possible when nothing of it is mounted but the mount being changed
        others = [m for m in obs.mounts if m.path != want.path]
        if others and want.state == "mounted" and not att.broken:
            raise VirtDiskError(
                "%s cannot be used as wanted because %s (%s), and it is mounted at %s; take it down "
                "(state: unmapped) first" % (obs.image.path, why, att.device,
                                             ", ".join(m.path for m in others)))
        steps += _unmount(obs, obs.mounts, done)
        for other in obs.attachments:
            steps += _take_down(other, obs.image.key)
        att = None
    elif att is None:
        for other in obs.attachments:  # broken leftovers: take them down before attaching anew
            steps += _take_down(other, obs.image.key)
    if want.state == "mapped":
        steps += _unmount(obs, obs.mounts, done)

    node = None
    if att is None:
        how = " and writes to a throwaway overlay" if want.snapshot else " read-only" if want.read_only else ""
        steps.append(Step("attach", "attach %s with %s%s" % (obs.image.path, want.backend.name, how),
                          backend=want.backend, read_only=want.device_read_only, snapshot=want.snapshot))
    else:
        node = obs.node_of(att, want.number, want.mapper)
    if want.number is None:
        steps.append(Step("resolve", "probe the attached image and select partition %s" % want.selector_text))
        return steps
    if want.number and node is None:
        where = att.device if att is not None else "the new device"
        steps.append(Step("map", "map partition %d of %s (%s)" % (want.number, where, want.mapper),
                          number=want.number, mapper=want.mapper))
    if want.volume is not None:
        node = obs.volume_of(att, want)
        if node is None:
            steps.append(Step("volume", "%s %s%s" % ("open" if want.volume["kind"] == "luks" else "activate",
                                                     want.volume_text(), " read-only" if want.read_only else ""),
                              spec=want.volume))
    if want.state == "mapped":
        return steps

    top = mountinfo.top_mount_at(obs.all_mounts, want.path)
    if top is not None and top.mount_id in done:
        top = None  # unmounted above, to attach the image anew
    if top is not None:
        if node is not None and top in obs.mounts_of_node(node):
            return steps + _change_options(obs, want, top, done)
        if top in obs.mounts:
            steps += _unmount(obs, [top], done)
        else:
            raise VirtDiskError("mount point %s already has %s mounted (not from %s); unmount it first"
                                % (want.path, top.source, obs.image.path))
    elif path_info.exists and not path_info.is_dir:
        raise VirtDiskError("mount point %s exists and is not a directory" % want.path)
    if not path_info.exists:
        steps.append(Step("mkdir", "create the mount point %s" % want.path, path=want.path))
    what = node.device if node is not None else want.volume_text() if want.volume is not None else \
        "partition %d" % want.number if want.number else "the device"
    steps.append(Step("mount", "mount %s at %s%s" % (what, want.path, " read-only" if want.read_only else ""),
                      path=want.path, number=want.number, **_volume_device(want, node)))
    return steps


def _volume_device(want, node):
    """The mount step's device argument for a volume: the one there is (a
    Volume or the Mount of it), else None (the one the volume step makes)."""
    if want.volume is None:
        return {}
    return {"device": getattr(node, "device", None) or getattr(node, "source", None)}


def _change_options(obs, want, top, done):
    """Steps that give the mount at want.path the wanted fstype and options:
    none, a remount (generic flags only), or an unmount and a new mount."""
    record = obs.mount_records.get(want.path)
    change = mountopts.compare(top, record, want.opts, want.fstype, want.read_only)
    if change is None:
        return []
    now = mountopts.describe(top, record)
    then = mountopts.render(*mountopts.wanted(want.opts, want.read_only))
    if change == "remount":
        return [Step("remount", "remount %s with %s (was %s)" % (want.path, then, now), path=want.path,
                     source=top.source)]
    beneath = [m for m in mountinfo.teardown_order(obs.all_mounts, [top]) if m is not top]
    if beneath:
        raise VirtDiskError("changing how %s is mounted (%s%s, now %s %s) takes unmounting it, and %s %s mounted "
                            "beneath it; unmount %s first"
                            % (want.path, want.fstype + " " if want.fstype else "", then, top.fstype, now,
                               ", ".join(m.path for m in beneath), "is" if len(beneath) == 1 else "are",
                               "it" if len(beneath) == 1 else "them"))
    done.add(top.mount_id)
    # a failure after this unmount mounts it again as it was
    steps = [Step("umount", "unmount %s (%s)" % (top.path, top.source), path=top.path, source=top.source,
                  restore={"fstype": top.fstype, "opts": now})]
    steps.append(Step("mount", "mount %s at %s with %s (was %s %s)" % (top.source, want.path, then, top.fstype, now),
                      path=want.path, number=want.number, **_volume_device(want, top)))
    return steps
