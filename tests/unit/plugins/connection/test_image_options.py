# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection passes image_mount's options through (agent.PARAMS): the
same defaults as image_mount's argument_spec and as the connection's own
documentation, so that a connection and an image_mount task given the same
options converge to the same state."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.virt.disk.plugins.connection import image as connection
from ansible_collections.virt.disk.plugins.module_utils.connection import agent
from ansible_collections.virt.disk.plugins.modules import image_mount


class Captured(Exception):
    pass


def module_spec(monkeypatch):
    def capture(argument_spec, **_kwargs):
        raise Captured(argument_spec)
    monkeypatch.setattr(image_mount, "AnsibleModule", capture)
    with pytest.raises(Captured) as e:
        image_mount.main()
    return e.value.args[0]


def test_defaults_are_image_mounts(monkeypatch):
    spec = module_spec(monkeypatch)
    assert set(agent.PARAMS) <= set(spec)
    assert dict((name, spec[name].get("default")) for name in agent.PARAMS) == agent.PARAMS


def test_defaults_are_documented():
    options = yaml.safe_load(connection.DOCUMENTATION)["options"]
    assert dict((name, options[name].get("default")) for name in agent.PARAMS) == agent.PARAMS
