# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""System tests: virt.disk.image_mount driven through Ansible on this host (root),
checked against the kernel.

Run as root:  .venv/bin/python -m pytest -v tests/system

At start-up the working tree is copied (like hack/sync.sh) into a private
directory /tmp/virt-disk-system.XXXX/collections, and ANSIBLE_COLLECTIONS_PATH
points there, so these tests never race with other users of build/. The module
runs under this Python (ANSIBLE_PYTHON_INTERPRETER=sys.executable).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vdsys  # noqa: E402  (the directory is put on sys.path above)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_SESSION = {}


def _sync(dest):
    """Copy the working tree into dest/ansible_collections/virt/disk (what hack/sync.sh does)."""
    target = os.path.join(dest, "ansible_collections", "virt", "disk")
    os.makedirs(target)
    subprocess.run(["rsync", "-a", "--delete", "--exclude=/.git", "--exclude=/.venv", "--exclude=/build",
                    "--exclude=/tests/output", "--filter=:- .gitignore", REPO + "/", target + "/"], check=True)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    # Before pytest-ansible's own pytest_configure: it would otherwise build a
    # collections/ tree of symlinks inside the repository (galaxy.yml found in
    # the invocation directory) and point ANSIBLE_COLLECTIONS_PATH at it.
    if hasattr(config.option, "ansible_unit_inject_only"):
        config.option.ansible_unit_inject_only = True
    config.addinivalue_line("filterwarnings", "ignore:Host management is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:AnsibleCollectionFinder has already been configured")
    if os.geteuid() != 0:
        return
    base = tempfile.mkdtemp(prefix="virt-disk-system.")
    os.chmod(base, 0o755)
    collections = os.path.join(base, "collections")
    _sync(collections)
    _SESSION["base"] = base
    os.environ.update({
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    # pytest-ansible loads its plugins with ansible.constants.COLLECTIONS_PATHS,
    # read when ansible was imported (before this hook): point it here too.
    try:
        from pytest_ansible.module_dispatcher import v213
        v213.COLLECTIONS_PATHS = [collections]
    except ImportError:
        pass
    import ansible.constants
    ansible.constants.COLLECTIONS_PATHS = [collections]


def pytest_unconfigure(config):
    base = _SESSION.get("base")
    if base and not vdsys.mounts_under(base):
        shutil.rmtree(base, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("tests/system must run as root (loop devices, mounts, FUSE)")
    skip = pytest.mark.skip(reason="tests/system needs root")
    for item in items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def templates():
    directory = os.path.join(_SESSION["base"], "templates")
    os.makedirs(directory)
    return vdsys.make_templates(directory)


class Lab(object):
    """One test's directory and images; cleans up in its finalizer even when the test failed."""

    def __init__(self, base, templates):
        self.dir = base
        self.templates = templates
        self.images = []
        self.procs = []

    def image(self, kind="raw", name=None):
        name = name or "disk%d.%s" % (len(self.images), "img" if kind == "raw" else kind)
        path = os.path.join(self.dir, name)
        shutil.copyfile(self.templates[kind], path)
        img = vdsys.Img(path, kind)
        self.images.append(img)
        return img

    def spawn(self, argv, cwd):
        """A process of this test (killed in the finalizer), e.g. one that keeps a mount busy."""
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def path(self, name):
        return os.path.join(self.dir, name)

    def direct(self, args, kill_after=None, close_stdin=False):
        """image_mount run directly (no controller); see kill_shim.py."""
        return vdsys.run_direct(args, self.dir, kill_after=kill_after, close_stdin=close_stdin)

    def leftovers(self):
        return vdsys.leftovers(self.images, self.dir)

    def assert_clean(self):
        vdsys.assert_clean(self.images, self.dir)

    def cleanup(self):
        for proc in self.procs:  # whatever keeps a mount busy goes first
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if self.leftovers():
            self._take_down()
        for img in self.images:  # records keyed by inode must not outlive the file (inodes are reused)
            for path in (img.statefile, img.lockfile):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _take_down(self):
        # the module's own teardown first (fast, and it is what a user would do) ...
        procs = [vdsys.start_direct({"image": img.path, "state": "unmapped", "timeout": 10}, self.dir)
                 for img in self.images]
        for proc in procs:
            try:
                vdsys.finish_direct(proc, timeout=60)
            except Exception:  # noqa: BLE001  (clean-up goes on whatever happened)
                proc.kill()
        # ... then by hand, for whatever the module could not take down
        vdsys.force_cleanup(self.images, self.dir)


@pytest.fixture
def lab(request, templates):
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)[:60]
    directory = tempfile.mkdtemp(prefix=safe + ".", dir=_SESSION["base"])
    lab = Lab(directory, templates)
    yield lab
    lab.cleanup()
    left = lab.leftovers()
    if not left:
        vdsys.remove_tree(directory)
    assert not left, "clean-up could not remove: %s" % "; ".join(left)


@pytest.fixture
def image_mount(ansible_adhoc):
    """virt.disk.image_mount on localhost through pytest-ansible; returns the host's result dict."""
    host = ansible_adhoc(inventory="localhost,", connection="local", host_pattern="localhost")["localhost"]
    module = getattr(host, "virt.disk.image_mount")

    def run(**args):
        result = module(**args)["localhost"]
        return vdsys.Result(dict(result))
    return run
