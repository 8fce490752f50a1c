# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: image
short_description: Run tasks inside a disk image
version_added: "1.1.0"
author:
  - virt.disk maintainers (@virt-disk)
description:
  - Makes a disk image (raw, qcow2, vmdk, vdi, vhdx, vpc, qed or a block device) an inventory host. Ordinary modules
    (C(ansible.builtin.apt), C(ansible.builtin.user), C(ansible.builtin.template), C(ansible.builtin.systemd_service)
    offline, fact gathering, which reports the image's operating system) run inside it with C(chroot), with the
    image's own Python.
  - B(Connect) converges the image to its whole operating system tree, mounted as its C(/etc/fstab) says, with the
    chroot runtime (C(/dev), C(/dev/pts), C(/proc), C(/sys), C(/run), C(resolv.conf)), through the same backend as
    M(virt.disk.image_mount) with O(virt.disk.image_mount#module:layout=tree) and
    O(virt.disk.image_mount#module:runtime=chroot). An image already mounted (by an earlier task or play, by
    M(virt.disk.image_mount), by hand) is adopted, not mounted twice; its tree is completed where it is mounted (an
    image of which only one partition is mounted, say C(/boot) at C(/mnt/x), gets its root there instead and that
    partition below it). Later tasks only check that the root mount the first one recorded (under
    C(/run/virt-disk/connection/)) is still there with its runtime.
  - B(Commands) run as C(chroot ROOT /bin/sh -c CMD) in a clean environment (C(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin),
    C(HOME=/root), C(LANG=C.UTF-8), C(SHELL=/bin/sh), C(USER=root), C(LOGNAME=root), nothing else). Pipelining is
    supported. An image without Python can still be handled with M(ansible.builtin.raw).
  - B(Files) copied in and out (the transfers of M(ansible.builtin.copy), M(ansible.builtin.template),
    M(ansible.builtin.fetch)) are resolved inside the image's root, with C(openat2) and C(RESOLVE_IN_ROOT) where the
    kernel has it, else component by component; a symbolic link in the image, absolute or with C(..), never makes a
    copy land on or be read from the host. Only regular files are copied, and none on the host filesystems the chroot
    runtime shows inside the tree.
  - B(Teardown) is explicit, so that many tasks and plays share one mount. the task M(ansible.builtin.meta) V(reset_connection)
    takes the image down (its processes inside the chroot are stopped first, then its mounts, maps and devices); the
    example playbook C(virt.disk.customize) ends with it. With O(teardown=task) every task takes the image down when
    it ends. A run that fails or is killed leaves the image mounted; the next run adopts it and continues, and
    C(virt.disk.teardown_all) takes down whatever is left.
  - B(Foreign architectures) run where the kernel's C(binfmt_misc) has a C(qemu-user) handler with the C(F) flag
    (the distribution's C(qemu-user-static) and C(binfmt-support) register it so). Otherwise connecting fails and
    says what to install.
  - B(Remote image hosts) (O(image_host)) keep the images on another machine reached over SSH
    (P(ansible.builtin.ssh#connection)); the image is mounted there by this collection's own code, sent with each request to that
    machine's Python, and commands run there in the chroot. Files are copied there in pieces of 16 MiB, one request
    each.
  - Mounting needs root where the images are. A controller that is not root fails with a message that says so; on a
    remote image host, connect as root or set O(image_host_become) (C(sudo -n)).
  - Privilege escalation inside the image (C(become_user)) uses the image's own C(sudo) or C(su).
  - Chroot is not a security boundary against the image's own programs, which run as root. Run tasks only in images
    whose programs you trust; inspect untrusted ones read-only with M(virt.disk.image_mount_info) or
    M(virt.disk.image_mount).
options:
  remote_addr:
    description:
      - The image file or block device, on the image host.
    type: path
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: virt_disk_image
  path:
    description:
      - Where the tree is mounted. By default the existing mount of an adopted image, else
        C(/run/virt-disk/roots/KEY), KEY naming the image file by its device and inode.
      - The teardown removes the mount point only when it is that default one; an adopted or given path stays.
    type: path
    vars:
      - name: virt_disk_path
  partition:
    description:
      - The root partition, as O(virt.disk.image_mount#module:partition) (number, C(LABEL=), C(UUID=), C(PARTLABEL=),
        C(PARTUUID=), C(auto)).
    type: str
    default: auto
    vars:
      - name: virt_disk_partition
  format:
    description:
      - The image format, as O(virt.disk.image_mount#module:format).
    type: str
    default: auto
    choices: [auto, raw, qcow2, vmdk, vdi, vhdx, vpc, qed]
    vars:
      - name: virt_disk_format
  backend:
    description:
      - How the image becomes a block device, as O(virt.disk.image_mount#module:backend).
    type: str
    default: auto
    choices: [auto, loop, nbd, fuse, block]
    vars:
      - name: virt_disk_backend
  partition_mapper:
    description:
      - How partition devices are made, as O(virt.disk.image_mount#module:partition_mapper).
    type: str
    default: auto
    choices: [auto, kernel, partx, kpartx]
    vars:
      - name: virt_disk_partition_mapper
  fstype:
    description:
      - The root's filesystem type, passed to C(mount -t). Detected when unset.
    type: str
    vars:
      - name: virt_disk_fstype
  opts:
    description:
      - Mount options of the root and of every filesystem of the tree, as O(virt.disk.image_mount#module:opts).
    type: str
    default: nodev,nosuid
    vars:
      - name: virt_disk_opts
  tree_source:
    description:
      - Where the tree is taken from, as O(virt.disk.image_mount#module:tree_source).
    type: str
    default: auto
    choices: [auto, fstab, dps]
    vars:
      - name: virt_disk_tree_source
  tree_noauto:
    description:
      - Mount the fstab entries marked C(noauto) too.
    type: bool
    default: false
    vars:
      - name: virt_disk_tree_noauto
  read_only:
    description:
      - Attach and mount the image read-only, as O(virt.disk.image_mount#module:read_only). Tasks that write fail.
    type: bool
    default: false
    vars:
      - name: virt_disk_read_only
  snapshot:
    description:
      - Send every write to a throwaway overlay, discarded at teardown, as
        O(virt.disk.image_mount#module:snapshot). The image's bytes never change.
    type: bool
    default: false
    vars:
      - name: virt_disk_snapshot
  allow_backing_file:
    description:
      - Accept images that refer to other files (a qcow2 backing file), as
        O(virt.disk.image_mount#module:allow_backing_file).
    type: bool
    default: false
    vars:
      - name: virt_disk_allow_backing_file
  passphrase:
    description:
      - The passphrase that opens the image's LUKS partitions (its root, the filesystems its fstab and crypttab
        name inside LUKS, LVM inside LUKS), as O(virt.disk.image_mount#module:passphrase). It travels to the image
        host's Python on its standard input, never on a command line; keep it in Ansible Vault.
      - Mutually exclusive with O(keyfile).
    type: str
    vars:
      - name: virt_disk_passphrase
  keyfile:
    description:
      - A key file on the image host (the controller, or O(image_host)) that opens the image's LUKS partitions,
        as O(virt.disk.image_mount#module:keyfile).
      - Mutually exclusive with O(passphrase).
    type: path
    vars:
      - name: virt_disk_keyfile
  timeout:
    description:
      - Seconds to wait for a device, a partition node or the image's lock.
    type: int
    default: 30
    vars:
      - name: virt_disk_timeout
  teardown:
    description:
      - When the image is taken down. V(reset) on the task M(ansible.builtin.meta) V(reset_connection) (the image stays mounted
        between tasks and plays). V(task) at the end of every task as well, for those who prefer leak-proof over
        fast.
    type: str
    default: reset
    choices: [reset, task]
    vars:
      - name: virt_disk_teardown
  executable:
    description:
      - The shell inside the image that runs each command.
    type: str
    default: /bin/sh
    vars:
      - name: ansible_executable
  image_host:
    description:
      - The machine that holds the images, reached with P(ansible.builtin.ssh#connection). Unset, the images are on the
        controller.
    type: str
    vars:
      - name: virt_disk_host
  image_host_user:
    description:
      - The SSH user on O(image_host). Unset, SSH's own default.
    type: str
    vars:
      - name: virt_disk_host_user
  image_host_port:
    description:
      - The SSH port of O(image_host).
    type: int
    vars:
      - name: virt_disk_host_port
  image_host_private_key_file:
    description:
      - The SSH key for O(image_host).
    type: path
    vars:
      - name: virt_disk_host_private_key_file
  image_host_ssh_common_args:
    description:
      - More C(ssh) arguments for O(image_host), for example C(-o UserKnownHostsFile=...).
    type: str
    default: ""
    vars:
      - name: virt_disk_host_ssh_common_args
  image_host_become:
    description:
      - Run everything on O(image_host) through C(sudo -n) (mounting needs root there). The user needs sudo without a
        password.
    type: bool
    default: false
    vars:
      - name: virt_disk_host_become
  image_host_python:
    description:
      - The Python on O(image_host) that runs this collection's code.
    type: str
    default: python3
    vars:
      - name: virt_disk_host_python
notes:
  - Check mode and diff work as for any host; the image is still mounted, since the tasks need its tree.
  - Forks run images in parallel; each image has its own lock, so two hosts of one image wait for each other.
seealso:
  - module: virt.disk.image_mount
  - module: virt.disk.image_mount_info
  - name: Customizing images (README)
    description: The inventory, the playbook and the teardown.
    link: https://github.com/virt-disk/virt.disk#customizing-images
"""

EXAMPLES = r"""
# inventory (INI)
# [golden]
# bookworm ansible_host=/var/lib/images/bookworm.qcow2
# noble    ansible_host=/var/lib/images/noble.raw virt_disk_snapshot=true
# [golden:vars]
# ansible_connection=virt.disk.image

- name: Customize the images
  hosts: golden
  tasks:
    - name: Install a package from a file in the image
      ansible.builtin.apt:
        deb: /root/tool.deb
    - name: Enable a unit (offline)
      ansible.builtin.systemd_service:
        name: tool.service
        enabled: true

- name: Take the images down
  hosts: golden
  gather_facts: false
  tasks:
    - name: Unmount and detach
      ansible.builtin.meta: reset_connection

# images on another machine
# [golden:vars]
# ansible_connection=virt.disk.image
# virt_disk_host=imagehost.example.com
# virt_disk_host_user=builder
# virt_disk_host_become=true
"""

import os

from ansible.errors import AnsibleError, AnsibleFileNotFound
from ansible.plugins.connection import ConnectionBase, ensure_connect
from ansible.plugins.loader import connection_loader
from ansible.utils.display import Display
from ansible_collections.virt.disk.plugins.module_utils.connection.agent import PARAMS
from ansible_collections.virt.disk.plugins.plugin_utils.image_host import LocalImageHost, RemoteImageHost

display = Display()


class Connection(ConnectionBase):
    """A disk image, mounted and entered with chroot."""

    transport = "virt.disk.image"
    has_pipelining = True
    has_tty = False
    default_user = "root"

    def __init__(self, *args, **kwargs):
        super(Connection, self).__init__(*args, **kwargs)
        self._image_host = None
        self._root = None

    def _host(self):
        if self._image_host is None:
            address = self.get_option("image_host")
            if not address:
                self._image_host = LocalImageHost()
            else:
                ssh = connection_loader.get("ansible.builtin.ssh", self._play_context)
                direct = {"host": address, "ssh_common_args": self.get_option("image_host_ssh_common_args")}
                for ours, theirs in (("image_host_user", "remote_user"), ("image_host_port", "port"),
                                     ("image_host_private_key_file", "private_key_file")):
                    if self.get_option(ours) is not None:
                        direct[theirs] = self.get_option(ours)
                ssh.set_options(direct=direct)
                self._image_host = RemoteImageHost(ssh, address, self.get_option("image_host_python"),
                                                   self.get_option("image_host_become"))
        return self._image_host

    def _request(self, op):
        return {"op": op, "image": self.get_option("remote_addr"), "path": self.get_option("path"),
                "params": dict((name, self.get_option(name)) for name in PARAMS)}

    def _connect(self):
        if self._connected:
            return self
        image = self.get_option("remote_addr")
        reply = self._host().call(self._request("connect"))  # the agent says when root is missing
        for warning in reply.get("warnings") or []:
            display.warning("virt.disk.image %s: %s" % (image, warning))
        if reply.get("changed"):
            display.vv("mounted %s at %s: %s" % (image, reply["path"], "; ".join(reply.get("actions") or [])),
                       host=image)
        self._root = reply["path"]
        self._connected = True
        return self

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        super(Connection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv("EXEC chroot %s %s" % (self._root, cmd), host=self.get_option("remote_addr"))
        return self._host().chroot(self._root, self.get_option("executable"), cmd, in_data)

    @ensure_connect
    def put_file(self, in_path, out_path):
        super(Connection, self).put_file(in_path, out_path)
        display.vvv("PUT %s TO %s" % (in_path, out_path), host=self.get_option("remote_addr"))
        if not os.path.exists(in_path):
            raise AnsibleFileNotFound("file or module does not exist: %s" % in_path)
        self._host().put(self.get_option("remote_addr"), self._root, in_path, out_path)

    @ensure_connect
    def fetch_file(self, in_path, out_path):
        super(Connection, self).fetch_file(in_path, out_path)
        display.vvv("FETCH %s TO %s" % (in_path, out_path), host=self.get_option("remote_addr"))
        self._host().fetch(self.get_option("remote_addr"), self._root, in_path, out_path)

    def _teardown(self):
        image = self.get_option("remote_addr")
        reply = self._host().call(self._request("teardown"))
        for warning in reply.get("warnings") or []:
            display.warning("virt.disk.image %s: %s" % (image, warning))
        if reply.get("changed"):
            display.vv("took %s down: %s" % (image, "; ".join(reply.get("actions") or [])), host=image)
        self._connected = False
        self._root = None

    def reset(self):
        self._teardown()

    def close(self):
        try:
            if self._connected and self.get_option("teardown") == "task":
                try:
                    self._teardown()
                except AnsibleError as e:
                    # Ansible ignores what close() raises: say it here; the next task or run adopts the mount
                    display.warning("virt.disk.image %s: the teardown after the task failed, the image stays mounted: %s"
                                    % (self.get_option("remote_addr"), e))
        finally:
            if self._image_host is not None:
                self._image_host.close()
            self._connected = False
