# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tree of an image's operating system: which partition is mounted where
beneath the root, from the image's fstab or, without one, from the
Discoverable Partitions Specification. A pure function of the partition
table, the fstab entries and what the kernel can mount, so unit tests cover
every rule; the executor mounts the result in order."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import dps, selector
from ansible_collections.virt.disk.plugins.module_utils.image.parttable import describe
from ansible_collections.virt.disk.plugins.module_utils.tree import fstab


class Mount(object):
    """One mount of the tree: target (in the image, "/" for the root),
    partition number, fstype (None: detect), options (list), origin
    ("selector", "fstab", "dps"), source (the fstab source or a description),
    line (of the fstab, or None)."""

    def __init__(self, target, number, fstype, options, origin, source, line=None):
        self.target = target
        self.number = number
        self.fstype = fstype
        self.options = options
        self.origin = origin
        self.source = source
        self.line = line

    def to_dict(self):
        return {"target": self.target, "partition": self.number, "fstype": self.fstype,
                "options": ",".join(self.options), "origin": self.origin, "source": self.source,
                "fstab_line": self.line}

    def __repr__(self):
        return "Mount(%s <- %d %s)" % (self.target, self.number, ",".join(self.options))


class Tree(object):
    """mounts (root first, parents before children), skipped ([{target,
    source, reason}]), warnings, and where the layout came from ("fstab" or
    "dps")."""

    def __init__(self, mounts, skipped, warnings, origin):
        self.mounts = mounts
        self.skipped = skipped
        self.warnings = warnings
        self.origin = origin


def normalize(target):
    """A mount point in the image's terms: absolute, no "." or "..", ".." at
    the root stays at the root."""
    parts = []
    for name in target.split("/"):
        if name in ("", "."):
            continue
        if name == "..":
            if parts:
                parts.pop()
        else:
            parts.append(name)
    return "/" + "/".join(parts)


def depth(target):
    return 0 if target == "/" else target.count("/")


def find_source(entry, table):
    """The partition number an fstab entry names on this table, or None.
    Raises VirtDiskError when it names several."""
    if entry.kind == "device":
        return entry.value if table.get(entry.value) is not None else None
    if entry.kind is None:
        return None
    found = selector.matching(table, entry.kind, entry.value)
    if len(found) > 1:
        raise VirtDiskError("fstab line %d: %s matches several partitions (%s); the image's fstab is ambiguous"
                            % (entry.line, entry.source, ", ".join(str(n) for n in found)))
    return found[0] if found else None


def from_fstab(table, root_number, entries, image, can_mount, with_noauto=False):
    """The tree an fstab describes. entries: fstab.parse() of the image's
    fstab. can_mount(fstype) says whether this kernel mounts that
    filesystem. Fails (VirtDiskError) on a source that is not in this image
    (unless the entry says nofail), a root entry that cannot be mounted, and
    two entries for one mount point."""
    mounts = [Mount("/", root_number, None, [], "selector", "partition %d" % root_number)]
    skipped, warnings = [], []
    seen = {}
    for entry in entries:
        target = normalize(entry.target) if entry.target.startswith("/") else entry.target
        why = fstab.skip_reason(entry, with_noauto)
        if why is not None:
            skipped.append({"target": target, "source": entry.source, "fstab_line": entry.line, "reason": why})
            continue
        number = find_source(entry, table)
        if number is None:
            what = ("it names no partition of a disk (LVM, RAID or another disk's device)" if entry.kind is None
                    else "no partition of the image has %s" % entry.source)
            if entry.nofail:
                warnings.append("fstab line %d: %s for %s is not in %s (%s); skipped (nofail)"
                                % (entry.line, entry.source, target, image, what))
                skipped.append({"target": target, "source": entry.source, "fstab_line": entry.line,
                                "reason": "not in this image (nofail)"})
                continue
            raise VirtDiskError("fstab line %d: %s for %s is not in %s: %s; the image has: %s"
                                % (entry.line, entry.source, target, image, what, describe(table)))
        if entry.kind == "device":
            warnings.append("fstab line %d: %s names a device of the machine the image ran on; taken as "
                            "partition %d of the image" % (entry.line, entry.source, number))
        fstype = entry.fstype if entry.fstype not in ("auto", "") else selector.fstype_of(table, number)
        options = fstab.mount_options(entry)
        if target == "/":
            if number != root_number:
                warnings.append("fstab line %d: the image's fstab mounts %s (partition %d) at /; partition %d "
                                "was selected as the root" % (entry.line, entry.source, number, root_number))
            else:
                mounts[0] = Mount("/", root_number, fstype, options, "fstab", entry.source, entry.line)
            continue
        if target in seen:
            raise VirtDiskError("fstab lines %d and %d of %s both mount at %s"
                                % (seen[target], entry.line, image, target))
        seen[target] = entry.line
        if fstype and not can_mount(fstype):
            warnings.append("fstab line %d: %s (%s) is not mounted at %s: this kernel cannot mount %s"
                            % (entry.line, entry.source, fstype, target, fstype))
            skipped.append({"target": target, "source": entry.source, "fstab_line": entry.line,
                            "reason": "this kernel cannot mount %s" % fstype})
            continue
        mounts.append(Mount(target, number, fstype, options, "fstab", entry.source, entry.line))
    root_fstype = mounts[0].fstype or selector.fstype_of(table, root_number)
    if root_fstype and not can_mount(root_fstype):
        raise VirtDiskError("the root of %s (partition %d) is %s, which this kernel cannot mount"
                            % (image, root_number, root_fstype))
    return Tree(_ordered(mounts), skipped, warnings, "fstab")


def from_dps(table, root_number, arch, dir_state, can_mount):
    """The tree the Discoverable Partitions Specification gives a GPT disk."""
    mounts = [Mount("/", root_number, None, [], "selector", "partition %d" % root_number)]
    skipped, warnings = [], []
    if table.label != "gpt":
        return Tree(mounts, skipped, warnings, "dps")
    placed, left = dps.places(table.partitions, arch, root_number, dir_state)
    for part, target, reason in left:
        skipped.append({"target": target, "source": "partition %d" % part["number"], "fstab_line": None,
                        "reason": reason})
    for target, part in placed:
        fstype = part.get("fstype")
        if not fstype:
            skipped.append({"target": target, "source": "partition %d" % part["number"], "fstab_line": None,
                            "reason": "no filesystem on it"})
            continue
        if not can_mount(fstype):
            warnings.append("partition %d (%s) is not mounted at %s: this kernel cannot mount %s"
                            % (part["number"], fstype, target, fstype))
            skipped.append({"target": target, "source": "partition %d" % part["number"], "fstab_line": None,
                            "reason": "this kernel cannot mount %s" % fstype})
            continue
        mounts.append(Mount(target, part["number"], fstype, [], "dps", "partition %d" % part["number"]))
    return Tree(_ordered(mounts), skipped, warnings, "dps")


def _ordered(mounts):
    """Parents before children; the fstab's order among equals."""
    return sorted(mounts, key=lambda m: (depth(m.target), mounts.index(m)))
