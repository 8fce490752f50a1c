# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A probed partition table: the model the probe returns, the selector reads
and the image cache keeps, and the one-line description error messages use.

Kept apart from probe.py so that a run whose table comes from the image cache
does not load the probing code.
"""

from __future__ import annotations


class Table(object):
    """A probed disk: its label ("gpt", "dos" or None) and partitions."""

    def __init__(self, label, partitions, whole=None, disk_id=None):
        self.label = label
        self.partitions = partitions
        self.whole = whole or {}
        self.disk_id = disk_id

    def get(self, number):
        for part in self.partitions:
            if part["number"] == number:
                return part
        return None

    def to_dict(self):
        return {"label": self.label, "partitions": self.partitions, "whole": self.whole, "disk_id": self.disk_id}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("label"), data.get("partitions") or [], data.get("whole"), data.get("disk_id"))


def describe(table):
    """One line listing what a probe saw, for error messages."""
    if table is None:
        return "nothing (the image could not be probed)"
    if table.label is None:
        whole = table.whole
        return "no partition table; whole device: %s" % _describe_fs(whole)
    if not table.partitions:
        return "an empty %s partition table" % table.label
    return "; ".join(
        "%d (%s, %s)" % (p["number"], human_size(p["size"]), _describe_fs(p)) for p in table.partitions)


def _describe_fs(fields):
    text = fields.get("fstype") or "no filesystem"
    if fields.get("label"):
        text += ", label %s" % fields["label"]
    if fields.get("partlabel"):
        text += ", partlabel %s" % fields["partlabel"]
    return text


def human_size(size):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if size == int(size) else ("%.1f %s" % (size, unit))
        size = size / 1024.0
    return str(size)
