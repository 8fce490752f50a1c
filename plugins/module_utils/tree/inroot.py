# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Paths inside a mounted image, resolved as the image's own root sees them.

An image is untrusted: its /etc/fstab may be a symlink to /etc/shadow of the
host, its /var a symlink to /etc, a mount point may say /../../root. Every
path of the image is resolved here the way chroot(2) would see it: ".." stops
at the root, and a symlink's target (absolute or relative) is resolved again
inside the root, so the result is always beneath the root. This is what
openat2(2) does with RESOLVE_IN_ROOT; it is done component by component with
lstat and readlink, so it works on every kernel, and the file is then opened
with O_NOFOLLOW so that a symlink swapped in meanwhile is not followed.
"""

from __future__ import annotations

import errno
import os
import stat

MAX_LINKS = 40  # as the kernel's path walk (ELOOP)


class OutsideError(Exception):
    """A path that cannot be resolved inside the root (a symlink loop, or a
    component that is not a directory); the message says which."""


def resolve(root, path, follow_last=True):
    """(host_path, image_path): path of the image resolved inside root.

    Components that do not exist are kept as they are (a mount point to be
    created); a symlink is never resolved outside root. image_path is the
    result in the image's terms ("/etc/fstab")."""
    root = os.path.abspath(root)
    done = []  # resolved components below root
    todo = _components(path)
    links = 0
    missing = False  # below a component that does not exist, the rest is taken as written
    while todo:
        name = todo.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        if missing:
            done.append(name)
            continue
        current = os.path.join(root, *(done + [name]))
        try:
            info = os.lstat(current)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            missing = True
            done.append(name)
            continue
        if stat.S_ISLNK(info.st_mode) and (todo or follow_last):
            links += 1
            if links > MAX_LINKS:
                raise OutsideError("too many levels of symbolic links in %s" % path)
            target = os.readlink(current)
            if target.startswith("/"):
                done = []
            todo = _components(target) + todo
            continue
        if todo and not stat.S_ISDIR(info.st_mode):
            raise OutsideError("%s in %s is not a directory" % ("/" + "/".join(done + [name]), path))
        done.append(name)
    return os.path.join(root, *done) if done else root, "/" + "/".join(done)


def _components(path):
    return [c for c in path.split("/") if c and c != "."]


def read_text(root, path, limit=1 << 20):
    """The text of the image's file at path (resolved inside root), or None
    when there is none. Only a regular file is read, at most limit bytes."""
    try:
        host_path, _image_path = resolve(root, path)
    except OutsideError:
        return None
    try:
        fd = os.open(host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, limit)
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")


def is_empty_dir(host_path):
    try:
        return stat.S_ISDIR(os.lstat(host_path).st_mode) and not os.listdir(host_path)
    except OSError:
        return False
