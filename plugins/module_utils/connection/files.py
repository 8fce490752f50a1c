# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files of a mounted image read and written from the host (the connection's
put_file and fetch_file), never anything of the host.

Paths are resolved inside the image's root as chroot(2) would see them:
with openat2(2) and RESOLVE_IN_ROOT where the kernel has it (5.6 and later),
else component by component (tree/inroot.py) and opened with O_NOFOLLOW.
What is opened must be a regular file, on none of the host's filesystems
that the chroot runtime puts into the tree (the bound /dev, devpts, /proc,
/sys, the bound resolv.conf) nor on the host's root filesystem: a symlink in
the image to /dev/sda or to a file on those is refused, not followed out.
A file is written only once opened and checked, so refusing writes nothing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.tree import inroot

SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall tables were unified)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10
CHUNK = 1 << 20
RUNTIME_PATHS = ("/dev", "/dev/pts", "/proc", "/sys")

_openat2_missing = []  # set once the kernel said ENOSYS


def _openat2(dirfd, path, flags, mode=0):
    """openat2(dirfd, path, {flags, mode, RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS}); None where the kernel lacks it."""
    if _openat2_missing:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    how = ctypes.create_string_buffer(struct.pack("=QQQ", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS))
    fd = libc.syscall(ctypes.c_long(SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(os.fsencode(path)),
                      how, ctypes.c_size_t(24))
    if fd < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM) and not _openat2_missing:  # EPERM: a seccomp filter that refuses it
            _openat2_missing.append(err)
            return None
        raise OSError(err, os.strerror(err), path)
    return fd


def open_in_root(root, path, flags, mode=0):
    """A descriptor of the image's path (resolved inside root), opened with flags."""
    flags |= getattr(os, "O_CLOEXEC", 0)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = _openat2(root_fd, path.lstrip("/") or ".", flags, mode)
    finally:
        os.close(root_fd)
    if fd is not None:
        return fd
    try:
        host_path, _image_path = inroot.resolve(root, path, follow_last=True)
    except inroot.OutsideError as e:
        raise OSError(errno.ELOOP, str(e), path)
    return os.open(host_path, flags | os.O_NOFOLLOW, mode)


def host_devices(root):
    """st_dev of the host's filesystems a path in the tree could reach: the
    runtime's mounts and the host's root filesystem (unless the image's root
    is on it, as for a directory given as the image)."""
    devs = set()
    for target in RUNTIME_PATHS:
        try:
            devs.add(os.stat(inroot.resolve(root, target)[0]).st_dev)
        except (OSError, inroot.OutsideError):
            pass
    for path in ("/", os.path.realpath("/etc/resolv.conf")):
        try:
            devs.add(os.stat(path).st_dev)
        except OSError:
            pass
    try:
        devs.discard(os.stat(root).st_dev)
    except OSError:
        pass
    return devs


def _open(root, path, flags, what, noun=""):
    try:
        return open_in_root(root, path, flags)
    except OSError as e:
        raise VirtDiskError("cannot open %s%s in the image: %s" % (noun, path, e.strerror), step=what)


def _check(fd, host_devs, path, what):
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise VirtDiskError("%s in the image is a directory" % path, step=what)
    if not stat.S_ISREG(info.st_mode):
        raise VirtDiskError("%s in the image is not a regular file; only regular files are copied" % path, step=what)
    if info.st_dev in host_devs:
        raise VirtDiskError("%s in the image resolves to a file of the host (through the chroot runtime's mounts); "
                            "refused" % path, step=what)


def _image_path(path):
    return os.path.normpath("/" + path.lstrip("/"))


def write(root, path, source, mode=0o600, offset=0):
    """Write what source (a binary file object) holds to the image's path
    (absolute, or relative to its /). The file is created where missing,
    else replaced in place; a symlink or anything but a regular file there
    is refused. With offset, what source holds replaces the file from there
    on (a file sent in pieces)."""
    path = _image_path(path)
    what = "put %s" % path
    parent, name = os.path.split(path)
    if not name:
        raise VirtDiskError("%s is a directory" % path, step=what)
    host_devs = host_devices(root)
    dir_fd = _open(root, parent, os.O_RDONLY | os.O_DIRECTORY, what, "the directory ")
    try:
        if os.fstat(dir_fd).st_dev in host_devs:
            raise VirtDiskError("the directory %s in the image resolves to one of the host (through the chroot "
                                "runtime's mounts); refused" % parent, step=what)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0),
                         mode, dir_fd=dir_fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise VirtDiskError("%s in the image is a symbolic link; refused" % path, step=what)
            raise VirtDiskError("cannot create %s in the image: %s" % (path, e.strerror), step=what)
    finally:
        os.close(dir_fd)
    try:
        _check(fd, host_devs, path, what)
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    except OSError as e:
        raise VirtDiskError("cannot write %s in the image: %s" % (path, e.strerror), step=what)
    finally:
        os.close(fd)
    return path


def read(root, path, sink, offset=0, length=None):
    """Copy the image's regular file at path (resolved inside root) to sink
    (a binary file object): all of it, or length bytes from offset on (a file
    fetched in pieces)."""
    path = _image_path(path)
    what = "fetch %s" % path
    fd = _open(root, path, os.O_RDONLY | os.O_NONBLOCK, what)
    try:
        _check(fd, host_devices(root), path, what)
        os.lseek(fd, offset, os.SEEK_SET)
        left = length
        while left is None or left > 0:
            chunk = os.read(fd, CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                break
            sink.write(chunk)
            if left is not None:
                left -= len(chunk)
    except OSError as e:
        raise VirtDiskError("cannot read %s in the image: %s" % (path, e.strerror), step=what)
    finally:
        os.close(fd)
    return path
