#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: image_mount_info
short_description: Report attached disk images and what this host can do
version_added: "1.0.0"
description:
  - Lists every disk image attached on this host, by whoever attached it and through any backend
    (loop devices over files, C(qemu-nbd) connections, C(qemu-storage-daemon) FUSE exports), with its
    partition devices (kernel, partx or kpartx) and its mounts.
  - Reports the host's capabilities (loop and nbd devices and their parameters, device-mapper, FUSE,
    the qemu tools) and the backends usable here.
  - Reads sysfs, C(/proc) and C(/proc/self/mountinfo) only; changes nothing.
author:
  - virt.disk maintainers (@virt-disk)
requirements:
  - Python 3.8 or later on the managed node, the lowest ansible-core 2.19 supports (3.9 with 2.20 and later; tested
    up to 3.13)
  - a Linux managed node (without O(image) the module reads sysfs, C(/proc) and the kernel's module lists and runs
    no tool)
  - with O(image), root (the image is locked under C(/run/virt-disk/) while the module looks into it), and
    util-linux >= 2.38 for C(sfdisk) and C(blkid) (tested with 2.38.1, Debian 12)
  - for a qemu image in O(image), qemu-img and the tools of the backend that attaches it read-only for the probe, as
    for M(virt.disk.image_mount) (qemu-nbd and the kernel's nbd module, or qemu-storage-daemon >= 7.0 with
    C(/dev/fuse) and loop devices; tested with QEMU 7.2, Debian 12)
extends_documentation_fragment:
  - virt.disk.attributes.actiongroup_image
attributes:
  check_mode:
    support: full
    description: Reads only; the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is no diff.
  platform:
    support: full
    platforms: posix
    description: Linux only.
options:
  image:
    description:
      - Report only attachments of this image file (matched by device and inode, so any path to it works).
      - Also look into it and return its partitions in RV(layout), attached or not, so that a selector for
        M(virt.disk.image_mount) can be chosen before mounting. A raw image is probed as it is; a qemu image that
        is not attached is checked as for a mount (see O(allow_backing_file)), attached read-only for the probe
        and taken down again, so nothing is left attached. What an unchanged image file showed is kept in
        C(/run/virt-disk/cache/), so looking again starts no tool.
    type: path
  format:
    description:
      - The format to read O(image) as, as in M(virt.disk.image_mount). V(auto) recognises it from its header.
    type: str
    default: auto
    choices: [auto, raw, qcow2, vmdk, vdi, vhdx, vpc, qed]
  allow_backing_file:
    description:
      - Accept an O(image) that refers to other files (a backing file, an external data file, VMDK extents), as
        in M(virt.disk.image_mount); refused by default.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the image's lock and for a device while looking into O(image).
    type: int
    default: 30
  kernel_modules:
    description:
      - Kernel modules to describe in RV(kernel_modules), for example V(loop), V(nbd) and V(dm_mod).
      - Read from C(/proc/modules), C(/sys/module), C(/lib/modules/RELEASE/modules.dep) and
        C(modules.builtin), and the kernel config; nothing is loaded.
    type: list
    elements: str
    default: []
  kernel_module_parameters:
    description:
      - "The parameters each module of O(kernel_modules) should run with, for example
        C({nbd: {max_part: 16, nbds_max: 16}}); compared in RV(kernel_modules.differs) with the running ones
        as the kernel shows them (it rounds C(max_part) up to a power of two minus one)."
    type: dict
    default: {}
  lvm:
    description:
      - Also report in RV(host.lvm) whether the host's own LVM would activate volume groups found on the devices
        images are attached to (loop and nbd devices, their partition maps, LUKS and LV mappings of
        M(virt.disk.image_mount)); lvm2's udev rule activates a volume group as soon as its physical volume
        appears, unless the host's C(global_filter) rejects those paths, its devices file is in use, or event
        activation is off.
      - Runs C(lvmconfig) once when it is installed.
    type: bool
    default: false
    version_added: 1.1.0
seealso:
  - module: virt.disk.image_mount
  - module: community.general.modprobe
    description: Load a kernel module that RV(kernel_modules) reports as loadable (the C(virt.disk.image_host) role
      does this, with the parameters it compares through O(kernel_module_parameters)).
  - plugin: community.general.chroot
    plugin_type: connection
    description: Run tasks inside an image that M(virt.disk.image_mount) mounted on the controller.
  - module: community.general.filesystem
    description: Make a filesystem on a partition device that M(virt.disk.image_mount) mapped.
  - module: community.general.parted
    description: Create or change the partition table that RV(layout) shows.
notes:
  - Needs root to see the servers of nbd devices.
"""

EXAMPLES = r"""
- name: What is attached, and what can this host do?
  virt.disk.image_mount_info:
  register: info

- name: Show the backends usable here
  ansible.builtin.debug:
    var: info.host.backends

- name: Is nbd loaded, and with which max_part?
  virt.disk.image_mount_info:
    kernel_modules: [nbd, loop]
  register: info

- name: Say so
  ansible.builtin.debug:
    msg: "nbd is {{ info.kernel_modules.nbd.state }}, max_part={{ info.kernel_modules.nbd.parameters.max_part | default('-') }}"

- name: List the partitions of an image before mounting it
  virt.disk.image_mount_info:
    image: /var/lib/libvirt/images/vm.qcow2
  register: info

- name: Mount the partition labelled root, or what auto would pick
  virt.disk.image_mount:
    image: /var/lib/libvirt/images/vm.qcow2
    path: /mnt/vm
    partition: "{{ 'LABEL=root' if info.layout.partitions | selectattr('label', 'equalto', 'root') else 'auto' }}"

- name: Take down every image attached from a file
  virt.disk.image_mount:
    image: "{{ item.image }}"
    state: unmapped
  loop: "{{ info.images | selectattr('image') | list }}"
  loop_control:
    label: "{{ item.image }}"
"""

RETURN = r"""
images:
  description:
    - Every attached image (filtered by O(image) when given), in an order safe for taking them down one by one
      (an image whose file or mounts lie beneath another image's mounts comes first).
  returned: always
  type: list
  elements: dict
  contains:
    image:
      description: The image file; null when a FUSE export's daemon is gone and the file cannot be told.
      type: str
    format:
      description: The format it is read as (V(raw) for loop devices; from the qemu helper's command line otherwise).
      type: str
    backend:
      description: V(loop), V(nbd) or V(fuse).
      type: str
    device:
      description: The block device of the whole image; null for a FUSE export without a loop device.
      type: str
    read_only:
      description: Whether the device is read-only.
      type: bool
    pid:
      description: The qemu helper serving it, or null.
      type: int
    export:
      description: The FUSE export file (backend fuse only).
      type: str
    snapshot:
      description: Whether writes go to a throwaway overlay (O(virt.disk.image_mount#module:snapshot) of M(virt.disk.image_mount)).
      type: bool
    overlay:
      description: The overlay file of a FUSE export with a throwaway overlay (C(qemu-nbd --snapshot) keeps its
        own, unnamed), else null.
      type: str
    mapper:
      description: The partition mapper of its partition devices (a list when several were used), or null.
      type: raw
    partitions:
      description: Partition devices of the image (number, device, size in bytes, mapper).
      type: list
      elements: dict
    mounts:
      description: Mounts of the image's devices (path, device, fstype, read_only).
      type: list
      elements: dict
    beneath:
      description: Other mounts beneath the image's mounts (path, source, fstype), parents first - the chroot
        runtime of M(virt.disk.image_mount) O(virt.disk.image_mount#module:runtime=chroot), or anything else
        mounted there. A teardown of the image unmounts them too.
      type: list
      elements: dict
      version_added: "1.1.0"
    volumes:
      description:
        - Device-mapper devices stacked on the image's device and partitions, whoever made them, the topmost
          first (the order a teardown removes them in) - LUKS mappings (type C(luks)), logical volumes (C(lvm))
          and any other map (C(dm)).
        - Each has its C(name), C(device) (C(/dev/mapper/NAME)), C(type), C(over) (the kernel names of the
          devices it sits on), C(read_only) and C(ours) (made by M(virt.disk.image_mount), named
          C(virtdisk-KEY-...)).
      type: list
      elements: dict
      version_added: "1.1.0"
  sample:
    - image: /var/lib/images/disk.img
      format: raw
      backend: loop
      device: /dev/loop0
      read_only: false
      pid: null
      export: null
      snapshot: false
      overlay: null
      mapper: partx
      partitions:
        - {number: 2, device: /dev/loop0p2, size: 48234496, mapper: partx}
      mounts:
        - {path: /mnt/disk, device: /dev/loop0p2, fstype: ext4, read_only: false}
      beneath:
        - {path: /mnt/disk/proc, source: proc, fstype: proc}
layout:
  description:
    - What O(image) holds, attached or not; null when O(image) is not given.
  returned: always
  type: dict
  contains:
    image:
      description: The image, symlinks resolved.
      type: str
    format:
      description: The format it was read as.
      type: str
    attached:
      description: Whether the image is attached now (then its partitions were read through its device).
      type: bool
    partition_table:
      description: V(gpt), V(dos), or null when the image has no partition table (a filesystem on the whole disk).
      type: str
    auto_partition:
      description: The partition O(virt.disk.image_mount#module:partition=auto) selects (0 for the whole disk), or
        null when it cannot choose.
      type: int
    partitions:
      description: Every partition, as M(virt.disk.image_mount) returns them.
      type: list
      elements: dict
      contains:
        number:
          description: Partition number (1-based).
          type: int
        device:
          description: Its device node when the image is attached and the partition mapped, else null.
          type: str
        start:
          description: Offset from the start of the disk in bytes.
          type: int
        size:
          description: Size in bytes.
          type: int
        type:
          description: Partition type (a GUID on GPT, C(0xNN) on MBR).
          type: str
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
  sample:
    image: /var/lib/libvirt/images/vm.qcow2
    format: qcow2
    attached: false
    partition_table: gpt
    auto_partition: 2
    partitions:
      - {number: 1, device: null, start: 1048576, size: 16777216, type: c12a7328-f81f-11d2-ba4b-00a0c93ec93b,
         fstype: vfat, label: EFI, uuid: 1A2B-3C4D, partlabel: esp, partuuid: 93ffa7cf-c74b-c346-a39b-1d8b6fee86bf}
      - {number: 2, device: null, start: 17825792, size: 1056964608, type: 4f68bce3-e8cd-4db1-96e7-fbcaf984b709,
         fstype: ext4, label: root, uuid: 3e8a5c0e-5d1e-4a8e-9c47-1a8b3c7e6f10, partlabel: root,
         partuuid: 0b7c1d2e-3f40-4a51-8b62-7c83d94ea5f6}
kernel_modules:
  description:
    - Each module named in O(kernel_modules), with what the kernel has of it.
  returned: always
  type: dict
  contains:
    state:
      description:
        - V(loaded) (in C(/proc/modules)), V(builtin) (built into the kernel), V(loadable) (a module file in
          C(modules.dep), not loaded) or V(missing).
      type: str
    config:
      description: The kernel config value of the module's symbol (V(y), V(m), V(n)), or null when unknown.
      type: str
    filename:
      description: The module file, V((builtin)), or null when there is none.
      type: str
    parameters:
      description: The running parameters from C(/sys/module/NAME/parameters) (empty unless loaded or built in).
      type: dict
    refcnt:
      description: The module's use count when it is loaded, else null.
      type: int
    devices_in_use:
      description: Attached loop devices (for V(loop)) or connected nbd devices (for V(nbd)).
      type: list
      elements: str
    wanted:
      description: The module's entry of O(kernel_module_parameters), values as strings.
      type: dict
    differs:
      description:
        - Each wanted parameter the module runs with another value, as V({running, wanted}); empty when it
          runs as wanted, and for a module that is not loaded (it has no running parameters yet).
      type: dict
  sample:
    nbd:
      state: loaded
      config: m
      filename: /lib/modules/6.1.0-56-amd64/kernel/drivers/block/nbd.ko
      parameters: {max_part: "31", nbds_max: "16"}
      refcnt: 0
      devices_in_use: []
      wanted: {max_part: "16"}
      differs: {}
host:
  description: What this host can do.
  returned: always
  type: dict
  contains:
    loop:
      description: Loop devices are available.
      type: bool
    loop_max_part:
      description: The loop module's max_part, or null when it is not known.
      type: int
    nbd:
      description: The kernel has nbd devices (the module is loaded).
      type: bool
    nbd_devices:
      description: How many /dev/nbdN exist.
      type: int
    nbd_max_part:
      description: The nbd module's max_part, or null.
      type: int
    kernel_partition_scan:
      description: Whether the kernel can parse MBR or GPT partition tables itself (from its config); null when
        its config cannot be read.
      type: bool
    device_mapper:
      description: Device-mapper is available (kpartx works).
      type: bool
    fuse:
      description: /dev/fuse exists.
      type: bool
    qemu_nbd:
      description: Path of qemu-nbd, or null.
      type: str
    qemu_storage_daemon:
      description: Path of qemu-storage-daemon, or null.
      type: str
    qemu_img:
      description: Path of qemu-img, or null.
      type: str
    kpartx:
      description: Path of kpartx, or null.
      type: str
    partx:
      description: Path of partx, or null.
      type: str
    backends:
      description: The backends usable on this host.
      type: list
      elements: str
    binfmt_misc:
      description: binfmt_misc is mounted at C(/proc/sys/fs/binfmt_misc).
      type: bool
    architectures:
      description:
        - The machines (as C(uname -m) names them) whose programs run here, natively or through an enabled
          binfmt_misc handler with the C(F) flag (qemu-user), so that the C(virt.disk.image) connection can run
          commands inside images of them.
      type: list
      elements: str
    binfmt_handlers:
      description:
        - For each foreign machine that has a binfmt_misc handler (usable or not), the handler's name, whether
          it is enabled, its flags and its interpreter.
      type: dict
    lvm:
      description:
        - The host's LVM settings that decide whether it activates volume groups on image devices.
        - C(lvmconfig) is its path or null (then lvm2 is not installed and nothing else is set);
          C(global_filter) the effective C(devices/global_filter) (lvm.conf and lvmlocal.conf merged);
          C(use_devicesfile) and C(devices_file) (the devices file's path when it is in use and exists; lvm2 then
          uses only the devices it lists); C(event_activation) (C(global/event_activation));
          C(image_devices_scanned), sample paths of image devices (C(/dev/loop0), C(/dev/nbd0p1),
          C(/dev/mapper/virtdisk-...)) that the host's LVM would scan; C(autoactivates_image_devices), true when
          one of them would be scanned and event activation is on (the role C(virt.disk.image_host) with
          C(image_host_lvm_isolation) makes it false); C(error), lvmconfig's message when it failed.
      returned: when O(lvm) is true
      type: dict
      version_added: 1.1.0
  sample:
    loop: true
    loop_max_part: 0
    nbd: false
    nbd_devices: 0
    nbd_max_part: null
    kernel_partition_scan: false
    device_mapper: false
    fuse: true
    qemu_nbd: /usr/bin/qemu-nbd
    qemu_storage_daemon: /usr/bin/qemu-storage-daemon
    qemu_img: /usr/bin/qemu-img
    kpartx: /usr/sbin/kpartx
    partx: /usr/bin/partx
    backends: [loop, fuse, block]
    binfmt_misc: true
    architectures: [x86_64, i686, aarch64]
    binfmt_handlers:
      aarch64: {handler: qemu-aarch64, enabled: true, flags: POCF, interpreter: /usr/libexec/qemu-binfmt/aarch64-binfmt-P}
"""

from ansible.module_utils.basic import AnsibleModule

# Before the other module_utils: it makes them compile once, not twice, from the module zip.
from ansible_collections.virt.disk.plugins.module_utils import compile_once  # pylint: disable=unused-import
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image.formats import FORMATS
from ansible_collections.virt.disk.plugins.module_utils.kernel import kmodules
from ansible_collections.virt.disk.plugins.module_utils.runner import Runner
from ansible_collections.virt.disk.plugins.module_utils.state import capabilities, inventory
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host


def main():
    module = AnsibleModule(argument_spec=dict(image=dict(type="path"),
                                              format=dict(type="str", default="auto", choices=["auto"] + list(FORMATS)),
                                              allow_backing_file=dict(type="bool", default=False),
                                              timeout=dict(type="int", default=30),
                                              kernel_modules=dict(type="list", elements="str", default=[]),
                                              kernel_module_parameters=dict(type="dict", default={}),
                                              lvm=dict(type="bool", default=False)),
                           supports_check_mode=True)
    host = Host(Runner(module), timeout=module.params["timeout"])
    try:
        images = inventory.describe(host, image_filter=module.params["image"])
        config = capabilities.kernel_config()
        facts = capabilities.host(host, config=config)
        modules = kmodules.describe(host.sysfs, module.params["kernel_modules"], config=config,
                                    wanted=module.params["kernel_module_parameters"])
        if module.params["lvm"]:
            from ansible_collections.virt.disk.plugins.module_utils.volumes import hostlvm  # pylint: disable=import-outside-toplevel
            facts["lvm"] = hostlvm.describe(host)
    except (IOError, OSError) as e:
        module.fail_json(msg="cannot read the kernel's state: %s" % e)
    layout = None
    if module.params["image"]:
        # Imported only when asked: listing what is attached needs none of it.
        from ansible_collections.virt.disk.plugins.module_utils.plan import preview  # pylint: disable=import-outside-toplevel
        try:
            layout = preview.look(host, module.params["image"], module.params["format"],
                                  allow_backing_file=module.params["allow_backing_file"])
        except VirtDiskError as e:
            module.fail_json(msg="cannot look into %s: %s" % (module.params["image"], e), images=images, host=facts,
                             kernel_modules=modules)
    module.exit_json(changed=False, images=images, host=facts, kernel_modules=modules, layout=layout)


if __name__ == "__main__":
    main()
