# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one exception type of the backend.

Everything foreseeable (bad input, a tool failing, a timeout) is raised as
VirtDiskError with a message that names the image, the step and the tool's own
error text; the modules turn it into fail_json, never a traceback.
"""

from __future__ import annotations


class VirtDiskError(Exception):
    """A foreseeable failure with a message meant for the user."""

    def __init__(self, msg, step=None, tool_error=None):
        self.step = step
        self.tool_error = (tool_error or "").strip() or None
        text = msg
        if step:
            text = "%s: %s" % (step, text)
        if self.tool_error and self.tool_error not in text:
            text = "%s: %s" % (text, self.tool_error)
        super(VirtDiskError, self).__init__(text)
        self.msg = text
