# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.tree import fstab

# an fstab as installers write it: mixed sources, comments, escapes, pseudo and network entries
FSTAB = r"""
# /etc/fstab: static file system information.
UUID=5c2f0a8e-1b3d-4e6f-8a9b-0c1d2e3f4a52 /               ext4    errors=remount-ro 0       1
# /boot was on /dev/vda1 during installation
LABEL=vdboot  /boot           ext4    defaults        0       2
PARTUUID=9e8d7c6b-5a49-4838-b726-1504f3e2d1c3 /var xfs defaults,nofail,x-systemd.device-timeout=5s 0 2
PARTLABEL=home /home btrfs subvol=@home,compress=zstd:1,comment=x-gvfs-hide 0 0
/dev/disk/by-uuid/ABCD-1234 /boot/efi vfat umask=0077 0 1
/dev/vda5 none swap sw 0 0
/swapfile swap swap defaults 0 0
proc /proc proc defaults 0 0
tmpfs /tmp tmpfs mode=1777,nosuid 0 0
server:/export /mnt/nfs nfs4 rw,_netdev 0 0
//host/share /mnt/smb cifs credentials=/root/.smb 0 0
/srv/data /data none bind 0 0
LABEL=My\040Disk /mnt/my\040disk ext4 noauto,user 0 0
/dev/nvme0n1p7 /opt ext4 defaults 0 2
/dev/mapper/vg-root /lv ext4 defaults 0 2
short line
"""


def test_parse_keeps_entries_in_order_and_unescapes():
    entries = fstab.parse(FSTAB)
    assert [e.target for e in entries] == ["/", "/boot", "/var", "/home", "/boot/efi", "none", "swap", "/proc",
                                           "/tmp", "/mnt/nfs", "/mnt/smb", "/data", "/mnt/my disk", "/opt", "/lv"]
    mine = entries[12]
    assert mine.source == "LABEL=My Disk" and mine.options == ["noauto", "user"] and mine.line == 16  # the text starts with an empty line


@pytest.mark.parametrize("source, kind, value", [
    ("UUID=5c2f0a8e-1b3d-4e6f-8a9b-0c1d2e3f4a52", "uuid", "5c2f0a8e-1b3d-4e6f-8a9b-0c1d2e3f4a52"),
    ('LABEL="root"', "label", "root"),
    ("partuuid=abc", "partuuid", "abc"),
    ("PARTLABEL=home", "partlabel", "home"),
    ("/dev/disk/by-uuid/ABCD-1234", "uuid", "ABCD-1234"),
    ("/dev/disk/by-label/My\\x20Disk", "label", "My Disk"),
    ("/dev/disk/by-partuuid/9e8d", "partuuid", "9e8d"),
    ("/dev/disk/by-partlabel/root", "partlabel", "root"),
    ("/dev/disk/by-path/pci-0000:00:04.0-part1", None, None),
    ("/dev/vda2", "device", 2),
    ("/dev/sda1", "device", 1),
    ("/dev/xvdb3", "device", 3),
    ("/dev/nvme0n1p12", "device", 12),
    ("/dev/mmcblk0p1", "device", 1),
    ("/dev/sda", None, None),
    ("/dev/mapper/vg-root", "dm_name", "vg-root"),
    ("/dev/mapper/", None, None),
    ("/dev/vg0/root", "lv", "vg0/root"),
    ("/dev/disk/by-id/dm-name-ubuntu--vg-ubuntu--lv", "dm_name", "ubuntu--vg-ubuntu--lv"),
    ("/dev/disk/by-id/dm-uuid-LVM-abcDEF", "dm_uuid", "LVM-abcDEF"),
    ("/dev/disk/by-id/wwn-0x5000", None, None),
    ("/dev/mapper/vg/lv", None, None),
    ("/dev/pts/0", None, None),
    ("/dev/md0", None, None),
    ("server:/export", None, None),
])
def test_source_key(source, kind, value):
    assert fstab.source_key(source) == (kind, value)


def test_skip_reasons():
    reasons = dict((e.target, fstab.skip_reason(e)) for e in fstab.parse(FSTAB))
    assert reasons["/"] is None and reasons["/boot"] is None and reasons["/var"] is None
    assert reasons["/home"] is None and reasons["/boot/efi"] is None and reasons["/opt"] is None
    assert reasons["none"] == "swap" and reasons["swap"] == "swap"
    assert reasons["/proc"] == "not on a disk (proc)" and reasons["/tmp"] == "not on a disk (tmpfs)"
    assert reasons["/mnt/nfs"] == "a network filesystem (nfs4)"
    assert reasons["/mnt/smb"] == "a network filesystem (cifs)"
    assert reasons["/data"] == "a bind mount"
    assert reasons["/mnt/my disk"] == "noauto"


def test_noauto_when_asked():
    entry = [e for e in fstab.parse(FSTAB) if e.target == "/mnt/my disk"][0]
    assert fstab.skip_reason(entry, with_noauto=True) is None


def test_relative_mount_point_is_skipped():
    entry = fstab.parse("LABEL=x var ext4 defaults 0 0")[0]
    assert "not an absolute path" in fstab.skip_reason(entry)


def test_mount_options_drop_boot_time_ones():
    entries = dict((e.target, e) for e in fstab.parse(FSTAB))
    assert fstab.mount_options(entries["/"]) == ["errors=remount-ro"]
    assert fstab.mount_options(entries["/boot"]) == []
    assert fstab.mount_options(entries["/var"]) == []
    assert fstab.mount_options(entries["/home"]) == ["subvol=@home", "compress=zstd:1"]
    assert fstab.mount_options(entries["/boot/efi"]) == ["umask=0077"]
    assert entries["/var"].nofail and not entries["/boot"].nofail
