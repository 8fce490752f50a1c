# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What image_mount returns: the result's fields and the diff's before and
after, from a discovered stack (or, in check mode, predicted from the plan).

One rule for each value: the state is mounted when anything of the image is
mounted, mapped when it is attached, else unmapped; read_only is true when
the device or the mount at path is read-only, for whatever reason.
"""

from __future__ import annotations

from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.mounts import options as mountopts


def empty(params):
    return {"changed": False, "image": params["image"], "path": params.get("path"), "actions": [],
            "read_only": False, "snapshot": False, "format": None, "backend": None, "device": None,
            "partition": None, "partition_device": None, "fstype": None, "mapper": None, "pid": None,
            "partitions": [], "mounts": [], "tree": [], "tree_skipped": [], "runtime": [], "volumes": []}


def state_name(mounted, mapped):
    return "mounted" if mounted else "mapped" if mapped else "unmapped"


def current_state(obs, number):
    """The state of obs. A device that is not attached by this collection (a
    block device) is always there: it counts as mapped only when the selected
    partition has a node."""
    att = obs.attachment
    if att is None:
        return "unmapped"
    mapped = att.backend.detaches or (number is not None and obs.node_of(att, number) is not None)
    return state_name(bool(obs.mounts), mapped)


def is_read_only(device_read_only, mount_options):
    return bool(device_read_only) or (mount_options or "").split(",")[0] == "ro"


def read_only(obs, path):
    """Whether what is at path (the mount, else the device) is read-only."""
    att = obs.attachment
    if att is None:
        return False
    top = mountinfo.top_mount_at(obs.mounts, path) if path else None
    return is_read_only(att.read_only, "ro" if top is not None and top.read_only else None)


def mount_entry(m, record=None):
    return {"path": m.path, "device": m.source, "fstype": m.fstype, "options": mountopts.describe(m, record)}


def snapshot(obs, number, path):
    """The diff's view of obs."""
    att = obs.attachment
    node = obs.node_of(att, number) if att is not None and number is not None else None
    return {
        "state": current_state(obs, number),
        "backend": att.kind if att is not None else None,
        "device": att.device if att is not None else None,
        "partition_device": node.device if node else None,
        "read_only": read_only(obs, path),
        "snapshot": bool(att is not None and att.snapshot),
        "mounts": [mount_entry(m, obs.mount_records.get(m.path)) for m in obs.mounts],
    }


def predict(before, steps, want, att):
    """The diff's "after" in check mode: what the planned steps lead to, as far
    as it can be known without doing them (a new device has no name yet)."""
    after = dict(before, mounts=list(before["mounts"]))
    ops = [s.op for s in steps]
    gone = set(s.args["path"] for s in steps if s.op == "umount")
    after["mounts"] = [m for m in after["mounts"] if m["path"] not in gone]
    if want.state in ("unmapped", "absent"):
        after.update(state="unmapped", backend=None, device=None, partition_device=None, mounts=[], read_only=False,
                     snapshot=False)
        return after
    if "detach" in ops:
        after.update(backend=None, device=None, partition_device=None)
    if "attach" in ops:
        name = want.backend.name
        after.update(backend=name, device="(a new %s device)" % name, partition_device=None, snapshot=want.snapshot)
    if after["device"] is not None and not after["partition_device"]:
        after["partition_device"] = after["device"] if want.number == 0 else "(partition %s of %s)" % (
            want.number if want.number is not None else want.selector_text, after["device"])
    if "mount" in ops or "remount" in ops:
        flags, fs_options = mountopts.wanted(want.opts, want.read_only)
        was = [m for m in before["mounts"] if m["path"] == want.path]
        after["mounts"] = [m for m in after["mounts"] if m["path"] != want.path]
        after["mounts"].append({"path": want.path, "device": after["partition_device"],
                                "fstype": want.fstype or (was[0]["fstype"] if was else None),
                                "options": mountopts.render(flags, fs_options)})
    after["state"] = want.state if after["mounts"] or want.state == "mapped" else \
        state_name(False, after["device"] is not None)
    device_read_only = want.device_read_only if "attach" in ops else (att is not None and att.read_only)
    mine = [m for m in after["mounts"] if m["path"] == want.path]
    after["read_only"] = is_read_only(device_read_only or want.read_only, mine[0]["options"] if mine else None)
    return after


def partitions_of(table, att):
    """The partitions list: the probed table, with the device of each partition that has one."""
    if table is None:
        return []
    out = []
    for part in table.partitions:
        node = att.nodes.get(part["number"]) if att is not None else None
        out.append({
            "number": part["number"],
            "device": node.device if node else None,
            "start": part["start"],
            "size": part["size"],
            "fstype": part["fstype"],
            "label": part["label"],
            "uuid": part["uuid"],
            "partlabel": part["partlabel"],
            "partuuid": part["partuuid"],
            "type": part["type"],
        })
    return out


def fill(result, obs, table, number, path=None):
    """The result's fields from a discovered stack."""
    att = obs.attachment
    result["mounts"] = [{"path": m.path, "device": m.source} for m in obs.mounts]
    result["read_only"] = read_only(obs, path)
    result["volumes"] = [v.to_dict(obs.image.key) for v in obs.volumes]
    if att is None:
        return
    result["device"] = att.device
    result["backend"] = att.kind
    result["snapshot"] = att.snapshot
    result["pid"] = att.pid
    result["partitions"] = partitions_of(table, att)
    if number is None:
        return
    result["partition"] = number
    node = obs.node_of(att, number)
    if node is not None:
        result["partition_device"] = node.device
        result["mapper"] = node.mapper
    if table is not None:
        part = table.get(number) if number else table.whole
        if part:
            result["fstype"] = part.get("fstype")


def fill_predicted(result, after):
    """In check mode the result tells what the run would lead to, like the diff's after."""
    result.update(backend=after["backend"], device=after["device"], read_only=after["read_only"],
                  snapshot=after["snapshot"],
                  partition_device=after["partition_device"],
                  mounts=[{"path": m["path"], "device": m["device"]} for m in after["mounts"]])
    if after["device"] is None:
        result.update(pid=None, mapper=None)


def fill_tree(result, phase):
    """The tree's fields: each mount of the tree (root first) and what was left out, with why."""
    result["tree"] = phase.entries
    result["tree_skipped"] = phase.skipped
    if phase.tree.warnings:
        result["warnings"] = result.get("warnings", []) + phase.tree.warnings


def fill_runtime(result, phase):
    """The chroot runtime's mounts, and why a part of it is missing."""
    result["runtime"] = phase.entries
    if phase.warnings:
        result["warnings"] = result.get("warnings", []) + phase.warnings
