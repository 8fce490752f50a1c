# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Let plain `python -m pytest tests/unit` import ansible_collections.virt.disk.

ansible-test installs its own collection loader; run directly, pytest needs the
directory that holds ansible_collections/ on sys.path. That is only possible
when this checkout sits at .../ansible_collections/virt/disk.
"""

from __future__ import annotations

import os
import sys

_COLLECTION = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_NAMESPACES = os.path.dirname(os.path.dirname(_COLLECTION))

if os.path.basename(_NAMESPACES) == "ansible_collections" and os.path.dirname(_NAMESPACES) not in sys.path:
    sys.path.insert(0, os.path.dirname(_NAMESPACES))
