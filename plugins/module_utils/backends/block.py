# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The block backend: a block device used as it is. Nothing is attached; its
partitions are the ones its kernel made, and only what mapping added goes at
teardown."""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment, Backend


class Block(Backend):
    name = "block"
    kinds = ("block",)
    detaches = False

    def find(self, host, image, claimed, loops=None):
        if image.kind != "block":
            return []
        name = host.sysfs.name_of(*image.rdev)
        att = Attachment(self, image.path, host.sysfs.read_only(name) if name else False, image=image.path, fmt="raw")
        att.name = name or att.name
        return [att]

    def attach(self, host, image, fmt, read_only, allow_backing_file, did, snapshot=False):
        return image.path, None

    def detach(self, host, att, did):
        return None


BACKEND = Block()
