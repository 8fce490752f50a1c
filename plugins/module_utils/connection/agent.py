# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The image host's side of the virt.disk.image connection.

connect: the image converged to its mounted tree with the chroot runtime
(plan/converge.py, as image_mount with layout tree and runtime chroot), or,
when an earlier connect left it so, only checked: the root mount it recorded
is still there with the runtime's /proc. teardown: the image taken down
(state absent: the processes inside stopped first). put and fetch: one file
of the tree (files.py).

On the controller these run in-process; on a remote image host the
connection sends this collection's module_utils as a zip with the request
(main(), see plugin_utils/image_host.py), so the same code runs there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from ansible_collections.virt.disk.plugins.module_utils.connection import arch, files
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError
from ansible_collections.virt.disk.plugins.module_utils.image import image as image_mod
from ansible_collections.virt.disk.plugins.module_utils.kernel import mountinfo
from ansible_collections.virt.disk.plugins.module_utils.runner import C_LOCALE, Runner
from ansible_collections.virt.disk.plugins.module_utils.state import discovery, statefile
from ansible_collections.virt.disk.plugins.module_utils.state.host import Host
from ansible_collections.virt.disk.plugins.module_utils.state.locking import RUN_DIR
from ansible_collections.virt.disk.plugins.module_utils.tree import inroot

KIND = "connection"  # the records under /run/virt-disk/connection/: {"path", "mount_id", "image"}
ROOTS = "roots"  # default mount points: /run/virt-disk/roots/<image key>
# image_mount's parameters the connection passes through, with the connection's defaults
PARAMS = {"partition": "auto", "format": "auto", "backend": "auto", "partition_mapper": "auto", "fstype": None,
          "opts": "nodev,nosuid", "tree_source": "auto", "tree_noauto": False, "read_only": False,
          "snapshot": False, "allow_backing_file": False, "timeout": 30, "passphrase": None, "keyfile": None}


class ProcessRunner(object):
    """What runner.Runner asks of AnsibleModule, done with subprocess."""

    def get_bin_path(self, name, opt_dirs=()):
        return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", "")] + list(opt_dirs)))

    def run_command(self, args, check_rc=False, environ_update=None, data=None, binary_data=False):
        env = dict(os.environ, **(environ_update or {}))
        if data is not None and not binary_data:
            data = data.encode("utf-8") + b"\n"
        elif isinstance(data, str):
            data = data.encode("utf-8")
        # this runner is the run_command of a process that has no AnsibleModule (the connection's agent)
        p = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                           stdin=None if data is not None else subprocess.DEVNULL, env=env, check=False)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def _need_root(where):
    if os.geteuid() != 0:
        raise VirtDiskError("mounting a disk image needs root on %s (running as uid %d); %s"
                            % (where, os.geteuid(),
                               "run ansible-playbook as root" if where == "the controller"
                               else "connect as root or set virt_disk_host_become (sudo)"),
                            step="connect")


def _host(params):
    return Host(Runner(ProcessRunner()), timeout=params.get("timeout") or 30)


def _params(request, **override):
    params = dict(PARAMS)
    params.update((k, v) for k, v in (request.get("params") or {}).items() if k in PARAMS and v is not None)
    if params["passphrase"] is not None and params["keyfile"] is not None:
        raise VirtDiskError("virt_disk_passphrase and virt_disk_keyfile are mutually exclusive: give one key",
                            step="connect")
    params.update(image=request["image"], path=request.get("path"), layout="tree", runtime="chroot")
    params.update(override)
    return params


def _converge(params):
    # imported here: the fast path of connect (ready) and the file copies need none of the planner
    from ansible_collections.virt.disk.plugins.module_utils.plan.converge import converge  # pylint: disable=import-outside-toplevel
    return converge(params, _host(params), False)


def ready(image, run_dir=RUN_DIR, mountinfo_path=mountinfo.DEFAULT_PATH):
    """The root recorded by an earlier connect of image when it is still mounted with the runtime, else None."""
    key = image_mod.key_of(image)
    if key is None:
        return None
    record = statefile.load(key, run_dir, KIND)
    path = record.get("path")
    if not path:
        return None
    mounts = mountinfo.read(mountinfo_path)
    top = mountinfo.top_mount_at(mounts, path)
    if top is None or top.mount_id != record.get("mount_id"):
        return None
    try:
        proc = inroot.resolve(path, "/proc")[0]
    except inroot.OutsideError:
        return None
    top = mountinfo.top_mount_at(mounts, proc)
    return path if top is not None and top.fstype == "proc" else None


def adopted_path(image_path, host):
    """Where the image's tree is mounted already (by image_mount or by hand):
    the one mount of the image that lies beneath none of its others, else None."""
    image = image_mod.inspect(image_path)
    mounts = discovery.discover(host, image).mounts
    tops = set(m.path for m in mounts
               if not any(o.path != m.path and mountinfo.is_below(m.path, o.path) for o in mounts))
    return tops.pop() if len(tops) == 1 else None


def connect(request, where="the controller", run_dir=RUN_DIR):
    """{"path", "changed", "actions", "warnings", "machine"}: the image's tree, mounted with its runtime."""
    image = request["image"]
    path = ready(image, run_dir)
    if path is not None and request.get("path") in (None, path):
        return {"path": path, "changed": False, "actions": [], "warnings": []}
    _need_root(where)
    key = image_mod.key_of(image)
    if key is None:
        raise VirtDiskError("there is no image at %s" % image, step="connect")
    params = _params(request, state="mounted")
    path = params["path"] or adopted_path(image, _host(params)) or os.path.join(run_dir, ROOTS, key)
    result = _converge(dict(params, path=path))
    path = result.get("path") or path
    try:
        machine = arch.check(path, image)
    except VirtDiskError:
        # nothing can run there: what this connect mounted goes down again
        if result.get("changed"):
            teardown(dict(request, path=path), where, run_dir)
        raise
    top = mountinfo.top_mount_at(mountinfo.read(), path)
    statefile.save(key, {"path": path, "image": image, "mount_id": top.mount_id if top else None},
                   run_dir, KIND)
    return {"path": path, "changed": result.get("changed", False), "actions": result.get("actions", []),
            "warnings": result.get("warnings", []), "machine": machine}


def teardown(request, where="the controller", run_dir=RUN_DIR):
    """The image taken down (state absent at the recorded root, unmapped where the root is not the
    connection's own mount point); {"changed", "actions", "warnings"}."""
    image = request["image"]
    key = image_mod.key_of(image)
    record = statefile.load(key, run_dir, KIND) if key else {}
    path = request.get("path") or record.get("path")
    if key is None and not path:
        return {"changed": False, "actions": [], "warnings": []}
    _need_root(where)
    # the connection's own mount point goes with the image; one it adopted or was given stays
    own = path is None or os.path.dirname(path) == os.path.join(run_dir, ROOTS)
    result = _converge(_params(dict(request, path=path), state="absent" if own else "unmapped", runtime="none",
                               layout="partition"))
    if key:
        try:
            os.unlink(statefile.path(key, run_dir, KIND))
        except OSError:
            pass
    return {"changed": result.get("changed", False), "actions": result.get("actions", []),
            "warnings": result.get("warnings", [])}


def handle(request, data_in=None, data_out=None, where="the controller"):
    """One request: {"op": connect|teardown|put|fetch, "image", "path", "params", "root", "file", "offset",
    "length"}."""
    op = request["op"]
    if op == "connect":
        return connect(request, where)
    if op == "teardown":
        return teardown(request, where)
    if op == "put":
        return {"file": files.write(request["root"], request["file"], data_in, request.get("mode", 0o600),
                                    request.get("offset", 0))}
    if op == "fetch":
        return {"file": files.read(request["root"], request["file"], data_out, request.get("offset", 0),
                                   request.get("length"))}
    raise VirtDiskError("unknown request %r" % op)


def main(request_bytes, data_in, data_out):
    """Entry point on a remote image host: the request as JSON; the reply as
    JSON on stdout (for fetch, the file's bytes, and the reply on stderr).
    Exit status 0, or 1 with {"failed": true, "msg"}."""
    os.environ.update(C_LOCALE)
    request = json.loads(request_bytes.decode("utf-8"))
    reply_to = sys.stderr if request.get("op") == "fetch" else sys.stdout
    try:
        reply = handle(request, data_in, data_out, where="the image host")
        code = 0
    except VirtDiskError as e:
        reply, code = {"failed": True, "msg": str(e)}, 1
    data_out.flush()
    reply_to.write(json.dumps(reply) + "\n")
    reply_to.flush()
    return code
