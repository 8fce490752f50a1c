# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tree phase of a run with layout tree. Once the root is mounted at
path: read the image's /etc/fstab inside it (or place the partitions by the
Discoverable Partitions Specification), then for each mount, parents first,
resolve its mount point inside the tree as mounted so far, decide what it
takes (plan/tree.py), and have it done.

The phase runs twice when there is work: a dry pass against the kernel as it
is (check mode's prediction, and a re-run that finds the whole tree mounted
stops there), then the real pass through the executor, whose rollback then
covers the tree's mounts too."""

from __future__ import annotations

import os
import platform

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import dps, selector
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.kernel.filesystems import Filesystems
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import Step
from ansible_collections.virt.disk.plugins.module_utils.plan.tree import decide, merge_options, subvolume, wanted_options
from ansible_collections.virt.disk.plugins.module_utils.tree import crypttab, fstab, inroot, layout
from ansible_collections.virt.disk.plugins.module_utils.volumes.key import LUKS_FSTYPE


def architecture(table, root_number):
    """The image's architecture as the DPS names it: from its root partition's type, else the host's."""
    part = table.get(root_number) if root_number else None
    ptype = (part or {}).get("type")
    for arch, root_type in dps.ROOT.items():
        if ptype == root_type:
            return arch
    return platform.machine()


def dir_state(root):
    def state(target):
        try:
            host_path = inroot.resolve(root, target)[0]
        except inroot.OutsideError:
            return "full"  # not a directory that can be mounted over
        if not os.path.lexists(host_path):
            return "missing"
        return "empty" if inroot.is_empty_dir(host_path) else "full"
    return state


def root_subvolume(root, table, root_number):
    """The subvolume that is the image's root, for a btrfs root mounted at
    its top level that has no /etc/fstab (Ubuntu's and Fedora's installs:
    the system lives in subvolume @ or root): the directory one level down
    whose own etc/fstab mounts it at / with subvol= naming it. Each
    candidate's fstab is resolved inside that directory, the root it
    becomes. (name, the options of that fstab entry that say how to mount
    it: subvol=, compress=...), or None when there is none; several fail."""
    if selector.fstype_of(table, root_number) != "btrfs" or inroot.read_text(root, "/etc/fstab") is not None:
        return None
    found = []
    for name in sorted(os.listdir(root)):
        host_dir = os.path.join(root, name)
        if os.path.islink(host_dir) or not os.path.isdir(host_dir):
            continue
        text = inroot.read_text(host_dir, "/etc/fstab")
        for entry in fstab.parse(text) if text is not None else []:
            if (entry.target.startswith("/") and layout.normalize(entry.target) == "/"
                    and subvolume(fstab.mount_options(entry)) == name
                    and layout.find_source(entry, table) in (None, root_number)):
                found.append((name, fstab.mount_options(entry)))
                break
    if len(found) > 1:
        raise VirtDiskError("its btrfs root (partition %d) has no /etc/fstab at its top level, and several "
                            "subvolumes have one that mounts them at / (%s); select the one to mount by hand"
                            % (root_number, ", ".join(name for name, _options in found)))
    return found[0] if found else None


def subvolume_root_options(subvol, fs_options, opts):
    """The options of the image's root mounted as subvolume subvol: its fstab
    entry's (fs_options: compress=...; its own spelling of the subvolume is
    replaced by subvol=subvol) and the module's opts."""
    rest = [o for o in fs_options if not o.startswith(("subvol=", "subvolid="))]
    return mountopts.with_subvol(subvol, merge_options(rest, opts))


def subvolume_root_steps(host, root, number, subvol, fs_options, opts, records):
    """Steps that mount subvolume subvol of partition number at root instead
    of the top level mounted there, with its fstab entry's options
    (fs_options) and opts. The record keeps the options asked for (opts), so
    that the next run compares those; a rollback mounts the top level again."""
    top = mountinfo.top_mount_at(mountinfo.read(host.mountinfo_path), root)
    restore = {"fstype": top.fstype, "opts": mountopts.describe(top, records.get(root))}
    return [Step("umount", "unmount the top level of the btrfs root from %s" % root, path=root, source=top.source,
                 restore=restore),
            Step("mount_tree", "mount subvolume %s of partition %d, the image's root, at %s" % (subvol, number, root),
                 path=root, number=number, fstype="btrfs", opts=subvolume_root_options(subvol, fs_options, opts),
                 record={"opts": opts, "fstype": None})]


def layout_of(host, root, table, root_number, tree, image_path, root_volume=None, volumes=None, locked=()):
    """The layout.Tree of the image whose root is mounted at root; tree: Want.tree ({"source", "noauto"});
    root_volume, volumes, locked: as for layout.from_fstab."""
    filesystems = host.filesystems or Filesystems()
    return read_layout(root, table, root_number, tree["source"], tree["noauto"], image_path, filesystems.can_mount,
                       root_volume, volumes, locked)


def read_layout(root, table, root_number, source, with_noauto, image_path, can_mount, root_volume=None,
                volumes=None, locked=()):
    """The layout.Tree of the image whose root is mounted at root.

    source auto takes the fstab when it has an entry, else the DPS; fstab
    fails without one. The image's crypttab names its LUKS partitions' insides
    when it has any."""
    entries = None
    if source in ("auto", "fstab"):
        text = inroot.read_text(root, "/etc/fstab")
        entries = fstab.parse(text) if text is not None else []
        if not entries and source == "fstab":
            raise VirtDiskError("its root (partition %d) has %s /etc/fstab (tree_source: fstab)"
                                % (root_number, "no entries in its" if text is not None else "no"))
    if entries:
        crypt = None
        if any(p.get("fstype") == LUKS_FSTYPE for p in table.partitions):
            text = inroot.read_text(root, "/etc/crypttab")
            crypt = layout.crypt_names(crypttab.parse(text), table) if text is not None else None
        return layout.from_fstab(table, root_number, entries, image_path, can_mount, with_noauto, root_volume, volumes,
                                 crypt, locked)
    return layout.from_dps(table, root_number, architecture(table, root_number), dir_state(root), can_mount)


class Phase(object):
    """One pass over the tree.

    nodes: {number: partition node} mapped now, and {("lv", vg, lv): Volume}
    of the logical volumes there are; records: the state file's
    {path: {opts, fstype}}; do(mount, steps) does the steps of one mount
    and returns the node (or Volume) it mounts afterwards (a dry pass does
    nothing and returns None); root_node: the root's partition node or
    volume. entries are the mounts of the tree, root first, as the result's
    "tree" lists them."""

    def __init__(self, host, tree, root, opts, read_only, mapper, nodes, records, do, root_node=None,
                 root_subvol=None):
        self.host = host
        self.tree = tree
        self.root = root
        self.opts = opts
        self.read_only = read_only
        self.mapper = mapper
        self.nodes = dict(nodes)
        self.records = records
        self.do = do
        self.entries = [_root_entry(tree, root, root_node, _root_options(host, root, tree.mounts[0], opts, root_subvol))]
        self.skipped = list(tree.skipped)
        self.steps = []

    def run(self):
        seen = {}
        for mount in self.tree.mounts[1:]:
            host_path = self._place(mount, seen)
            if host_path is None:
                continue
            top = mountinfo.top_mount_at(mountinfo.read(self.host.mountinfo_path), host_path)
            exists = os.path.lexists(host_path)
            if exists and top is None and not os.path.isdir(host_path):
                raise VirtDiskError("%s: the image's %s (%s) is not a directory" % (self._where(mount), mount.target,
                                                                                    host_path))
            steps, skip = decide(mount, host_path, exists, top, self.nodes.get(mount.key),
                                 self.records.get(host_path), self.opts, self.read_only, self.mapper)
            if skip is not None:
                self.skipped.append({"target": mount.target, "source": mount.source, "fstab_line": mount.line,
                                     "reason": skip})
                continue
            self.steps += steps
            node = self.do(mount, steps) if steps else None
            if node is not None:
                self.nodes[mount.key] = node
            self.entries.append(self._entry(mount, host_path, self.nodes.get(mount.key)))
        return self

    def _place(self, mount, seen):
        """The host path of mount's mount point, resolved in the tree as mounted so far; None when it is skipped."""
        try:
            host_path, image_path = inroot.resolve(self.root, mount.target)
        except inroot.OutsideError as e:
            raise VirtDiskError("%s: the mount point %s cannot be used: %s" % (self._where(mount), mount.target, e))
        if host_path == self.root:
            raise VirtDiskError("%s: the mount point %s is the image's root (%s)"
                                % (self._where(mount), mount.target, "it resolves to /" if image_path == "/"
                                   else image_path))
        if host_path in seen:
            raise VirtDiskError("%s: the mount point %s is the same directory as %s (the image's %s)"
                                % (self._where(mount), mount.target, seen[host_path], image_path))
        seen[host_path] = mount.target
        return host_path

    @staticmethod
    def _where(mount):
        return "fstab line %d" % mount.line if mount.origin == "fstab" else mount.source

    def _entry(self, mount, host_path, node):
        return _entry(mount, host_path, node, wanted_options(mount, self.opts))


def pending_root(host, root, number, subvol, fs_options, opts, steps, root_node):
    """The dry pass's answer while the top level of a btrfs root is mounted
    where its subvolume subvol should be: the root's steps; the rest of the
    tree is known once they are done."""
    tree = layout.Tree([layout.Mount("/", number, "btrfs", list(fs_options), "selector",
                                     "partition %d" % number)], [], [], "fstab")
    phase = Phase(host, tree, root, opts, False, None, {}, {}, lambda mount, steps: None, root_node,
                  root_subvol=subvol)
    phase.steps = list(steps)
    return phase


def _root_options(host, root, mount, opts, subvol=None):
    """The root's options: the module's opts; when the root is a btrfs
    subvolume (subvol, else the one mounted at root), after the subvolume and
    the options of the fstab entry that mounts that subvolume (mount)."""
    if subvol is None:
        top = mountinfo.top_mount_at(mountinfo.read(host.mountinfo_path), root)
        if top is None or top.fstype != "btrfs" or top.root in ("/", None):
            return opts
        subvol = top.root.lstrip("/")
    fs_options = mount.options if subvolume(mount.options) == subvol else []
    return subvolume_root_options(subvol, fs_options, opts)


def _root_entry(tree, root, node, opts):
    return _entry(tree.mounts[0], root, node, opts)


def _entry(mount, host_path, node, options):
    """The result's "tree" entry of mount, at host_path on node (None: not there yet), with options."""
    entry = mount.to_dict()
    entry.update(path=host_path, device=node.device if node is not None else None, options=options)
    return entry
