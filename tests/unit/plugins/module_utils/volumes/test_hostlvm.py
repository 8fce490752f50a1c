# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""volumes.hostlvm: whether the host's LVM would activate volume groups on image devices."""

from __future__ import annotations

import pytest

from ansible_collections.virt.disk.plugins.module_utils.volumes import hostlvm
from ansible_collections.virt.disk.tests.unit.plugins.module_utils.fakes import FakeRunner

# The patterns the role virt.disk.image_host writes (roles/image_host/vars/main.yml).
ROLE_FILTER = ["r|^/dev/loop[0-9]|", "r|^/dev/nbd[0-9]|", "r|^/dev/mapper/loop[0-9]|", "r|^/dev/mapper/nbd[0-9]|",
               "r|^/dev/mapper/virtdisk-|"]
# lvmconfig --typeconfig full as Debian 12's lvm2 2.03.16 prints it with its default lvm.conf.
DEFAULTS = 'global_filter=["a|.*|"]\nuse_devicesfile=0\ndevicesfile="system.devices"\nevent_activation=1\n'


class Host(object):
    def __init__(self, runner, lvmconfig="/usr/sbin/lvmconfig"):
        self.runner = runner
        self.lvmconfig = lvmconfig

    def which(self, name):
        return self.lvmconfig if name == "lvmconfig" else None


def describe(out, tmp_path, rc=0, err=""):
    runner = FakeRunner([(["/usr/sbin/lvmconfig"], (rc, out, err))])
    return hostlvm.describe(Host(runner), system_dir=str(tmp_path)), runner


def test_parse_lvmconfig_values():
    parsed = hostlvm.parse_lvmconfig('global_filter=["r|^/dev/loop[0-9]|","a|\\"odd\\"|"]\n'
                                     'use_devicesfile=1\ndevicesfile="system.devices"\n'
                                     '  Configuration node devices/nosuch not found\n')
    assert parsed == {"global_filter": ["r|^/dev/loop[0-9]|", 'a|"odd"|'], "use_devicesfile": 1,
                      "devicesfile": "system.devices"}


@pytest.mark.parametrize("patterns, path, accepted", [
    ([], "/dev/loop0", True),
    (["a|.*|"], "/dev/loop0", True),
    (ROLE_FILTER + ["a|.*|"], "/dev/loop3p2", False),
    (ROLE_FILTER + ["a|.*|"], "/dev/sda2", True),
    (ROLE_FILTER, "/dev/mapper/virtdisk-0123-vg0-root", False),
    (ROLE_FILTER, "/dev/mapper/vg0-root", True),
    (["a|^/dev/loop0$|", "r|.*|"], "/dev/loop0", True),
    (["a|^/dev/loop0$|", "r|.*|"], "/dev/loop1", False),
    (["r/^\\/dev\\/nbd/"], "/dev/nbd1", False),
    (["x|bad|", "r|[|", "r|^/dev/loop|"], "/dev/loop0", False),
])
def test_filter_first_match_decides(patterns, path, accepted):
    assert hostlvm.accepts(patterns, path) is accepted


def test_defaults_activate_image_devices(tmp_path):
    result, runner = describe(DEFAULTS, tmp_path)
    assert runner.calls == [["/usr/sbin/lvmconfig", "--typeconfig", "full"] + list(hostlvm.SETTINGS)]
    assert result["autoactivates_image_devices"] is True
    assert result["image_devices_scanned"] == list(hostlvm.SAMPLE_PATHS)
    assert result["global_filter"] == ["a|.*|"]
    assert result["event_activation"] is True and result["use_devicesfile"] is False


def test_role_filter_isolates(tmp_path):
    out = DEFAULTS.replace('["a|.*|"]', "[%s]" % ",".join('"%s"' % p for p in ROLE_FILTER + ["a|.*|"]))
    result, _runner = describe(out, tmp_path)
    assert result["image_devices_scanned"] == []
    assert result["autoactivates_image_devices"] is False


def test_partial_filter_names_what_is_still_scanned(tmp_path):
    result, _runner = describe(DEFAULTS.replace('["a|.*|"]', '["r|^/dev/loop|"]'), tmp_path)
    assert "/dev/loop0" not in result["image_devices_scanned"]
    assert "/dev/nbd0" in result["image_devices_scanned"]
    assert result["autoactivates_image_devices"] is True


def test_event_activation_off(tmp_path):
    result, _runner = describe(DEFAULTS.replace("event_activation=1", "event_activation=0"), tmp_path)
    assert result["image_devices_scanned"]
    assert result["autoactivates_image_devices"] is False


def test_devices_file_in_use_only_when_it_exists(tmp_path):
    out = DEFAULTS.replace("use_devicesfile=0", "use_devicesfile=1")
    result, _runner = describe(out, tmp_path)
    assert result["devices_file"] is None and result["autoactivates_image_devices"] is True
    (tmp_path / "devices").mkdir()
    (tmp_path / "devices" / "system.devices").write_text("VERSION=1.1.1\n")
    result, _runner = describe(out, tmp_path)
    assert result["devices_file"] == str(tmp_path / "devices" / "system.devices")
    assert result["image_devices_scanned"] == [] and result["autoactivates_image_devices"] is False


def test_no_lvm2(tmp_path):
    runner = FakeRunner()
    result = hostlvm.describe(Host(runner, lvmconfig=None), system_dir=str(tmp_path))
    assert runner.calls == []
    assert result["lvmconfig"] is None and result["autoactivates_image_devices"] is False


def test_lvmconfig_failure_is_reported(tmp_path):
    result, _runner = describe("", tmp_path, rc=5, err="  Parse error at byte 12 (line 2): unexpected token\n")
    assert result["error"] == "Parse error at byte 12 (line 2): unexpected token"
    assert result["autoactivates_image_devices"] is False
