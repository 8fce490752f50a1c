"""Fail when the built collection tarball holds anything but the collection.

    python3 hack/check-tarball.py build/dist/virt-disk-X.Y.Z.tar.gz

Every member must lie under an allowed top-level entry (the collection's own
directories and files) and match no unwanted pattern (developer tooling,
caches, build output, the collections/ link farm pytest-ansible creates);
the files a release needs (licensing, metadata, the modules, the execution
environment definition, the changelog, the docsite index) must be there; a
symbolic link must point to a file inside the collection. Prints what is
wrong and exits 1, or prints a one-line summary and exits 0.
"""

from __future__ import annotations

import fnmatch
import posixpath
import sys
import tarfile

# Top-level entries of the collection.
ALLOWED_TOP = {
    "MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.rst", "COPYING", "LICENSES", "REUSE.toml", "bindep.txt",
    "changelogs", "docs", "extensions", "meta", "playbooks", "plugins", "roles", "tests",
}
# Under tests/, only what ansible-test runs from an installed collection.
ALLOWED_TESTS = {"unit", "integration", "sanity"}

# Unwanted anywhere, matched against the member path and against each of its
# path components.
UNWANTED = [
    "hack", "bench", ".ci", "Makefile", ".git", ".gitignore", ".ansible-lint", ".yamllint",
    ".venv*", ".cache", ".ansible", ".pytest_cache", ".mypy_cache", "__pycache__", "*.pyc",
    "build", "collections", "*.tar.gz", "output", "fragments", ".plugin-cache.yaml",
    "tests/kernel*", "tests/system*", "tests/requirements.txt", "tests/release-requirements.txt", "tests/matrix.txt",
]

REQUIRED = [
    "MANIFEST.json", "FILES.json", "README.md", "COPYING", "LICENSES/GPL-3.0-or-later.txt", "REUSE.toml",
    "bindep.txt", "meta/runtime.yml", "meta/execution-environment.yml", "changelogs/changelog.yaml", "CHANGELOG.rst",
    "docs/docsite/extra-docs.yml", "docs/docsite/links.yml",
    "plugins/modules/image_mount.py", "plugins/modules/image_mount_info.py", "roles/image_host/tasks/main.yml",
]

# A runaway tarball (a link loop followed, a disk image left in the tree).
MAX_BYTES = 5 * 1024 * 1024


def problems_of(members):
    """The list of problems with the tarball members (tarfile.TarInfo)."""
    problems = []
    names = set()
    total = 0
    for member in members:
        name = member.name.rstrip("/")
        if name.startswith("./"):
            name = name[2:]
        names.add(name)
        total += member.size
        parts = name.split("/")
        if parts[0] not in ALLOWED_TOP:
            problems.append("not part of the collection: %s" % name)
            continue
        if parts[0] == "tests" and len(parts) > 1 and parts[1] not in ALLOWED_TESTS:
            problems.append("developer test suite: %s" % name)
            continue
        for pattern in UNWANTED:
            if fnmatch.fnmatch(name, pattern) or any(fnmatch.fnmatch(part, pattern) for part in parts):
                problems.append("unwanted (%s): %s" % (pattern, name))
                break
        if member.issym() or member.islnk():
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            if member.linkname.startswith("/") or target.startswith(".."):
                problems.append("link pointing outside the collection: %s -> %s" % (name, member.linkname))
    for required in REQUIRED:
        if required not in names:
            problems.append("missing: %s" % required)
    if total > MAX_BYTES:
        problems.append("%d bytes unpacked, more than the %d expected" % (total, MAX_BYTES))
    return problems, len(names), total


def main() -> int:
    """Entry point."""
    if len(sys.argv) != 2:
        print("usage: check-tarball.py TARBALL", file=sys.stderr)
        return 2
    path = sys.argv[1]
    with tarfile.open(path, "r:gz") as tar:
        problems, count, total = problems_of(tar.getmembers())
    if problems:
        print("check-tarball: %s holds what it should not, or lacks what it needs:" % path)
        for problem in problems:
            print("    %s" % problem)
        return 1
    print("check-tarball: %s: %d entries, %d bytes unpacked, only the collection" % (path, count, total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
