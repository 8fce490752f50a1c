# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""LUKS (1 and 2) partitions of an image: opened with the task's key under a
name of ours (stack.luks_name), closed again.

The key never appears on a command line: a passphrase goes to cryptsetup on
its stdin (--key-file=-), a key file by its path.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.volumes import dm


def open_(host, device, name, key, read_only, image):
    """cryptsetup open DEVICE as NAME with key (volumes.key.Key); a wrong key fails and leaves nothing open."""
    if not key:
        raise VirtDiskError("%s of %s is LUKS-encrypted and no key was given: set passphrase or keyfile"
                            % (device, image), step="open the LUKS partition %s" % device)
    args = ["cryptsetup", "open", "--type", "luks"] + (["--readonly"] if read_only else [])
    data = None
    if key.keyfile is not None:
        args += ["--key-file", key.keyfile]
    else:
        args += ["--key-file=-"]
        data = key.passphrase.encode("utf-8")
    rc, out, err = host.runner.run(args + [device, name], step="open the LUKS partition %s" % device, check=False,
                                   data=data)
    if rc != 0:
        text = (err or out).strip()
        # cryptsetup: 2 is "no key available with this passphrase" (a wrong key)
        why = "the key does not open it" if rc == 2 else "cryptsetup open exited with %d" % rc
        raise VirtDiskError("cannot open the LUKS partition %s of %s: %s" % (device, image, why),
                            step="open the LUKS partition %s" % device, tool_error=text)
    dm.wait_node(host, name)
