# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""planner.plan and current_state on hand-built discovered states."""

from __future__ import annotations

import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.backends.base import Attachment
from ansible_collections.virt.disk.plugins.module_utils.backends.registry import get as backend
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.image import Image
from ansible_collections.virt.disk.plugins.module_utils.kernel.mountinfo import mounts_of, parse
from ansible_collections.virt.disk.plugins.module_utils.kernel.partnodes import Node
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import PathInfo, plan
from ansible_collections.virt.disk.plugins.module_utils.plan.result import current_state as result_state
from ansible_collections.virt.disk.plugins.module_utils.state.discovery import Observed
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import want

BLKEXT = 259
IMAGE = Image("/srv/images/disk.img", "file", (8, 1), 1000, None, 64 << 20, "raw")
PATH = "/mnt/x"
HOST_ROOT = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"

DIR = PathInfo(exists=True, is_dir=True, empty=True)
NO_PATH = PathInfo()


def node(disk, number, minor, mapper="kernel", major=BLKEXT):
    if mapper == "kpartx":
        device = "/dev/mapper/%sp%d" % (disk, number)
    elif disk[-1].isdigit():
        device = "/dev/%sp%d" % (disk, number)
    else:
        device = "/dev/%s%d" % (disk, number)
    return Node(number, device, major, minor, mapper, 1 << 20, os.path.basename(device) if mapper == "kpartx" else None)


def attachment(device="/dev/loop0", numbers=(7, 0), parts=(1, 2), read_only=False, kind="loop", mapper="kernel",
               first_minor=0):
    att = Attachment(backend(kind), device, read_only, partscan=True)
    att.numbers = numbers
    disk = att.name
    major = 253 if mapper == "kpartx" else BLKEXT
    nodes = dict((n, node(disk, n, first_minor + i, mapper, major)) for i, n in enumerate(parts))
    if mapper == "kpartx":
        att.dm_nodes = nodes
    else:
        att.kernel_nodes = nodes
    return att


def observed(attachments, lines=()):
    """As discovery.discover builds it: the image's mounts out of all mounts."""
    all_mounts = parse("\n".join((HOST_ROOT,) + tuple(lines)) + "\n")
    numbers, nodes = [], []
    for att in attachments:
        numbers.append(att.numbers)
        numbers += [n.numbers for n in att.nodes.values()]
        nodes += [n.device for n in att.nodes.values()] + [att.device]
    return Observed(IMAGE, attachments, mounts_of(all_mounts, numbers, nodes), all_mounts)


def mline(mount_id, dev, path, source, parent=22, fstype="ext4", opts="rw,nodev,nosuid,relatime"):
    return "%d %d %s / %s %s shared:%d - %s %s rw" % (
        mount_id, parent, dev, path, opts, mount_id, fstype, source)


P2_AT_PATH = mline(100, "259:1", PATH, "/dev/loop0p2")
P1_AT_PATH = mline(100, "259:0", PATH, "/dev/loop0p1")


def discovered(state):
    """(Observed, PathInfo) of the image in state, with partition 2 as the selected one at PATH."""
    if state == "mounted":
        return observed([attachment()], [P2_AT_PATH]), DIR
    if state == "mapped":
        return observed([attachment()]), DIR
    if state == "unmapped":
        return observed([]), DIR
    if state == "absent":
        return observed([]), NO_PATH
    raise AssertionError(state)


def ops(steps):
    return [s.op for s in steps]


STATES = ("mounted", "mapped", "unmapped", "absent")
EXPECTED = {
    ("mounted", "mounted"): [],
    ("mounted", "mapped"): ["umount"],
    ("mounted", "unmapped"): ["umount", "unmap", "detach"],
    ("mounted", "absent"): ["umount", "unmap", "detach", "rmdir"],
    ("mapped", "mounted"): ["mount"],
    ("mapped", "mapped"): [],
    ("mapped", "unmapped"): ["unmap", "detach"],
    ("mapped", "absent"): ["unmap", "detach", "rmdir"],
    ("unmapped", "mounted"): ["attach", "map", "mount"],
    ("unmapped", "mapped"): ["attach", "map"],
    ("unmapped", "unmapped"): [],
    ("unmapped", "absent"): ["rmdir"],
    ("absent", "mounted"): ["attach", "map", "mkdir", "mount"],
    ("absent", "mapped"): ["attach", "map"],
    ("absent", "unmapped"): [],
    ("absent", "absent"): [],
}


def test_the_matrix_is_complete():
    assert sorted(EXPECTED) == sorted((a, b) for a in STATES for b in STATES)


@pytest.mark.parametrize("start, goal", sorted(EXPECTED))
def test_every_pair_of_states(start, goal):
    obs, info = discovered(start)
    steps = plan(obs, want(goal, PATH, 2), info)
    assert ops(steps) == EXPECTED[(start, goal)]
    if start == goal:
        assert steps == []


@pytest.mark.parametrize("state", STATES)
def test_current_state_of_each_discovered_state(state):
    obs = discovered(state)[0]
    expected = "unmapped" if state == "absent" else state
    assert result_state(obs, 2) == expected


def test_step_arguments_and_descriptions_from_mounted_to_absent():
    obs, info = discovered("mounted")
    umount, unmap, detach, rmdir = plan(obs, want("absent", PATH, 2), info)
    assert umount.args == {"path": PATH, "source": "/dev/loop0p2"}
    assert umount.desc == "unmount /mnt/x (/dev/loop0p2)"
    assert unmap.args["att"] is obs.attachments[0]
    assert [n.device for n in unmap.args["nodes"]] == ["/dev/loop0p1", "/dev/loop0p2"]
    assert "/dev/loop0p1, /dev/loop0p2" in unmap.desc
    assert detach.args == {"att": obs.attachments[0]}
    assert rmdir.args == {"path": PATH, "optional": True}


def test_step_arguments_from_nothing_to_mounted():
    obs, info = discovered("absent")
    attach, map_, mkdir, mount = plan(obs, want("mounted", PATH, 2, mapper="partx", read_only=True), info)
    assert attach.args == {"backend": backend("loop"), "read_only": True, "snapshot": False}
    assert attach.desc == "attach /srv/images/disk.img with loop read-only"
    assert map_.args == {"number": 2, "mapper": "partx"}
    assert "the new device" in map_.desc
    assert mkdir.args == {"path": PATH}
    assert mount.args == {"path": PATH, "number": 2}


def test_mapped_to_mounted_names_the_existing_node():
    obs, info = discovered("mapped")
    (mount,) = plan(obs, want("mounted", PATH, 2), info)
    assert mount.desc == "mount /dev/loop0p2 at /mnt/x"


def test_attached_without_the_partition_node_maps_it():
    att = attachment(parts=())
    obs = observed([att])
    steps = plan(obs, want("mapped", PATH, 2, mapper="kpartx"), DIR)
    assert ops(steps) == ["map"]
    assert steps[0].args == {"number": 2, "mapper": "kpartx"}
    assert "/dev/loop0" in steps[0].desc
    assert result_state(obs, 2) == "mapped"  # attached: the ladder has no state between


# whole device (partition 0)


def test_whole_device_needs_no_map_step():
    obs = observed([])
    assert ops(plan(obs, want("mapped", None, 0), NO_PATH)) == ["attach"]
    assert ops(plan(obs, want("mounted", PATH, 0), NO_PATH)) == ["attach", "mkdir", "mount"]


def test_whole_device_mounted_is_converged():
    att = attachment(parts=())
    obs = observed([att], [mline(100, "7:0", PATH, "/dev/loop0")])
    assert plan(obs, want("mounted", PATH, 0), DIR) == []
    assert result_state(obs, 0) == "mounted"
    assert ops(plan(obs, want("mapped", PATH, 0), DIR)) == ["umount"]


# read_only


def test_read_only_mismatch_of_the_mount_at_path_reattaches():
    obs = observed([attachment(read_only=False)], [P2_AT_PATH])
    steps = plan(obs, want("mounted", PATH, 2, read_only=True), DIR)
    assert ops(steps) == ["umount", "unmap", "detach", "attach", "map", "mount"]
    assert steps[3].args == {"backend": backend("loop"), "read_only": True, "snapshot": False}


def test_read_only_mismatch_with_other_mounts_is_an_error():
    obs = observed([attachment(read_only=False)], [P2_AT_PATH, mline(101, "259:0", "/mnt/boot", "/dev/loop0p1")])
    with pytest.raises(VirtDiskError) as info:
        plan(obs, want("mounted", PATH, 2, read_only=True), DIR)
    msg = str(info.value)
    assert "/srv/images/disk.img" in msg and "read-write" in msg and "/dev/loop0" in msg
    assert "mounted at /mnt/boot" in msg and "state: unmapped" in msg


def test_read_only_mismatch_without_mounts_reattaches():
    obs = observed([attachment(read_only=True)])
    steps = plan(obs, want("mounted", PATH, 2, read_only=False), DIR)
    assert ops(steps) == ["unmap", "detach", "attach", "map", "mount"]
    assert steps[2].args == {"backend": backend("loop"), "read_only": False, "snapshot": False}


def test_read_only_mismatch_for_mapped_unmounts_and_reattaches():
    obs = observed([attachment(read_only=False)], [P2_AT_PATH])
    steps = plan(obs, want("mapped", PATH, 2, read_only=True), DIR)
    assert ops(steps) == ["umount", "unmap", "detach", "attach", "map"]
    assert steps[3].args["read_only"] is True


def test_read_only_mismatch_does_not_matter_for_teardown():
    obs = observed([attachment(read_only=True)], [P2_AT_PATH])
    assert ops(plan(obs, want("unmapped", PATH, 2, read_only=False), DIR)) == ["umount", "unmap", "detach"]


def snapshot_attachment(snapshot, read_only=False):
    att = attachment(read_only=read_only, kind="fuse")
    att.pid = 4242
    att.snapshot = snapshot
    return att


def test_snapshot_attaches_writable_even_for_a_read_only_mount():
    steps = plan(observed([]), want("mounted", PATH, 2, backend="fuse", read_only=True, snapshot=True), DIR)
    assert ops(steps) == ["attach", "map", "mount"]
    assert steps[0].args == {"backend": backend("fuse"), "read_only": False, "snapshot": True}
    assert "throwaway overlay" in steps[0].desc


def test_snapshot_mismatch_reattaches():
    obs = observed([snapshot_attachment(True)], [P2_AT_PATH])
    steps = plan(obs, want("mounted", PATH, 2, backend="fuse", snapshot=False), DIR)
    assert ops(steps) == ["umount", "unmap", "detach", "attach", "map", "mount"]
    assert steps[3].args["snapshot"] is False


def test_snapshot_mismatch_with_other_mounts_is_an_error():
    obs = observed([snapshot_attachment(False)], [P2_AT_PATH, mline(101, "259:0", "/mnt/boot", "/dev/loop0p1")])
    with pytest.raises(VirtDiskError) as info:
        plan(obs, want("mounted", PATH, 2, backend="fuse", snapshot=True), DIR)
    assert "without a throwaway overlay" in str(info.value) and "/mnt/boot" in str(info.value)


def test_read_only_snapshot_over_a_writable_overlay_is_converged():
    obs = observed([snapshot_attachment(True)],
                   [mline(100, "259:1", PATH, "/dev/loop0p2", opts="ro,nodev,nosuid,relatime")])
    assert plan(obs, want("mounted", PATH, 2, backend="fuse", read_only=True, snapshot=True), DIR) == []


def test_read_only_match_is_converged():
    obs = observed([attachment(read_only=True)], [mline(100, "259:1", PATH, "/dev/loop0p2", opts="ro,nodev,nosuid,relatime")])
    assert plan(obs, want("mounted", PATH, 2, read_only=True), DIR) == []


# options of a mount that is there


def test_generic_flags_change_by_remount():
    obs = observed([attachment()], [P2_AT_PATH])
    steps = plan(obs, want("mounted", PATH, 2, opts="nodev,nosuid,noexec,noatime"), DIR)
    assert ops(steps) == ["remount"]
    assert "rw,nosuid,nodev,noexec,noatime" in steps[0].desc and "was rw,nosuid,nodev,relatime" in steps[0].desc


def test_opts_ro_on_a_writable_device_is_a_remount():
    obs = observed([attachment()], [P2_AT_PATH])
    assert ops(plan(obs, want("mounted", PATH, 2, opts="ro,nodev,nosuid"), DIR)) == ["remount"]


def test_filesystem_options_change_by_mounting_again():
    obs = observed([attachment()], [P2_AT_PATH])
    obs.mount_records = {PATH: {"opts": "nodev,nosuid", "fstype": None}}
    steps = plan(obs, want("mounted", PATH, 2, opts="nodev,nosuid,data=journal"), DIR)
    assert ops(steps) == ["umount", "mount"]
    assert steps[1].args == {"path": PATH, "number": 2}


def test_recorded_filesystem_options_unchanged_is_a_noop():
    obs = observed([attachment()], [P2_AT_PATH])
    obs.mount_records = {PATH: {"opts": "nosuid,data=journal,nodev", "fstype": None}}
    assert plan(obs, want("mounted", PATH, 2, opts="nodev,nosuid,data=journal"), DIR) == []


def test_mount_without_record_is_compared_on_generic_flags_only():
    obs = observed([attachment()], [P2_AT_PATH])
    assert plan(obs, want("mounted", PATH, 2, opts="nodev,nosuid,data=journal,defaults,x-systemd.automount"),
                DIR) == []


def test_fstype_change_mounts_again():
    obs = observed([attachment()], [P2_AT_PATH])
    assert ops(plan(obs, want("mounted", PATH, 2, fstype="ext2"), DIR)) == ["umount", "mount"]
    assert plan(obs, want("mounted", PATH, 2, fstype="ext4"), DIR) == []
    assert plan(obs, want("mounted", PATH, 2, fstype="auto"), DIR) == []


def test_mounting_again_refused_with_mounts_beneath():
    obs = observed([attachment()], [P2_AT_PATH, mline(101, "259:0", PATH + "/boot", "/dev/loop0p1", parent=100)])
    with pytest.raises(VirtDiskError) as info:
        plan(obs, want("mounted", PATH, 2, fstype="ext2"), DIR)
    assert "/mnt/x/boot is mounted beneath it" in str(info.value)
    # a remount leaves what is beneath alone
    assert ops(plan(obs, want("mounted", PATH, 2, opts="nodev,nosuid,noexec"), DIR)) == ["remount"]


# mount point


def test_foreign_mount_at_path_is_an_error():
    obs = observed([attachment()], [mline(100, "8:17", PATH, "/dev/sdb1")])
    with pytest.raises(VirtDiskError, match="mount point /mnt/x already has /dev/sdb1 mounted "
                                            r"\(not from /srv/images/disk.img\); unmount it first"):
        plan(obs, want("mounted", PATH, 2), DIR)


def test_foreign_mount_on_top_of_ours_is_an_error():
    obs = observed([attachment()], [P2_AT_PATH, mline(101, "0:40", PATH, "tmpfs", parent=100, fstype="tmpfs")])
    with pytest.raises(VirtDiskError, match="already has tmpfs mounted"):
        plan(obs, want("mounted", PATH, 2), DIR)


def test_path_is_a_regular_file():
    obs = observed([attachment()])
    with pytest.raises(VirtDiskError, match="mount point /mnt/x exists and is not a directory"):
        plan(obs, want("mounted", PATH, 2), PathInfo(exists=True, is_dir=False, empty=True))


def test_other_partition_mounted_at_path_is_replaced():
    obs = observed([attachment()], [P1_AT_PATH])
    steps = plan(obs, want("mounted", PATH, 2), DIR)
    assert ops(steps) == ["umount", "mount"]
    assert steps[0].args["source"] == "/dev/loop0p1"
    assert steps[1].args == {"path": PATH, "number": 2}
    assert result_state(obs, 2) == "mounted"  # something of the image is mounted


def test_other_partition_at_path_with_the_selected_one_unmapped():
    att = attachment(parts=(1,))
    obs = observed([att], [P1_AT_PATH])
    assert ops(plan(obs, want("mounted", PATH, 2), DIR)) == ["map", "umount", "mount"]


def test_other_partition_at_path_with_something_mounted_inside_it():
    obs = observed([attachment()], [P1_AT_PATH, mline(101, "0:21", PATH + "/proc", "proc", parent=100, fstype="proc")])
    steps = plan(obs, want("mounted", PATH, 2), DIR)
    assert ops(steps) == ["umount", "umount", "mount"]
    assert [s.args["path"] for s in steps[:2]] == [PATH + "/proc", PATH]


def test_other_mounts_of_the_image_are_left_alone():
    """root at /mnt/x, boot wanted at /mnt/x/boot: one shared attachment."""
    obs = observed([attachment()], [P2_AT_PATH])
    steps = plan(obs, want("mounted", PATH + "/boot", 1), DIR)
    assert ops(steps) == ["mount"]
    assert steps[0].args == {"path": PATH + "/boot", "number": 1}
    # and the same partition at a second place
    assert ops(plan(obs, want("mounted", "/mnt/y", 2), NO_PATH)) == ["mkdir", "mount"]


def test_mapped_unmounts_every_mount_of_the_image_deepest_first():
    lines = [P2_AT_PATH, mline(101, "259:0", PATH + "/boot", "/dev/loop0p1", parent=100, fstype="vfat"),
             mline(102, "0:21", PATH + "/proc", "proc", parent=100, fstype="proc"),
             mline(103, "259:1", "/srv/again", "/dev/loop0p2")]
    obs = observed([attachment()], lines)
    steps = plan(obs, want("mapped", PATH, 2), DIR)
    assert ops(steps) == ["umount"] * 4
    paths = [s.args["path"] for s in steps]
    assert paths.index(PATH) > paths.index(PATH + "/boot")
    assert paths.index(PATH) > paths.index(PATH + "/proc")
    assert sorted(paths) == sorted([PATH, PATH + "/boot", PATH + "/proc", "/srv/again"])
    # each mount once
    assert len(set(paths)) == 4


def test_unmapped_takes_down_nested_mounts_then_devices():
    lines = [P2_AT_PATH, mline(101, "259:0", PATH + "/boot", "/dev/loop0p1", parent=100, fstype="vfat"),
             mline(102, "8:17", PATH + "/boot/efi", "/dev/sdb1", parent=101, fstype="vfat")]
    obs = observed([attachment()], lines)
    steps = plan(obs, want("unmapped", None, None), NO_PATH)
    assert ops(steps) == ["umount", "umount", "umount", "unmap", "detach"]
    assert [s.args["path"] for s in steps[:3]] == [PATH + "/boot/efi", PATH + "/boot", PATH]


def test_unmapped_detaches_every_attachment():
    second = attachment(device="/dev/loop5", numbers=(7, 5), parts=(), first_minor=10)
    obs = observed([attachment(), second])
    steps = plan(obs, want("unmapped", None, None), NO_PATH)
    assert ops(steps) == ["unmap", "detach", "detach"]
    assert [s.args["att"].device for s in steps] == ["/dev/loop0", "/dev/loop0", "/dev/loop5"]


# absent


def test_absent_with_non_empty_dir_keeps_it():
    obs = discovered("mapped")[0]
    steps = plan(obs, want("absent", PATH, 2), PathInfo(exists=True, is_dir=True, empty=False))
    assert ops(steps) == ["unmap", "detach"]


def test_absent_without_path_or_with_a_file_at_path():
    obs = discovered("unmapped")[0]
    assert plan(obs, want("absent", None, None), DIR) == []
    assert plan(obs, want("absent", PATH, None), PathInfo(exists=True, is_dir=False, empty=True)) == []


# block backend


def block_attachment(parts=(1, 2), mapper="kernel"):
    return attachment(device="/dev/sdb", numbers=(8, 16), parts=parts, kind="block", mapper=mapper,
                      first_minor=17)


def test_block_backend_never_detaches():
    obs = observed([block_attachment()], [mline(100, "259:17", PATH, "/dev/sdb1")])
    assert ops(plan(obs, want("unmapped", None, None), NO_PATH)) == ["umount"]
    assert ops(plan(obs, want("absent", PATH, None), DIR)) == ["umount", "rmdir"]


def test_block_backend_removes_only_kpartx_maps():
    obs = observed([block_attachment(mapper="kpartx")])
    steps = plan(obs, want("unmapped", None, None), NO_PATH)
    assert ops(steps) == ["unmap"]
    assert [n.device for n in steps[0].args["nodes"]] == ["/dev/mapper/sdbp1", "/dev/mapper/sdbp2"]


def test_block_backend_removes_the_partx_nodes_it_made_and_keeps_the_kernels():
    obs = observed([block_attachment()])
    obs.attachments[0].nodes[2].mapper = "partx"  # recorded in the state file when it was mapped
    steps = plan(obs, want("unmapped", None, None), NO_PATH)
    assert ops(steps) == ["unmap"]
    assert [n.number for n in steps[0].args["nodes"]] == [2]
    assert "/dev/sdb1" not in steps[0].desc


def test_block_backend_ignores_read_only_and_never_attaches():
    obs = observed([block_attachment()])
    obs.attachments[0].read_only = True
    assert ops(plan(obs, want("mounted", PATH, 1, backend="block"), DIR)) == ["mount"]
    assert plan(obs, want("mapped", None, 2, backend="block"), NO_PATH) == []


def test_current_state_block_mounted():
    obs = observed([block_attachment()], [mline(100, "259:17", PATH, "/dev/sdb1")])
    assert result_state(obs, 1) == "mounted"
    assert result_state(obs, 2) == "mounted"


def test_current_state_block_mapped():
    obs = observed([block_attachment()])
    assert plan(obs, want("mapped", None, 2, backend="block"), NO_PATH) == []
    assert result_state(obs, 2) == "mapped"


# current_state details


def test_current_state_is_always_a_state_of_the_ladder():
    # state unmapped selects no partition: the diff's before must still say mounted
    obs = discovered("mounted")[0]
    assert result_state(obs, None) == "mounted"
    assert result_state(obs, None) == "mounted"
    assert result_state(obs, 2) == "mounted"
    obs = discovered("mapped")[0]
    assert result_state(obs, None) == "mapped"
    obs = discovered("unmapped")[0]
    assert result_state(obs, None) == "unmapped"


def test_current_state_mounted_elsewhere():
    obs = observed([attachment()], [mline(100, "259:1", "/mnt/elsewhere", "/dev/loop0p2")])
    assert result_state(obs, 2) == "mounted"


# paths as users write them


def test_mounted_with_trailing_slash_is_converged_once_normalised():
    # converge() hands the planner os.path.realpath(path), as mountinfo shows resolved paths
    obs, info = discovered("mounted")
    assert plan(obs, want("mounted", os.path.realpath(PATH + "/"), 2), info) == []


def test_an_explicit_mapper_maps_even_when_another_mappers_node_exists():
    # nbd and loop scan partitions themselves: partition_mapper kpartx must still give a /dev/mapper node
    obs = observed([attachment()])
    steps = plan(obs, want("mapped", None, 2, mapper="kpartx"), NO_PATH)
    assert ops(steps) == ["map"]
    assert steps[0].args == {"number": 2, "mapper": "kpartx"}
    assert plan(obs, want("mapped", None, 2, mapper="kernel"), NO_PATH) == []
    assert plan(obs, want("mapped", None, 2, mapper="auto"), NO_PATH) == []


def test_teardown_stops_the_processes_inside_first():
    obs = observed([attachment()], [P2_AT_PATH])
    obs.inside = [(4321, "sleep", PATH)]
    steps = plan(obs, want("absent", PATH, 2), DIR)
    assert ops(steps)[:2] == ["stop", "umount"]
    assert steps[0].args == {"procs": [(4321, "sleep", PATH)]} and "4321 (sleep)" in steps[0].desc


# volumes: LUKS mappings and logical volumes on the image's partitions

def with_volumes(att, *vols):
    att.volumes = list(vols)
    return att


def volume(name, kernel_name, uuid, minor, slaves, depth=1):
    from ansible_collections.virt.disk.plugins.module_utils.volumes.stack import Volume  # pylint: disable=import-outside-toplevel
    return Volume(name, kernel_name, uuid, 253, minor, 1 << 20, slaves, depth)


LV = volume("virtdisk-%s-vg0-root" % IMAGE.key, "dm-1", "VIRTDISK-LVM-x", 1, ["dm-0"], depth=2)
CRYPT = volume("virtdisk-%s-p2" % IMAGE.key, "dm-0", "CRYPT-LUKS2-y", 0, ["loop0p2"])


def lv_want(state, path=PATH):
    w = want(state, path, 0)
    w.volume = {"kind": "lv", "vg": "vg0", "lv": "root"}
    return w


def test_teardown_closes_the_volumes_topmost_first_before_the_partitions_go():
    att = with_volumes(attachment(), LV, CRYPT)
    lv_mount = mline(100, "253:1", PATH, LV.device)
    obs = Observed(IMAGE, [att], parse(HOST_ROOT + "\n" + lv_mount + "\n")[1:], parse(HOST_ROOT + "\n" + lv_mount + "\n"))
    steps = plan(obs, want("unmapped", PATH), DIR)
    assert ops(steps) == ["umount", "close", "close", "unmap", "detach"]
    assert [s.args["vol"].name for s in steps if s.op == "close"] == [LV.name, CRYPT.name]


def test_a_logical_volume_is_activated_then_mounted_and_found_again():
    steps = plan(observed([attachment()]), lv_want("mounted"), DIR)
    assert ops(steps) == ["volume", "mount"]
    assert steps[0].args == {"spec": {"kind": "lv", "vg": "vg0", "lv": "root"}}
    assert steps[1].args == {"path": PATH, "number": 0, "device": None}
    # activated already (by this module, or as vg0-root by lvm2 by hand): only the mount
    for made in (LV, volume("vg0-root", "dm-1", "LVM-vguuidlvuuid", 1, ["loop0p2"])):
        steps = plan(observed([with_volumes(attachment(), made)]), lv_want("mounted"), DIR)
        assert ops(steps) == ["mount"] and steps[0].args["device"] == made.device


def test_a_mounted_logical_volume_is_left_as_it_is():
    att = with_volumes(attachment(), LV, CRYPT)
    lv_mount = mline(100, "253:1", PATH, LV.device)
    all_mounts = parse(HOST_ROOT + "\n" + lv_mount + "\n")
    obs = Observed(IMAGE, [att], all_mounts[1:], all_mounts)
    assert plan(obs, lv_want("mounted"), DIR) == []


def test_a_block_device_keeps_the_volumes_that_are_not_ours():
    att = with_volumes(attachment("/dev/sdb", (8, 16), kind="block"), volume("vg0-root", "dm-1", "LVM-z", 1, ["sdb2"]))
    assert "close" not in ops(plan(observed([att]), want("unmapped", PATH), DIR))
