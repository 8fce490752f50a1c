# -*- coding: utf-8 -*-
# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""put_file and fetch_file of the connection never leave the image's root,
with openat2 and with the walk that replaces it on older kernels
(tmp_path/root stands for a mounted image, tmp_path/host for the host)."""

from __future__ import annotations

import io
import os

import pytest

from ansible_collections.virt.disk.plugins.module_utils.connection import files
from ansible_collections.virt.disk.plugins.module_utils.errors import VirtDiskError


@pytest.fixture(params=["openat2", "walk"])
def image(request, tmp_path, monkeypatch):
    if request.param == "walk":
        monkeypatch.setattr(files, "_openat2_missing", [38])
    host = tmp_path / "host"
    (host / "dir").mkdir(parents=True)
    (host / "secret").write_text("HOST\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / str(host) .lstrip("/")).mkdir(parents=True)
    (root / str(host).lstrip("/") / "secret").write_text("image\n")
    (root / str(host).lstrip("/") / "dir").mkdir()
    os.symlink(str(host / "secret"), str(root / "leak-abs"))
    os.symlink("../../../../../../../.." + str(host / "secret"), str(root / "etc" / "leak-rel"))
    os.symlink(str(host / "dir"), str(root / "dir-abs"))
    os.symlink("../../../../../../.." + str(host / "dir"), str(root / "etc" / "dir-rel"))
    return str(root), str(host)


def fetch(root, path):
    sink = io.BytesIO()
    files.read(root, path, sink)
    return sink.getvalue()


def test_reads_through_links_stay_in_the_image(image):
    root, _host = image
    assert fetch(root, "/leak-abs") == b"image\n"
    assert fetch(root, "/etc/leak-rel") == b"image\n"
    assert fetch(root, "etc/../leak-abs") == b"image\n"


def test_writes_through_linked_directories_land_in_the_image(image):
    root, host = image
    files.write(root, "/dir-abs/new", io.BytesIO(b"a"))
    files.write(root, "/etc/dir-rel/other", io.BytesIO(b"b"))
    assert os.listdir(os.path.join(host, "dir")) == []
    inside = os.path.join(root, host.lstrip("/"), "dir")
    assert sorted(os.listdir(inside)) == ["new", "other"]
    with open(os.path.join(inside, "new"), "rb") as f:
        assert f.read() == b"a"


def test_write_replaces_a_file_and_keeps_nothing_of_it(image):
    root, _host = image
    files.write(root, "/etc/f", io.BytesIO(b"long content\n"))
    files.write(root, "/etc/f", io.BytesIO(b"x"))
    assert fetch(root, "/etc/f") == b"x"
    assert oct(os.stat(os.path.join(root, "etc", "f")).st_mode & 0o777) == oct(0o600)


def test_a_file_in_pieces(image):
    root, _host = image
    files.write(root, "/etc/f", io.BytesIO(b"old content that is longer\n"))
    files.write(root, "/etc/f", io.BytesIO(b"abc"))
    files.write(root, "/etc/f", io.BytesIO(b"def"), offset=3)
    files.write(root, "/etc/f", io.BytesIO(b"g"), offset=6)
    files.write(root, "/etc/f", io.BytesIO(b""), offset=7)
    assert fetch(root, "/etc/f") == b"abcdefg"
    pieces = []
    for offset in range(0, 9, 3):
        sink = io.BytesIO()
        files.read(root, "/etc/f", sink, offset, 3)
        pieces.append(sink.getvalue())
    assert pieces == [b"abc", b"def", b"g"]


def test_write_to_a_symlink_is_refused(image):
    root, host = image
    with pytest.raises(VirtDiskError, match="symbolic link"):
        files.write(root, "/leak-abs", io.BytesIO(b"x"))
    with open(os.path.join(host, "secret")) as f:
        assert f.read() == "HOST\n"


def test_directories_and_special_files_are_refused(image):
    root, _host = image
    os.mkfifo(os.path.join(root, "etc", "fifo"))
    with pytest.raises(VirtDiskError, match="directory"):
        fetch(root, "/etc")
    with pytest.raises(VirtDiskError, match="not a regular file"):
        fetch(root, "/etc/fifo")
    with pytest.raises(VirtDiskError, match="cannot create /etc/fifo in the image: No such device"):
        files.write(root, "/etc/fifo", io.BytesIO(b"x"))  # a FIFO with no reader: refused, never blocks
    with pytest.raises(VirtDiskError, match="directory"):
        files.write(root, "/", io.BytesIO(b"x"))


def test_missing_parent_fails_clearly(image):
    root, _host = image
    with pytest.raises(VirtDiskError, match="cannot open the directory /nope in the image"):
        files.write(root, "/nope/f", io.BytesIO(b"x"))
    with pytest.raises(VirtDiskError, match="cannot open /nope in the image"):
        fetch(root, "/nope")


def test_files_on_the_hosts_filesystems_are_refused(image, monkeypatch):
    root, _host = image
    monkeypatch.setattr(files, "host_devices", lambda root: set([os.stat(root).st_dev]))
    with pytest.raises(VirtDiskError, match="resolves to a file of the host"):
        fetch(root, "/leak-abs")
    with pytest.raises(VirtDiskError, match="resolves to one of the host"):
        files.write(root, "/etc/g", io.BytesIO(b"x"))
    assert not os.path.exists(os.path.join(root, "etc", "g"))


def test_host_devices_leave_out_the_images_own(image):
    root, _host = image
    assert os.stat(root).st_dev not in files.host_devices(root)
