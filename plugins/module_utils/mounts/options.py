# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Mount options: the wanted ones against what is mounted, and what it takes
to get from one to the other.

Options fall in two groups. The generic flags of a mount (ro/rw, nosuid,
nodev, noexec, the atime family, nodiratime, nosymfollow) are what
/proc/self/mountinfo shows for every mount, and a remount changes them. The
rest belong to the filesystem (data=journal, nouuid, subvol=...): the kernel
shows them in its own words or not at all, so they are compared with what
this collection recorded when it mounted (statefile), and changing them takes
an unmount and a new mount. A mount made by someone else, with no record, is
compared on its generic flags only.
"""

from __future__ import annotations

# option -> (flag, value); the flags of a mount made with no options are DEFAULT_FLAGS
_FLAGS = {
    "ro": ("ro", True), "rw": ("ro", False),
    "nosuid": ("nosuid", True), "suid": ("nosuid", False),
    "nodev": ("nodev", True), "dev": ("nodev", False),
    "noexec": ("noexec", True), "exec": ("noexec", False),
    "noatime": ("atime", "noatime"), "relatime": ("atime", "relatime"), "strictatime": ("atime", "strictatime"),
    "nodiratime": ("nodiratime", True), "diratime": ("nodiratime", False),
    "nosymfollow": ("nosymfollow", True), "symfollow": ("nosymfollow", False),
}
DEFAULT_FLAGS = {"ro": False, "nosuid": False, "nodev": False, "noexec": False, "atime": "relatime",
                 "nodiratime": False, "nosymfollow": False}
# options that say how or when to mount at boot, not how the filesystem behaves
_BOOT_ONLY = frozenset(["defaults", "auto", "noauto", "nofail", "user", "nouser", "users", "owner", "group",
                        "_netdev", "async", "remount", "bind", "rbind"])


def split(opts):
    return [o.strip() for o in (opts or "").split(",") if o.strip()]


def subvol(options):
    """The value of a btrfs subvol= option in a list of options, as written
    (subvol=/@home gives "/@home"), or None."""
    for option in options:
        if option.startswith("subvol="):
            return option[len("subvol="):]
    return None


def with_subvol(name, opts):
    """opts with subvol=name first."""
    return ",".join(["subvol=" + name] + split(opts))


def boot_only(option):
    """An option that says how or when to mount at boot, not how the filesystem behaves."""
    return option in _BOOT_ONLY or option.startswith("x-") or option.startswith("comment=")


def wanted(opts, read_only):
    """(flags, fs_options) of a mount made with opts and read_only."""
    flags = dict(DEFAULT_FLAGS)
    fs_options = []
    for option in split(opts):
        if option in _FLAGS:
            name, value = _FLAGS[option]
            flags[name] = value
        elif not boot_only(option) and option not in fs_options:
            fs_options.append(option)
    if read_only:
        flags["ro"] = True
    return flags, sorted(fs_options)


def live(options):
    """The flags of a mount from mountinfo's per-mount options field."""
    given = set(split(options))
    flags = dict((name, name in given) for name in ("ro", "nosuid", "nodev", "noexec", "nodiratime", "nosymfollow"))
    flags["atime"] = "noatime" if "noatime" in given else "relatime" if "relatime" in given else "strictatime"
    return flags


def render(flags, fs_options=()):
    """Flags and filesystem options as one option string, in a fixed order."""
    out = ["ro" if flags["ro"] else "rw"]
    out += [name for name in ("nosuid", "nodev", "noexec", "nodiratime", "nosymfollow") if flags[name]]
    out.append(flags["atime"])
    return ",".join(out + list(fs_options))


def compare(mount, record, opts, fstype, read_only):
    """What it takes to make mount (a mountinfo.Mount) what is wanted: None
    (it is), "remount" (only generic flags differ), or "mount" (the fstype or
    the filesystem's options differ: unmount and mount again). record is what
    this collection recorded when it made the mount ({"opts", "fstype"}), or None."""
    flags, fs_options = wanted(opts, read_only)
    if fstype and fstype != "auto" and fstype != mount.fstype:
        return "mount"
    if record is not None:
        _flags, recorded = wanted(record.get("opts"), False)
        if recorded != fs_options:
            return "mount"
    if live(mount.options) != flags:
        return "remount"
    return None


def describe(mount, record=None):
    """The options of a mount as render() writes them, for diffs and results."""
    fs_options = wanted(record.get("opts"), False)[1] if record else []
    return render(live(mount.options), fs_options)
