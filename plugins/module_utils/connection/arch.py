# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether this host can run the programs of a mounted image.

The image's architecture is the ELF machine of its /bin/sh (resolved inside
the image). A foreign one runs where binfmt_misc has an enabled handler
whose magic matches that header and that has the F flag: the kernel then
opens the interpreter (qemu-user) when the handler is registered, so it
works inside a chroot that has no qemu of its own.
"""

from __future__ import annotations

import io
import os

from ansible_collections.virt.disk.plugins.module_utils.connection import files
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

BINFMT_DIR = "/proc/sys/fs/binfmt_misc"
# e_machine -> the name uname(2) gives
MACHINES = {0x03: "i686", 0x28: "arm", 0x3E: "x86_64", 0xB7: "aarch64", 0xF3: "riscv64", 0x16: "s390x",
            0x15: "ppc64", 0x08: "mips", 0x102: "loongarch64"}
# what a host runs natively besides its own machine
NATIVE = {"x86_64": ("x86_64", "i686"), "aarch64": ("aarch64",)}
HINT = ("install qemu-user-static and binfmt-support, which register qemu-user with the F flag (the role "
        "virt.disk.image_host does it with image_host_foreign_architectures)")
# machine -> (ELF class, byte order, e_machine) of its executables, for the
# machines image_mount_info reports
ELF_OF = {"x86_64": (2, 1, 0x3E), "i686": (1, 1, 0x03), "aarch64": (2, 1, 0xB7), "armv7l": (1, 1, 0x28),
          "riscv64": (2, 1, 0xF3), "s390x": (2, 2, 0x16), "ppc64le": (2, 1, 0x15), "loongarch64": (2, 1, 0x102)}


class Header(object):
    def __init__(self, data):
        self.data = data
        if len(data) < 20 or data[:4] != b"\x7fELF":
            raise ValueError("not an ELF file")
        order = "little" if data[5] == 1 else "big"
        self.bits = 64 if data[4] == 2 else 32
        self.number = int.from_bytes(data[18:20], order)
        self.machine = MACHINES.get(self.number, "ELF machine %#x" % self.number)
        if self.machine == "ppc64" and order == "little":
            self.machine = "ppc64le"
        if self.machine == "arm" and self.bits == 32:
            self.machine = "armv7l"


def image_header(root, program="/bin/sh"):
    """The ELF header of the image's program, or None where it has none that is ELF."""
    sink = io.BytesIO()
    try:
        files.read(root, program, sink)
        return Header(sink.getvalue()[:64])
    except (VirtDiskError, ValueError):
        return None


def handlers(binfmt_dir=BINFMT_DIR):
    """{name: {"enabled", "interpreter", "flags", "offset", "magic", "mask"}} of binfmt_misc."""
    found = {}
    try:
        names = sorted(os.listdir(binfmt_dir))
    except OSError:
        return found
    for name in names:
        if name in ("register", "status"):
            continue
        try:
            with open(os.path.join(binfmt_dir, name)) as f:
                lines = f.read().splitlines()
        except (IOError, OSError):
            continue
        entry = {"enabled": bool(lines) and lines[0] == "enabled", "flags": "", "offset": 0}
        for line in lines[1:]:
            key, _sep, value = line.partition(" ")
            if key == "flags:":
                entry["flags"] = value.strip()
            elif key == "offset":
                entry["offset"] = int(value)
            elif key in ("interpreter", "magic", "mask"):
                entry[key] = value.strip()
        found[name] = entry
    return found


def matches(entry, data):
    if "magic" not in entry:
        return False
    magic = bytes.fromhex(entry["magic"])
    mask = bytes.fromhex(entry["mask"]) if entry.get("mask") else b"\xff" * len(magic)
    part = data[entry["offset"]:entry["offset"] + len(magic)]
    if len(part) < len(magic):
        return False
    return all((a & m) == (b & m) for a, b, m in zip(part, magic, mask))


def handler_for(found, data):
    """(name, entry) of the binfmt_misc handler of found whose magic matches data (a program's first bytes),
    preferring an enabled one with the F flag (the one the kernel uses for a chroot); (None, None) if none."""
    names = sorted((name for name, e in found.items() if matches(e, data)),
                   key=lambda n: (not found[n]["enabled"], "F" not in found[n]["flags"], n))
    return (names[0], found[names[0]]) if names else (None, None)


def runs_with(entry):
    return entry is not None and entry["enabled"] and "F" in entry["flags"]


def sample_header(machine):
    """The first 64 bytes of an executable (ET_EXEC) of MACHINE, as binfmt_misc matches them."""
    bits, order, number = ELF_OF[machine]
    byteorder = "little" if order == 1 else "big"
    return (b"\x7fELF" + bytes([bits, order, 1, 0]) + b"\0" * 8 + (2).to_bytes(2, byteorder)
            + number.to_bytes(2, byteorder) + (1).to_bytes(4, byteorder) + b"\0" * 40)


def machines(host_machine=None, binfmt_dir=BINFMT_DIR):
    """What this host runs: (the machines whose programs run here, natively or through an enabled
    binfmt_misc handler with the F flag; {foreign machine: its handler} for those that have one,
    usable or not)."""
    host_machine = host_machine or os.uname()[4]
    runs = list(NATIVE.get(host_machine, (host_machine,)))
    found = handlers(binfmt_dir)
    foreign = {}
    for machine in sorted(ELF_OF):
        if machine in runs:
            continue
        name, e = handler_for(found, sample_header(machine))
        if name is None:
            continue
        foreign[machine] = {"handler": name, "enabled": e["enabled"], "flags": e["flags"],
                            "interpreter": e.get("interpreter")}
        if runs_with(e):
            runs.append(machine)
    return runs, foreign


def check(root, image, host_machine=None, binfmt_dir=BINFMT_DIR):
    """The image's machine; raises VirtDiskError when this host cannot run its programs."""
    header = image_header(root)
    if header is None:
        return None  # no ELF /bin/sh: nothing runs there but what the user brings (raw)
    host_machine = host_machine or os.uname()[4]
    if header.machine in NATIVE.get(host_machine, (host_machine,)):
        return header.machine
    name, entry = handler_for(handlers(binfmt_dir), header.data)
    if runs_with(entry):
        return header.machine
    if entry is not None and entry["enabled"]:
        why = "binfmt_misc handler %s has no F flag, so its interpreter would be looked for inside the image" % name
    else:
        why = "binfmt_misc has no enabled handler for it"
    raise VirtDiskError("%s is a %s image and this host is %s: %s; %s"
                        % (image, header.machine, host_machine, why, HINT), step="foreign architecture")
