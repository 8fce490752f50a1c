# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running the host's tools: argument lists, LC_ALL=C, errors with the tool's text."""

from __future__ import annotations

import os

from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

C_LOCALE = {"LC_ALL": "C", "LANG": "C", "LANGUAGE": "C"}


class Runner(object):
    """Thin wrapper over AnsibleModule.run_command.

    Commands are argument lists (never a shell). Success is the exit code;
    stderr is only text for messages, since these tools warn on success.
    """

    def __init__(self, module):
        self.module = module
        self._paths = {}
        ensure_stdin()

    def which(self, name, required=True, purpose=None):
        if name not in self._paths:
            self._paths[name] = self.module.get_bin_path(
                name, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/sbin"])
        path = self._paths[name]
        if path is None and required:
            hint = " (needed to %s)" % purpose if purpose else ""
            raise VirtDiskError(
                "the command %s is not installed on this host%s; "
                "the virt.disk.image_host role installs it" % (name, hint))
        return path

    def run(self, args, step, check=True, data=None):
        """Run args; return (rc, stdout, stderr). Raise VirtDiskError on rc != 0 when check."""
        args = list(args)
        args[0] = self.which(args[0])
        rc, out, err = self.module.run_command(
            args, check_rc=False, environ_update=C_LOCALE, data=data,
            binary_data=data is not None)
        if check and rc != 0:
            raise VirtDiskError(
                "%s exited with %d" % (" ".join(args), rc), step=step,
                tool_error=err.strip() or out.strip())
        return rc, out, err


def ensure_stdin():
    """Give this process a stdin if it was started without one.

    Helpers inherit it: a daemon started with fd 0 closed gets the image file
    as fd 0, and its --daemonize then puts /dev/null over it, so it serves
    zeros. Opening /dev/null while fd 0 is free makes it fd 0.
    """
    try:
        os.fstat(0)
    except OSError:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd == 0:
            os.set_inheritable(fd, True)  # Python opens non-inheritable: exec would close it again
        else:
            os.close(fd)
