# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host that holds the images of the virt.disk.image connection: the
controller itself (LocalImageHost) or a machine reached over SSH
(RemoteImageHost). Each does the agent's requests (module_utils/connection/
agent.py) and runs commands with chroot into a mounted tree, in a clean
environment."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import zipfile

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible_collections.virt.disk.plugins.module_utils.connection import agent
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError

# the environment of every command run inside an image: nothing of the controller's or the SSH session's
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
             "LANG": "C.UTF-8", "SHELL": "/bin/sh", "USER": "root", "LOGNAME": "root"}
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
PREFIX = "ansible_collections/virt/disk/plugins/module_utils"
# A file copied to or from a remote image host goes in pieces of this size,
# one request each (the SSH connection holds what it sends and receives in
# memory): a large file costs a round trip per piece, not its size in memory.
REMOTE_PIECE = 16 << 20

# Run by the image host's Python: the first line gives the sizes of the zip of
# this collection's module_utils and of the JSON request that follow on stdin;
# what remains of stdin is the file of a put.
BOOTSTRAP = """
import os, sys, tempfile
r = sys.stdin.buffer
n, m = map(int, r.readline().split())
fd, z = tempfile.mkstemp(suffix=".zip")
os.write(fd, r.read(n))
os.close(fd)
sys.path.insert(0, z)
try:
    from ansible_collections.virt.disk.plugins.module_utils.connection import agent
    code = agent.main(r.read(m), r, sys.stdout.buffer)
finally:
    os.unlink(z)
sys.exit(code)
"""

_bundle = []


def failure(request, msg):
    """Connecting or taking down that fails makes the host unreachable; a refused copy fails the task."""
    return AnsibleConnectionFailure(msg) if request.get("op") in ("connect", "teardown") else AnsibleError(msg)


def bundle():
    """The zip of this collection's module_utils (made once per process)."""
    if not _bundle:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for package in ("ansible_collections", "ansible_collections/virt", "ansible_collections/virt/disk",
                            "ansible_collections/virt/disk/plugins"):
                z.writestr(package + "/__init__.py", "")
            for top, dirs, names in os.walk(MODULE_UTILS):
                dirs.sort()
                rel = os.path.relpath(top, MODULE_UTILS)
                target = PREFIX if rel == "." else PREFIX + "/" + rel.replace(os.sep, "/")
                if "__init__.py" not in names:
                    z.writestr(target + "/__init__.py", "")
                for name in sorted(names):
                    if name.endswith(".py"):
                        z.write(os.path.join(top, name), target + "/" + name)
        _bundle.append(out.getvalue())
    return _bundle[0]


class LocalImageHost(object):
    """Images on the controller: the agent runs in this process."""

    name = "the controller"

    def call(self, request, data_in=None, data_out=None):
        try:
            return agent.handle(request, data_in, data_out, where=self.name)
        except VirtDiskError as e:
            raise failure(request, "virt.disk.image %s: %s" % (request.get("image"), e))
        except Exception as e:  # a bug: still a failure of this host, not of the whole run
            raise failure(request, "virt.disk.image %s: %s failed: %s: %s"
                          % (request.get("image"), request.get("op"), type(e).__name__, e))

    def chroot(self, root, executable, cmd, in_data):
        p = subprocess.Popen(["chroot", root, executable, "-c", cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=CLEAN_ENV, cwd="/")
        out, err = p.communicate(in_data)
        return p.returncode, out, err

    def put(self, image, root, in_path, out_path):
        with open(in_path, "rb") as source:
            self.call({"op": "put", "image": image, "root": root, "file": out_path}, data_in=source)

    def fetch(self, image, root, in_path, out_path):
        with open(out_path, "wb") as sink:
            self.call({"op": "fetch", "image": image, "root": root, "file": in_path}, data_out=sink)

    def close(self):
        pass


class RemoteImageHost(object):
    """Images on another machine: the agent is sent to its Python over SSH
    (ansible.builtin.ssh) with each request; with become, through sudo -n."""

    def __init__(self, ssh, address, python="python3", become=False):
        self.ssh = ssh
        self.name = "the image host %s" % address
        self.python = python
        self.become = become

    def _sudo(self, argv):
        return (["sudo", "-n", "--"] if self.become else []) + argv

    def _run(self, argv, in_data):
        return self.ssh.exec_command(" ".join(shlex.quote(a) for a in self._sudo(argv)), in_data=in_data,
                                     sudoable=False)

    def call(self, request, data=b""):
        """The agent's reply to request."""
        return self._call(request, data)[0]

    def _call(self, request, data=b"", reply_on_stderr=False):
        """The agent's reply to request, and its stdout (the file of a fetch)."""
        code = bundle()
        body = json.dumps(request).encode("utf-8")
        rc, out, err = self._run([self.python, "-c", BOOTSTRAP],
                                 b"%d %d\n" % (len(code), len(body)) + code + body + data)
        text = err if reply_on_stderr else out
        reply = None
        for line in reversed(text.decode("utf-8", "replace").splitlines()):
            if line.startswith("{"):
                try:
                    reply = json.loads(line)
                except ValueError:
                    pass
                break
        if reply is None or rc != 0:
            msg = reply.get("msg") if reply else (err.decode("utf-8", "replace").strip() or "exit status %d" % rc)
            if not reply and b"sudo" in err:
                msg += " (virt_disk_host_become runs the agent through sudo -n: the user needs sudo without a password)"
            raise failure(request, "virt.disk.image %s on %s: %s" % (request.get("image"), self.name, msg))
        return reply, out

    def chroot(self, root, executable, cmd, in_data):
        env = ["%s=%s" % kv for kv in sorted(CLEAN_ENV.items())]
        argv = ["env", "-i"] + env + ["chroot", root, executable, "-c", cmd]
        return self._run(argv, in_data)

    def put(self, image, root, in_path, out_path):
        with open(in_path, "rb") as source:
            offset = 0
            while True:
                piece = source.read(REMOTE_PIECE)
                self._call({"op": "put", "image": image, "root": root, "file": out_path, "offset": offset},
                           data=piece)
                offset += len(piece)
                if len(piece) < REMOTE_PIECE:
                    break

    def fetch(self, image, root, in_path, out_path):
        with open(out_path, "wb") as sink:
            offset = 0
            while True:
                _reply, piece = self._call({"op": "fetch", "image": image, "root": root, "file": in_path,
                                            "offset": offset, "length": REMOTE_PIECE}, reply_on_stderr=True)
                sink.write(piece)
                offset += len(piece)
                if len(piece) < REMOTE_PIECE:
                    break

    def close(self):
        self.ssh.close()
