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
from ansible_collections.virt.disk.plugins.module_utils.volumes.key import LUKS_FSTYPE, spec_text


class Mount(object):
    """One mount of the tree: target (in the image, "/" for the root),
    partition number, fstype (None: detect), options (list), origin
    ("selector", "fstab", "dps"), source (the fstab source or a description),
    line (of the fstab, or None), volume (what is mounted instead of the
    partition: a logical volume of the image, {"kind": "lv", "vg", "lv"},
    number then None or the root's selected number; or the inside of LUKS
    partition number, {"kind": "luks", "number"})."""

    def __init__(self, target, number, fstype, options, origin, source, line=None, volume=None):
        self.target = target
        self.number = number
        self.fstype = fstype
        self.options = options
        self.origin = origin
        self.source = source
        self.line = line
        self.volume = volume

    @property
    def key(self):
        """What is mounted: the partition number, ("lv", vg, lv) or ("luks", number)."""
        return self.number if self.volume is None else volume_key(self.volume)

    @property
    def what(self):
        return "partition %d" % self.number if self.volume is None else spec_text(self.volume)

    def to_dict(self):
        lv = self.volume is not None and self.volume["kind"] == "lv"
        return {"target": self.target, "partition": None if lv else self.number,
                "volume": lv_text(self.volume) if lv else None,
                "encrypted": self.volume is not None and self.volume["kind"] == "luks", "fstype": self.fstype,
                "options": ",".join(self.options), "origin": self.origin, "source": self.source,
                "fstab_line": self.line}

    def __repr__(self):
        return "Mount(%s <- %s %s)" % (self.target, self.what, ",".join(self.options))


def volume_key(volume):
    if volume["kind"] == "luks":
        return ("luks", volume["number"])
    return ("lv", volume["vg"], volume["lv"])


def lv_text(volume):
    return "%s/%s" % (volume["vg"], volume["lv"])


def split_dm_name(name):
    """lvm2's dm name VG-LV as (vg, lv): the first "-" that is not doubled
    separates them, and "--" stands for "-"; None when there is none."""
    i = 0
    while i < len(name):
        if name[i] == "-":
            if name[i + 1:i + 2] == "-":
                i += 2
                continue
            vg, lv = name[:i], name[i + 1:]
            return (vg.replace("--", "-"), lv.replace("--", "-")) if vg and lv else None
        i += 1
    return None


def find_volume(entry, volumes):
    """The volume an fstab entry names, an entry of volumes: a logical
    volume (volumes.lvm.filesystems: "vg", "lv", ...) by /dev/VG/LV,
    /dev/mapper/VG-LV, its dm uuid LVM-..., or the UUID or LABEL of the
    filesystem on it; the inside of a LUKS partition ({"number", "fstype",
    "uuid", "label"}) by the UUID or LABEL of its filesystem; None. Raises
    VirtDiskError when it names several."""
    kind, value = entry.kind, entry.value
    lvs = [v for v in volumes if "vg" in v]
    if kind == "lv":
        want = tuple(value.split("/", 1))
        found = [v for v in lvs if (v["vg"], v["lv"]) == want]
    elif kind == "dm_name":
        want = split_dm_name(value)
        found = [v for v in lvs if (v["vg"], v["lv"]) == want]
    elif kind == "dm_uuid":
        found = [v for v in lvs if v["vg_uuid"] and v["lv_uuid"]
                 and value == "LVM-" + (v["vg_uuid"] + v["lv_uuid"]).replace("-", "")]
    elif kind in ("uuid", "label"):
        found = [v for v in volumes if v[kind] is not None
                 and (v[kind].lower() == value.lower() if kind == "uuid" else v[kind] == value)]
    else:
        found = []
    if len(found) > 1:
        raise VirtDiskError("fstab line %d: %s matches several volumes of the image (%s); the image's fstab is "
                            "ambiguous" % (entry.line, entry.source, ", ".join(spec_text(as_spec(v)) for v in found)))
    return found[0] if found else None


def as_spec(found):
    """The Mount.volume of an entry find_volume returns."""
    if "vg" in found:
        return {"kind": "lv", "vg": found["vg"], "lv": found["lv"]}
    return {"kind": "luks", "number": found["number"]}


def crypt_names(entries, table):
    """{name: partition number} of the image's crypttab entries
    (tree.crypttab.parse) whose device is a LUKS partition of table."""
    names = {}
    for entry in entries:
        found = partitions_named(entry, table)
        if len(found) == 1 and selector.fstype_of(table, found[0]) == LUKS_FSTYPE:
            names[entry.name] = found[0]
    return names


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


def partitions_named(entry, table):
    """The numbers of the partitions of table that an fstab or crypttab entry's source names."""
    if entry.kind == "device":
        return [entry.value] if table.get(entry.value) is not None else []
    if entry.kind is None:
        return []
    return selector.matching(table, entry.kind, entry.value)


def find_source(entry, table):
    """The partition number an fstab entry names on this table, or None.
    Raises VirtDiskError when it names several."""
    found = partitions_named(entry, table)
    if len(found) > 1:
        raise VirtDiskError("fstab line %d: %s matches several partitions (%s); the image's fstab is ambiguous"
                            % (entry.line, entry.source, ", ".join(str(n) for n in found)))
    return found[0] if found else None


def from_fstab(table, root_number, entries, image, can_mount, with_noauto=False, root_volume=None, volumes=None,
               crypt=None, locked=()):
    """The tree an fstab describes. entries: fstab.parse() of the image's
    fstab. can_mount(fstype) says whether this kernel mounts that
    filesystem. root_volume: the volume selected as the root (a logical
    volume, or the inside of a LUKS partition), or None. volumes: a callable
    that returns the image's volumes and the filesystems on them (see
    find_volume), called only when an entry is not a partition; None when
    the image has neither LVM nor LUKS. crypt: {name: LUKS partition number}
    of the image's crypttab (crypt_names). locked: the LUKS partitions that
    stay closed for want of a key. Fails (VirtDiskError) on a source that is
    not in this image (unless the entry says nofail), a root entry that
    cannot be mounted, and two entries for one mount point."""
    mounts = [_root(root_number, root_volume)]
    skipped, warnings = [], []
    seen = {}
    known = []
    for entry in entries:
        target = normalize(entry.target) if entry.target.startswith("/") else entry.target
        why = fstab.skip_reason(entry, with_noauto)
        if why is not None:
            skipped.append({"target": target, "source": entry.source, "fstab_line": entry.line, "reason": why})
            continue
        number = find_source(entry, table)
        volume = found = None
        if number is None and entry.kind == "dm_name" and entry.value in (crypt or {}):
            number = crypt[entry.value]
            volume = {"kind": "luks", "number": number}
        elif number is None and entry.kind not in (None, "device") and volumes is not None:
            if not known:
                known.append(volumes())
            found = find_volume(entry, known[0])
            if found is not None:
                volume = as_spec(found)
                number = volume.get("number")
        if number is None and volume is None:
            places = "partition or volume" if volumes is not None else "partition"
            what = ("it names no partition of a disk (RAID or another disk's device)" if entry.kind is None
                    else "neither a partition nor a volume of the image is %s" % entry.source
                    if entry.kind in ("lv", "dm_name", "dm_uuid")
                    else "no %s of the image has %s" % (places, entry.source))
            if locked:
                what += " (partition%s %s %s LUKS-encrypted and no key was given: set passphrase or keyfile to " \
                        "look inside)" % ("s" if len(locked) > 1 else "", ", ".join(map(str, locked)),
                                          "are" if len(locked) > 1 else "is")
            if target == "/":
                # the root is the one selected and mounted already; its fstab line may name it in a way
                # this image cannot show (a LUKS mapping by its crypttab name, a device of another machine)
                warnings.append("fstab line %d: the image's fstab mounts %s at /, which is not in %s (%s); %s "
                                "was selected as the root" % (entry.line, entry.source, image, what, mounts[0].what))
                continue
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
        if volume is not None:
            fstype = entry.fstype if entry.fstype not in ("auto", "") else found["fstype"] if found else None
        else:
            fstype = entry.fstype if entry.fstype not in ("auto", "") else selector.fstype_of(table, number)
        options = fstab.mount_options(entry)
        here = Mount(target, number, fstype, options, "fstab", entry.source, entry.line, volume=volume)
        if target == "/":
            if here.key != mounts[0].key:
                warnings.append("fstab line %d: the image's fstab mounts %s (%s) at /; %s was selected as the root"
                                % (entry.line, entry.source, here.what, mounts[0].what))
            else:
                mounts[0] = Mount("/", root_number, fstype, options, "fstab", entry.source, entry.line,
                                  volume=root_volume)
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
        mounts.append(here)
    root_fstype = mounts[0].fstype or (selector.fstype_of(table, root_number) if root_volume is None else None)
    if root_fstype and not can_mount(root_fstype):
        raise VirtDiskError("the root of %s (%s) is %s, which this kernel cannot mount"
                            % (image, mounts[0].what, root_fstype))
    return Tree(_ordered(mounts), skipped, warnings, "fstab")


def _root(root_number, root_volume):
    if root_volume is not None:
        return Mount("/", root_number, None, [], "selector", spec_text(root_volume), volume=root_volume)
    return Mount("/", root_number, None, [], "selector", "partition %d" % root_number)


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
