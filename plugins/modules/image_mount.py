#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_mount
short_description: Attach, map and mount a virtual disk image or block device
version_added: "1.0.0"
description:
  - Converges one disk image to a state of the ladder C(mounted) > C(mapped) > C(unmapped) > C(absent),
    in one task and in either direction.
  - The kernel is the source of truth. Every run first discovers what already exists (loop devices backed by
    the image, partition devices of every mapper, mounts) and adopts it, whoever made it, so a loop device
    attached by hand with C(losetup) is reused rather than attached a second time.
  - Raw image files are attached with a loop device, block devices are used as they are. Images in the
    qemu formats (qcow2, vmdk, vdi, vhdx, vpc, qed) are served by C(qemu-nbd) on C(/dev/nbdN), or, where the
    kernel has no nbd, exported as a raw file through FUSE by C(qemu-storage-daemon) with a loop device over it.
  - Images that refer to files outside themselves (a backing file, an external data file, VMDK extents) are
    refused unless O(allow_backing_file=true), and damaged or truncated images fail before any qemu helper starts.
  - A failed run undoes what it created in that run, in reverse order, and leaves what it found.
  - Runs on the same image serialise on a lock under C(/run/virt-disk/); runs on different images do not.
author:
  - virt.disk maintainers (@virt-disk)
requirements:
  - root on a Linux managed node
  - Python 3.8 or later there, the lowest ansible-core 2.19 supports (3.9 with 2.20 and later; tested up to 3.13)
  - util-linux >= 2.38 for C(losetup), C(blockdev), C(sfdisk), C(blkid), C(partx), C(mount) and C(umount)
    (tested with 2.38.1, Debian 12)
  - qemu-img for the qemu formats (package C(qemu-utils) on Debian and Ubuntu, C(qemu-img) on the RHEL family;
    tested with QEMU 7.2, Debian 12)
  - qemu-nbd (the same packages) and the kernel's nbd module for O(backend=nbd)
  - qemu-storage-daemon >= 7.0 (it is started with C(--daemonize), new in QEMU 7.0), C(/dev/fuse) (fuse3) and loop
    devices for O(backend=fuse) (package C(qemu-system-common) on Debian 12, C(qemu-utils) from QEMU 8; tested with
    QEMU 7.2)
  - kpartx, dmsetup and the kernel's device-mapper (dm-mod) for O(partition_mapper=kpartx) (tested with
    multipath-tools 0.9.4, Debian 12)
  - fuser (psmisc), optional, to name the processes that keep a mount busy
extends_documentation_fragment:
  - virt.disk.attributes.actiongroup_image
attributes:
  check_mode:
    support: full
    description:
      - Discovers and plans only; reports C(changed), the planned C(actions), and in the results and the diff's
        C(after) what the run would lead to (a device not attached yet shows as C((a new loop device))).
      - Writes nothing, not even the image's lock file under C(/run/virt-disk/locks/) (it locks the image only when
        that file is there already). It reads the image to probe its partitions, and runs C(qemu-img info) and
        C(qemu-img check) on qemu images, which only read.
  diff_mode:
    support: full
    description: Shows the state, backend, device, partition device, read-only and the mounts (with their options)
      before and after.
  platform:
    support: full
    platforms: posix
    description: Linux only (loop devices, sysfs, C(/proc/self/mountinfo)).
options:
  image:
    description:
      - Image file or block device. Symlinks are resolved.
    type: path
    required: true
  path:
    description:
      - Mount point. Required for O(state=mounted). Created with its parents when missing.
      - With O(state=absent) it is removed if it is an empty directory.
    type: path
  state:
    description:
      - V(mounted) the image is attached, the selected partition is mapped and mounted at O(path). Other mounts
        of the same image are left alone, so several partitions of one image can be mounted on one attachment.
      - V(mapped) the image is attached and the selected partition has a device node (returned as
        RV(partition_device)); nothing of the image is mounted (its mounts are unmounted, deepest first).
      - V(unmapped) nothing of the image is mounted, mapped or attached. Mount point directories stay.
        Mounts made beneath the image's mounts (for example C(/proc) bound into a chroot) are unmounted too.
      - V(absent) as V(unmapped), then O(path) is removed if it is an empty directory.
      - V(unmapped) and V(absent) also take down an image whose file was deleted or renamed while it was
        attached (the kernel still shows the loop device's file as deleted, a qemu helper still serves it, or an
        earlier run recorded what it attached), and say so in a warning. For a path where no image is and of which
        nothing is attached they change nothing, so a teardown can run again.
      - With V(mounted), changed O(opts), O(fstype) or O(read_only) for an image already mounted at O(path)
        converge as M(ansible.posix.mount) does. Generic flags (V(ro)/V(rw), V(nosuid), V(nodev), V(noexec),
        the atime flags, V(nodiratime), V(nosymfollow)) change by a remount. Filesystem options and O(fstype)
        take an unmount and a new mount; if that mount fails, the old one is mounted again. O(read_only) attaches
        the device again, which needs the mount at O(path) to be the image's only mount.
      - Filesystem options are compared with the ones this module mounted with (kept under C(/run/virt-disk/));
        a mount it did not make is compared on the generic flags only.
    type: str
    default: mounted
    choices: [mounted, mapped, unmapped, absent]
  partition:
    description:
      - Which partition to map and mount.
      - V(auto) the whole device when there is no partition table; on GPT the single partition of the
        Discoverable Partitions Specification root type for the host architecture; otherwise the single
        partition with a mountable filesystem or, among several, the largest with a Linux filesystem
        (ties go to the lowest number).
      - V(0) the whole device, V(N) partition N (1-based).
      - V(LABEL=x), V(UUID=x), V(PARTLABEL=x), V(PARTUUID=x) select by filesystem label or UUID, or by
        GPT partition name or partition UUID. UUIDs compare case-insensitively.
      - V(LV=vg/lv) selects logical volume O(partition=LV=vg/lv) of LVM inside the image. Its volume group is
        read with every lvm2 command limited to the image's physical volumes (a filter that accepts them alone,
        no devices file, read-only, no locks), so a host volume group of the same name is neither seen nor
        touched, and the image's metadata is never written. The volume is then made with device-mapper from
        the segment table lvm2 reports, as C(/dev/mapper/virtdisk-KEY-VG-LV), where KEY names the image; lvm2's
        own activation would name it C(VG-LV), which the host's same-named volume group may hold already.
        Only linear and striped volumes are made; thin, raid, mirror, cache and snapshot volumes fail saying so.
        Physical volumes inside LUKS partitions are found when O(passphrase) or O(keyfile) opens them.
      - A selected partition that is LUKS-encrypted (LUKS1 or LUKS2) is opened with O(passphrase) or O(keyfile)
        as C(/dev/mapper/virtdisk-KEY-pN), and what is inside is mounted. Without a key the task fails naming
        those options. A mapping of the partition made by hand (C(cryptsetup open)) is used as it is.
      - V(auto) selects the single LUKS partition when there is no mountable partition besides.
      - A selector that matches nothing fails and lists the partitions it saw.
    type: str
    default: auto
  layout:
    description:
      - What O(state=mounted) mounts.
      - V(partition) the selected partition at O(path).
      - V(tree) the image's operating system as it boots. The selected partition (O(partition), the root) is
        mounted at O(path), then beneath it every filesystem of the image that the image's own C(/etc/fstab)
        names, parents before children (C(/boot) before C(/boot/efi)); see O(tree_source).
      - The fstab and every mount point are resolved inside the image as its own root sees them (C(..) stops at
        its root, an absolute symlink points into the image), so nothing of the image makes the module read or
        mount anything of the host. Missing mount points are created inside the image, unless O(read_only).
      - Sources by V(UUID=), V(LABEL=), V(PARTUUID=), V(PARTLABEL=), their C(/dev/disk/by-*) links, and device
        names of the machine the image ran on (C(/dev/vda2), C(/dev/sda1), C(/dev/nvme0n1p2); taken as that
        partition number, with a warning). A source that is not in the image fails the task and lists the
        image's partitions, unless the entry says V(nofail) (then a warning).
      - Logical volumes of LVM inside the image as installers name them - C(/dev/mapper/VG-LV),
        C(/dev/VG/LV), C(/dev/disk/by-id/dm-name-VG-LV), C(/dev/disk/by-id/dm-uuid-LVM-...), and V(UUID=) or
        V(LABEL=) of the filesystem on one - are activated as for O(partition=LV=vg/lv) and mounted (the
        filesystems on them are probed read-only at the volume's first extent, nothing is activated to find them);
        physical volumes inside LUKS are opened with O(passphrase) or O(keyfile).
      - Filesystems directly inside LUKS partitions - C(/dev/mapper/NAME) where the image's own C(/etc/crypttab)
        gives NAME to a LUKS partition (by V(UUID=), V(PARTUUID=), V(LABEL=), V(PARTLABEL=) or device name),
        and V(UUID=) or V(LABEL=) of the filesystem inside one - are opened with O(passphrase) or O(keyfile)
        and mounted. The crypttab's key files and options are not used, nothing it names outside the image is
        read. Without a key, an entry that may be inside a LUKS partition fails naming O(passphrase) and
        O(keyfile) (unless it says V(nofail)). The root's own entry may name it in a way the image cannot show;
        then the selected root is kept, with a warning.
      - Left out, and returned in RV(tree_skipped) with the reason - swap, network and pseudo filesystems,
        bind mounts, V(noauto) entries (unless O(tree_noauto)), and filesystems this kernel cannot mount (a
        warning, for example the vfat ESP where the kernel has no vfat; a root it cannot mount fails).
      - Each mount keeps the fstab options that say how the filesystem is mounted (V(subvol=), V(compress=),
        V(umask=)...), drops those that say when (V(defaults), V(nofail), V(x-systemd.*)...), and adds O(opts).
        The root is mounted (before its fstab can be read) with O(opts) and O(fstype) alone; its fstab entry's
        options are not applied, except for a btrfs root in a subvolume (below).
      - A btrfs root whose top level has no C(/etc/fstab) (Ubuntu and Fedora keep the system in subvolume
        V(@) or V(root)) - the subvolume one level down whose own C(etc/fstab) mounts it at C(/) with
        V(subvol=) naming it is mounted at O(path) instead of the top level, with that entry's options (for
        example V(compress=zstd)) and O(opts), and that fstab gives the rest of the tree. Several such
        subvolumes fail.
      - A re-run compares each mount with the kernel's mount table (device, btrfs subvolume, options) and
        adopts what matches; a mount point of the tree that has something else mounted fails and names it. A
        failure part way rolls the tree back to what was found.
      - V(unmapped) and V(absent) take the whole tree down, deepest first, as they do every mount of the image.
    type: str
    default: partition
    choices: [partition, tree]
    version_added: "1.1.0"
  tree_source:
    description:
      - Where O(layout=tree) takes the tree from.
      - V(fstab) the image's C(/etc/fstab); fails when it has none or no entry.
      - V(dps) the GPT partition types of the L(Discoverable Partitions Specification,
        https://uapi-group.org/specifications/specs/discoverable_partitions_specification/), as systemd places
        them (ESP at C(/efi) or C(/boot), XBOOTLDR at C(/boot), C(/home), C(/srv), C(/var), C(/var/tmp),
        C(/usr)); a partition is not mounted over a directory of the root that has files.
      - V(auto) the fstab when it has an entry, else the partition types.
    type: str
    default: auto
    choices: [auto, fstab, dps]
    version_added: "1.1.0"
  tree_noauto:
    description:
      - With O(layout=tree), mount the fstab entries marked V(noauto) too.
    type: bool
    default: false
    version_added: "1.1.0"
  format:
    description:
      - Image format. V(auto) recognises qcow2, qed, vdi, vhdx, vpc and vmdk (sparse and descriptor files) from
        their header, raw otherwise; it never follows a backing file.
      - The format is always passed to qemu explicitly, so nothing probes. V(raw) on an image whose first sector
        looks like a qcow2 header (a guest can write one) reads it as plain raw.
    type: str
    default: auto
    choices: [auto, raw, qcow2, vmdk, vdi, vhdx, vpc, qed]
  backend:
    description:
      - How the image becomes a block device.
      - V(loop) a loop device over a raw file (read-only flag with O(read_only)), with direct I/O where the file's
        filesystem can do it, so the image's data is not cached twice.
      - V(nbd) C(qemu-nbd) serving the image (any format, raw too) on a free C(/dev/nbdN); needs the nbd module.
      - V(fuse) C(qemu-storage-daemon) exports the image as a raw file through FUSE under C(/run/virt-disk/fuse/),
        and a loop device goes over that file; for kernels without nbd (containers, microVMs).
      - V(block) a block device itself.
      - V(auto) V(block) for block devices, V(loop) for raw files, and for the other formats V(nbd) when
        C(/sys/block/nbd0) exists and C(qemu-nbd) is installed, else V(fuse) when C(qemu-storage-daemon) and
        C(/dev/fuse) exist, else a failure that says what to install or load.
    type: str
    default: auto
    choices: [auto, loop, nbd, fuse, block]
  partition_mapper:
    description:
      - How partition devices are made.
      - V(kernel) the kernel's own partition scan (C(/dev/loop0p1)); needs partition-table support in the
        kernel and loop partition scanning.
      - V(partx) partitions added with BLKPG by C(partx --add) (same names); works where the kernel cannot
        parse the table.
      - V(kpartx) device-mapper maps made by C(kpartx) (C(/dev/mapper/loop0p1)); needs dm-mod.
      - V(auto) reuses whatever already exists, else the kernel's nodes when its scan made them, else partx,
        else kpartx. A node that sysfs shows but devtmpfs did not create is made from its major:minor.
    type: str
    default: auto
    choices: [auto, kernel, partx, kpartx]
  fstype:
    description:
      - Filesystem type passed to C(mount -t). Detected by mount when omitted.
    type: str
  opts:
    description:
      - Mount options. V(ro) is added by O(read_only).
      - Options that only matter at boot (V(defaults), V(auto), V(nofail), V(x-systemd.*), V(comment=...)) are
        ignored when options are compared.
    type: str
    default: nodev,nosuid
  read_only:
    description:
      - Attach the device read-only and mount read-only; the image's bytes are not changed.
      - For a block device only the mount is read-only.
      - A journaling filesystem that was not cleanly unmounted (the disk of a VM that was killed or is
        running) needs its journal replayed, which the kernel refuses on a read-only device. The mount is
        then made without replay (C(noload) for ext3 and ext4, C(norecovery) for xfs,
        C(rescue=nologreplay) for btrfs) and the task warns that the view is the filesystem as of its
        last checkpoint and may lack the last writes. With O(read_only=false) the kernel replays the
        journal into the image. With O(snapshot=true) too, the device is writable over the throwaway overlay
        and the kernel replays the journal into the overlay, so the read-only view has the last writes and the
        image's bytes still do not change.
      - Skipping the replay is the default because it needs no helper process and works with every backend,
        including the loop device over a raw file.
    type: bool
    default: false
  snapshot:
    description:
      - Send every write to a throwaway overlay, discarded when the image is taken down (O(state=unmapped) or
        V(absent)); the image's bytes never change. For every format, raw included.
      - With V(nbd), C(qemu-nbd --snapshot) keeps the overlay in its own temporary file (C(TMPDIR), else
        C(/var/tmp)). With V(fuse), C(qemu-storage-daemon) opens the image read-only as the backing node of a
        qcow2 overlay C(/run/virt-disk/fuse/KEY.overlay.qcow2), which the teardown deletes; C(/run) is usually
        in memory, so writing a lot needs the memory for it.
      - The loop and block backends cannot; with O(backend=auto) the image goes to V(nbd) where the kernel has
        it, else to V(fuse).
      - An image attached with a different O(snapshot) is attached again, which needs the mount at O(path) to
        be its only mount; going from V(true) to V(false) discards what was written.
    type: bool
    default: false
    version_added: "1.1.0"
  runtime:
    description:
      - With O(state=mounted), what a program run with C(chroot) into O(path) needs, set up after the mounts
        (of the tree, with O(layout=tree)) - V(chroot) binds the host's C(/dev) (private, so nothing mounted
        beneath it reaches the host's), mounts a C(devpts) instance of its own at C(/dev/pts), C(/proc), C(/sys)
        read-only and a tmpfs at C(/run), and binds the host's C(resolv.conf) read-only over the image's
        C(/etc/resolv.conf), or over the file it links to when that is on the new C(/run) (where
        systemd-resolved's link points). The image's bytes are not changed for it, except that a missing
        mount point directory is created, as for the tree; an image without C(/etc/resolv.conf) outside
        C(/run) gets none, with a warning.
      - Every mount point is resolved inside the image, so a symlink in the image (C(/proc -> /etc)) never
        makes the module mount anything over the host's files.
      - V(none) sets up nothing, and leaves a runtime that is there alone.
      - O(state=unmapped) and V(absent) first stop the processes chrooted into the image's mounts (their root
        directory is there - a daemon a package started in the chroot; C(SIGTERM), then C(SIGKILL) after
        O(timeout)) and list them in RV(actions), then unmount the runtime with the rest of the image's mounts,
        deepest first. A process that only has its working directory there (a shell cd'd into the mount) is
        not stopped; the teardown fails and names it.
    type: str
    default: none
    choices: [none, chroot]
    version_added: "1.1.0"
  passphrase:
    description:
      - The passphrase that opens the image's LUKS partitions (O(partition)). It is given to C(cryptsetup) on
        its standard input, never on a command line, and is not logged.
      - Mutually exclusive with O(keyfile).
    type: str
    version_added: "1.1.0"
  keyfile:
    description:
      - A key file on the managed node that opens the image's LUKS partitions, given to C(cryptsetup) by its path.
      - Mutually exclusive with O(passphrase).
    type: path
    version_added: "1.1.0"
  allow_backing_file:
    description:
      - Accept images that refer to other files (a qcow2/qed backing file, a qcow2 external data file, VMDK
        extents outside the descriptor). Off by default because such references can expose host files
        (CVE-2015-7548, CVE-2022-47951); the refusal names the file and this option.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for a device, a partition node or the image's lock.
    type: int
    default: 30
seealso:
  - module: virt.disk.image_mount_info
    description: Look into an image (its partitions, and what O(partition=auto) selects) before mounting it, and
      list what is attached.
  - module: ansible.posix.mount
  - plugin: community.general.chroot
    plugin_type: connection
    description: Run tasks inside an image that this module mounted on the controller.
  - module: community.general.filesystem
    description: Make a filesystem on the partition device that O(state=mapped) returns.
  - module: community.general.parted
    description: Create or change the partition table of a disk image.
  - module: community.general.modprobe
    description: Load the C(loop) and C(nbd) kernel modules with parameters (the C(virt.disk.image_host) role does
      this and persists them).
  - name: Design and contract of virt.disk
    description: The states, backends and partition mappers in detail.
    link: https://github.com/virt-disk/virt.disk/blob/main/README.md
notes:
  - >-
    When a mount fails, the message carries what the kernel logged about the device meanwhile, read from
    C(/dev/kmsg), for example "XFS (loop0p2): Invalid superblock magic number" for O(fstype=xfs) on an ext4
    partition; where the kernel log cannot be read, only mount's own message.
  - >-
    Copies of one image can be mounted at once (their filesystems have the same UUIDs). XFS refuses a UUID it has
    mounted already, so an XFS filesystem whose twin is mounted is mounted with C(nouuid), and the action says so.
    A copy of a mounted btrfs filesystem needs a kernel with temporary fsids (Linux 6.7 and later,
    C(/sys/fs/btrfs/features/temp_fsid)); on an older kernel the task fails before mounting and names the mounted
    copy. ext4 needs nothing.
  - No udev is needed; sysfs and the devices themselves are read directly. Where udev runs, the module holds a
    BSD lock on the whole disk (systemd's block device locking) while it maps partitions and mounts, so that udev
    neither probes nor re-reads the partition table under it.
"""

EXAMPLES = r"""
- name: Mount the root partition of an image by label
  virt.disk.image_mount:
    image: /var/lib/images/disk.img
    path: /mnt/disk
    partition: LABEL=root

- name: Mount the boot partition beneath it, on the same loop device
  virt.disk.image_mount:
    image: /var/lib/images/disk.img
    path: /mnt/disk/boot
    partition: PARTLABEL=boot

- name: Inspect an image without being able to change it
  virt.disk.image_mount:
    image: /var/lib/images/golden.img
    path: /mnt/golden
    read_only: true

- name: Mount a qcow2 image read-only by GPT partition name (nbd, or FUSE where there is no nbd)
  virt.disk.image_mount:
    image: /var/lib/libvirt/images/vm.qcow2
    path: /mnt/vm
    partition: PARTLABEL=root
    read_only: true

- name: Map partition 2 for fsck, nothing mounted
  virt.disk.image_mount:
    image: /var/lib/images/disk.img
    partition: "2"
    state: mapped
  register: mapped

- name: Check the filesystem of the mapped partition
  ansible.builtin.command:
    cmd: e2fsck -fn {{ mapped.partition_device }}
  changed_when: false

- name: Make the mounted image's root partition read-only (the device is attached again, read-only)
  virt.disk.image_mount:
    image: /var/lib/images/disk.img
    path: /mnt/disk
    partition: LABEL=root
    read_only: true

- name: Mount the image's operating system as it boots (root, then /boot, /boot/efi, /var... from its fstab)
  virt.disk.image_mount:
    image: /var/lib/images/golden.qcow2
    path: /mnt/golden
    layout: tree
  register: golden

- name: Show where each filesystem of the image went, and what was left out
  ansible.builtin.debug:
    msg: "{{ golden.tree | map(attribute='target') | list }}; skipped {{ golden.tree_skipped }}"

- name: Try a change on a golden image without changing it (writes go to a throwaway overlay)
  virt.disk.image_mount:
    image: /var/lib/images/golden.qcow2
    path: /mnt/try
    layout: tree
    snapshot: true

- name: Discard what was written there
  virt.disk.image_mount:
    image: /var/lib/images/golden.qcow2
    path: /mnt/try
    state: absent

- name: Customize the image's operating system - the tree with /dev, /proc, /sys, /run and resolv.conf for chroot
  virt.disk.image_mount:
    image: /var/lib/images/golden.qcow2
    path: /mnt/golden
    layout: tree
    runtime: chroot

- name: Install a package inside the image
  ansible.builtin.command:
    argv: [chroot, /mnt/golden, apt-get, install, -y, --no-install-recommends, qemu-guest-agent]
  changed_when: true

- name: Take it down - daemons the package started in the chroot are stopped first
  virt.disk.image_mount:
    image: /var/lib/images/golden.qcow2
    path: /mnt/golden
    state: absent

- name: Take it all down again and remove the mount point (also after its file was deleted)
  virt.disk.image_mount:
    image: /var/lib/images/disk.img
    path: /mnt/disk
    state: absent
"""

RETURN = r"""
image:
  description: The image, symlinks resolved.
  returned: always
  type: str
  sample: /var/lib/images/disk.img
format:
  description: The image format in use.
  returned: always
  type: str
  sample: raw
backend:
  description: The backend holding the image (V(loop), V(nbd), V(fuse) or V(block)); null when nothing is attached.
  returned: always
  type: str
  sample: loop
device:
  description: The block device of the whole image, or null when it is not attached. In check mode, what the run
    would lead to.
  returned: always
  type: str
  sample: /dev/loop0
partition:
  description: The selected partition number, 0 for the whole device; null when no partition was selected.
  returned: always
  type: int
  sample: 2
partition_device:
  description: The device node of the selected partition (the whole device for partition 0); for a logical volume
    (O(partition=LV=vg/lv)) or an encrypted partition, the volume's device under C(/dev/mapper/).
  returned: always
  type: str
  sample: /dev/loop0p2
volumes:
  description:
    - Device-mapper devices stacked on the image's device and partitions (LUKS mappings, logical volumes), the
      topmost first, with C(name), C(device), C(type) (C(luks), C(lvm) or C(dm)), C(over) (the kernel names of
      the devices below), C(read_only) and C(ours) (opened by this module, named C(virtdisk-KEY-...)).
    - A teardown (O(state=unmapped) or O(state=absent)) closes them before it removes the partitions; one that is
      held open elsewhere fails the task naming who holds it, and nothing below it is taken away.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: virtdisk-file-254-1-131-vg0-root, device: /dev/mapper/virtdisk-file-254-1-131-vg0-root, type: lvm,
       over: [loop0p2], read_only: false, ours: true}
  version_added: "1.1.0"
path:
  description: The mount point given.
  returned: always
  type: str
  sample: /mnt/disk
fstype:
  description: The filesystem type of the selected partition, as probed.
  returned: always
  type: str
  sample: ext4
read_only:
  description: True when the device is read-only or the mount at O(path) is, for any reason (O(read_only), or
    V(ro) in O(opts)); false when nothing is attached.
  returned: always
  type: bool
  sample: false
snapshot:
  description: True when writes go to a throwaway overlay (O(snapshot)), as discovered from the qemu helper.
  returned: always
  type: bool
  sample: false
  version_added: "1.1.0"
runtime:
  description:
    - With O(runtime=chroot), the mounts of the chroot runtime - for each, the mount point in the image
      (C(target)), on the host (C(path)), C(fstype) (V(bind) for a bind mount) and C(source); for
      C(/etc/resolv.conf) that is a link, C(link) too.
    - In check mode while the image is not mounted yet, empty (RV(actions) says the runtime is known once it is).
  returned: always
  type: list
  elements: dict
  sample:
    - {target: /dev, path: /mnt/golden/dev, fstype: bind, source: /dev}
    - {target: /proc, path: /mnt/golden/proc, fstype: proc, source: proc}
  version_added: "1.1.0"
mapper:
  description: The partition mapper that made RV(partition_device) (V(kernel), V(partx), V(kpartx)); null for
    the whole device.
  returned: always
  type: str
  sample: partx
pid:
  description: The pid of the qemu helper serving the image (qemu-nbd or qemu-storage-daemon); null for the loop
    and block backends.
  returned: always
  type: int
  sample: null
tree:
  description:
    - With O(layout=tree) and O(state=mounted), the mounts of the tree, root first, parents before children.
    - In check mode while the image's root is not mounted yet, empty - its fstab is read inside the mounted root;
      RV(actions) then says the tree is known once the root is mounted.
  returned: always
  type: list
  elements: dict
  version_added: "1.1.0"
  contains:
    target:
      description: The mount point in the image's terms (C(/boot/efi)).
      type: str
    path:
      description: The mount point on the host, resolved inside the image.
      type: str
    partition:
      description: The partition number (for a filesystem inside LUKS, the LUKS partition's); null for a logical
        volume.
      type: int
    volume:
      description: The logical volume (C(vg/lv)) mounted there, or null.
      type: str
    encrypted:
      description: Whether the filesystem is inside a LUKS partition (RV(tree[].device) is then its mapping).
      type: bool
    device:
      description: Its device node; null in check mode before it is mapped.
      type: str
    source:
      description: The fstab source (C(UUID=...)), or how the partition was chosen (C(partition 3)).
      type: str
    fstype:
      description: The filesystem type from the fstab, else as probed.
      type: str
    options:
      description: The options it is mounted with (the fstab's that say how, then O(opts)).
      type: str
    origin:
      description: V(selector) (the root, chosen by O(partition)), V(fstab), or V(dps) (placed by its partition type).
      type: str
    fstab_line:
      description: The line of the image's fstab, or null.
      type: int
  sample:
    - {target: /, path: /mnt/img, partition: 3, device: /dev/loop0p3, source: "UUID=5b1c...", fstype: ext4,
       options: "errors=remount-ro,nodev,nosuid", origin: fstab, fstab_line: 1}
    - {target: /boot, path: /mnt/img/boot, partition: 2, device: /dev/loop0p2, source: "LABEL=boot",
       fstype: ext4, options: "nodev,nosuid", origin: fstab, fstab_line: 2}
tree_skipped:
  description: With O(layout=tree), the entries left out of the tree, and why.
  returned: always
  type: list
  elements: dict
  version_added: "1.1.0"
  contains:
    target:
      description: The mount point in the image's terms, or null for a partition the DPS places nowhere.
      type: str
    source:
      description: The fstab source or the partition.
      type: str
    fstab_line:
      description: The line of the image's fstab, or null.
      type: int
    reason:
      description: Why it is not mounted (V(swap), V(noauto), V(this kernel cannot mount vfat)...).
      type: str
  sample:
    - {target: /boot/efi, source: "UUID=7C1A-2B3D", fstab_line: 4, reason: this kernel cannot mount vfat}
    - {target: none, source: "UUID=0d5e...", fstab_line: 6, reason: swap}
partitions:
  description: The partitions of the image, when they were probed (states V(mounted) and V(mapped)).
  returned: always
  type: list
  elements: dict
  contains:
    number:
      description: Partition number (1-based).
      type: int
    device:
      description: Its device node, or null when it is not mapped.
      type: str
    start:
      description: Offset from the start of the disk in bytes.
      type: int
    size:
      description: Size in bytes.
      type: int
    fstype:
      description: Filesystem type found by blkid, or null.
      type: str
    label:
      description: Filesystem label, or null.
      type: str
    uuid:
      description: Filesystem UUID, or null.
      type: str
    partlabel:
      description: GPT partition name, or null.
      type: str
    partuuid:
      description: Partition UUID (GPT), or disk id and number (MBR).
      type: str
    type:
      description: Partition type (a GUID on GPT, C(0xNN) on MBR).
      type: str
  sample:
    - number: 1
      device: /dev/loop0p1
      start: 1048576
      size: 16777216
      fstype: ext4
      label: boot
      uuid: 3e8a5c0e-5d1e-4a8e-9c47-1a8b3c7e6f10
      partlabel: boot
      partuuid: 93ffa7cf-c74b-c346-a39b-1d8b6fee86bf
      type: 0fc63daf-8483-4772-8e79-3d69d8477de4
mounts:
  description: The mounts of this image's devices after the run (in check mode, the ones it would lead to).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: Mount point.
      type: str
    device:
      description: Mounted device.
      type: str
  sample:
    - path: /mnt/disk
      device: /dev/loop0p2
actions:
  description: What was done, in order (in check mode, what would be done). Rolled-back steps are listed too.
  returned: always
  type: list
  elements: str
  sample:
    - attached /var/lib/images/disk.img as /dev/loop0
    - mapped partition 2 of /dev/loop0 as /dev/loop0p2 (partx)
    - mounted /dev/loop0p2 at /mnt/disk
"""

from ansible.module_utils.basic import AnsibleModule

# Before the other module_utils: it makes them compile once, not twice, from the module zip.
from ansible_collections.virt.disk.plugins.module_utils import compile_once  # pylint: disable=unused-import
from ansible_collections.virt.disk.plugins.module_utils.backends.registry import NAMES as BACKENDS
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.formats import FORMATS
from ansible_collections.virt.disk.plugins.module_utils.kernel.partnodes import MAPPERS
from ansible_collections.virt.disk.plugins.module_utils.plan.converge import converge
from ansible_collections.virt.disk.plugins.module_utils.plan.planner import STATES, TREE_SOURCES
from ansible_collections.virt.disk.plugins.module_utils.runner import Runner
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host


def main():
    module = AnsibleModule(
        argument_spec=dict(
            image=dict(type="path", required=True),
            path=dict(type="path"),
            state=dict(type="str", default="mounted", choices=list(STATES)),
            partition=dict(type="str", default="auto"),
            format=dict(type="str", default="auto", choices=["auto"] + list(FORMATS)),
            backend=dict(type="str", default="auto", choices=["auto"] + list(BACKENDS)),
            partition_mapper=dict(type="str", default="auto", choices=["auto"] + list(MAPPERS)),
            fstype=dict(type="str"),
            opts=dict(type="str", default="nodev,nosuid"),
            layout=dict(type="str", default="partition", choices=["partition", "tree"]),
            tree_source=dict(type="str", default="auto", choices=list(TREE_SOURCES)),
            tree_noauto=dict(type="bool", default=False),
            read_only=dict(type="bool", default=False),
            snapshot=dict(type="bool", default=False),
            runtime=dict(type="str", default="none", choices=["none", "chroot"]),
            passphrase=dict(type="str", no_log=True),
            keyfile=dict(type="path", no_log=False),
            allow_backing_file=dict(type="bool", default=False),
            timeout=dict(type="int", default=30),
        ),
        required_if=[("state", "mounted", ["path"])],
        mutually_exclusive=[("passphrase", "keyfile")],
        supports_check_mode=True,
    )
    # The result's "path" is a mount point, not a file this module manages: keep
    # AnsibleModule from adding file attributes (and a "state" of "directory").
    module.add_path_info = lambda kwargs: kwargs
    try:
        result = converge(module.params, Host(Runner(module), timeout=module.params["timeout"]), module.check_mode)
    except VirtDiskError as e:
        module.fail_json(msg=str(e), **getattr(e, "result", {}))
    if not module._diff:
        result.pop("diff", None)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
