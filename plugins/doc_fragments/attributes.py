# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """Attributes the collection's modules share."""

    # The action group of meta/runtime.yml that holds both modules.
    ACTIONGROUP_IMAGE = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/virt.disk.image) in C(module_defaults) to set defaults for M(virt.disk.image_mount) and
      M(virt.disk.image_mount_info) at once.
    support: full
    membership:
      - virt.disk.image
"""
