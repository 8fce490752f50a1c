# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""nbd devices as the kernel reports them: whether the host has nbd, its
max_part, and which devices are connected, to which served file.

Connecting and disconnecting is the nbd backend's (backends/nbd.py).
"""

from __future__ import annotations

SERVER = "qemu-nbd"
# qemu-nbd options that take a value as the next argument
_WITH_VALUE = frozenset("-p --port -o --offset -b --bind -k --socket -f --format -P --partition -B --bitmap "
                        "-l --load-snapshot -c --connect -d --disconnect -e --shared -x --export-name -D --description "
                        "--cache --aio --discard --detect-zeroes --object --tls-creds --tls-hostname "
                        "--tls-authz --pid-file -T --trace -A --handshake-limit".split())


def available(sysfs):
    """True if the kernel has nbd devices."""
    return sysfs.exists("block", "nbd0")


def max_part(sysfs):
    return sysfs.read_int("module", "nbd", "parameters", "max_part") or 0


def _split(argv):
    """(flags, positional arguments) of a qemu-nbd command line; the values
    of options that take one are in neither."""
    flags, positional = [], []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in _WITH_VALUE:
            skip = True
        elif arg.startswith("-"):
            flags.append(arg)
        else:
            positional.append(arg)
    return flags, positional


def served_file(argv):
    """The image path a qemu-nbd command line serves (its one positional argument)."""
    positional = _split(argv)[1]
    return positional[-1] if positional else None


def connections(sysfs, procs):
    """Connected nbd devices: (name, server pid, served path resolved, argv)."""
    found = []
    for name in sysfs.block_devices("nbd"):
        pid = sysfs.nbd_pid(name)
        if pid is None:
            continue
        pid = procs.tgid(pid)
        argv = procs.argv(pid) or []
        path = served_file(argv) if argv else None
        found.append((name, pid, procs.resolve(pid, path) if path else None, argv))
    return found


def format_of(argv):
    """The --format a qemu-nbd command line names, or None."""
    for i, arg in enumerate(argv[:-1]):
        if arg in ("-f", "--format"):
            return argv[i + 1]
    for arg in argv:
        if arg.startswith("--format="):
            return arg.split("=", 1)[1]
    return None


def snapshot_of(argv):
    """Whether a qemu-nbd command line sends writes to a temporary overlay (-s, --snapshot)."""
    return bool(set(("-s", "--snapshot")) & set(_split(argv)[0]))
