# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Discoverable Partitions Specification (uapi-group.org): the GPT
partition types, the root type the selector's `auto` looks for, and where the
partitions of a disk without an fstab go, as systemd-gpt-auto-generator and
systemd-dissect place them."""

from __future__ import annotations

# the root partition type per architecture
ROOT = {
    "x86_64": "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
    "amd64": "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
    "aarch64": "b921b045-1df0-41c3-af44-4c6f280d3fae",
    "arm64": "b921b045-1df0-41c3-af44-4c6f280d3fae",
    "i386": "44479540-f297-41b2-9af7-d131d5f0458a",
    "i686": "44479540-f297-41b2-9af7-d131d5f0458a",
    "armv7l": "69dad710-2ce4-4e3c-b16c-21a1d49abed3",
    "riscv64": "72ec70a6-cf74-40e6-bd49-4bda08e8f224",
    "ppc64le": "c31c45e6-3f39-412e-80fb-4809c4980599",
    "s390x": "5eead9a9-fe09-4a1e-a1d7-520d00531306",
}
ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
XBOOTLDR = "bc13c2ff-59e6-4262-a352-b275fd6f7172"
SWAP = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"
# type -> mount point, for the types that do not depend on the architecture
FIXED = {
    "933ac7e1-2eb4-4f13-b844-0e14e2aef915": "/home",
    "3b8f8425-20e0-4f3b-907f-1a25a76f98e8": "/srv",
    "4d21b016-b534-45c2-a9fb-5c16e091fd2d": "/var",
    "7ec6f557-3bc5-4aca-b293-16ef5df639d1": "/var/tmp",
}
# /usr, per architecture
USR = {
    "x86_64": "8484680c-9521-48c6-9c11-b0720656f69e",
    "amd64": "8484680c-9521-48c6-9c11-b0720656f69e",
    "aarch64": "b0e01050-ee5f-4390-949a-9101b17104e9",
    "arm64": "b0e01050-ee5f-4390-949a-9101b17104e9",
}


def places(partitions, arch, root_number, dir_state):
    """[(mount point, partition)] of the DPS-typed partitions, and
    [(partition, mount point, reason)] of those left out.

    dir_state(image_path) says what the root has there: "missing", "empty"
    or "full". As systemd does, a partition is not mounted over a directory
    that has files (the image's own contents there win); the ESP goes to
    /efi when there is an XBOOTLDR partition (it takes /boot) or when the
    root has /efi, else to /boot."""
    placed, left = [], []
    types = [p.get("type") for p in partitions]
    usr = USR.get(arch)
    for part in partitions:
        if part["number"] == root_number:
            continue
        ptype = part.get("type")
        if ptype == ESP:
            target = "/efi" if XBOOTLDR in types or dir_state("/efi") != "missing" else "/boot"
        elif ptype == XBOOTLDR:
            target = "/boot"
        elif ptype in FIXED:
            target = FIXED[ptype]
        elif usr is not None and ptype == usr:
            target = "/usr"
        else:
            continue
        if any(t == target for t, _p in placed):
            first = [p for t, p in placed if t == target][0]["number"]
            left.append((part, target, "partition %d of the same type comes first (%s)" % (first, target)))
            continue
        if dir_state(target) == "full":
            left.append((part, target, "the image's %s has files (the Discoverable Partitions Specification mounts "
                                       "only over an empty or missing directory)" % target))
            continue
        placed.append((target, part))
    return placed, left
