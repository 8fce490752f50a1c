# Copyright: virt.disk contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's "Tested with Ansible" table must say what tests/matrix.txt
runs: one row per matrix row, in the same order, with the same ansible-core,
controller Python, integration targets and managed-node Pythons.

Usage: python3 hack/check-readme-matrix.py [REPO_ROOT]"""

import os
import re
import sys


def matrix_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                core, controller, modules, integration = line.split()
                rows.append((core, controller, modules.split(","), integration))
    return rows


def readme_rows(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    section = re.search(r"^## Tested with Ansible\n(.*?)(?=^## )", text, re.M | re.S)
    if not section:
        return None
    rows = []
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.match(r"^\d+\.\d+\.\d+$", cells[0]):
            rows.append(cells)
    return rows


def expected_cells(core, controller, modules, integration):
    if integration == "all":
        targets = "every target"
    elif integration == "none":
        targets = "—"
    else:
        targets = ", ".join("`%s`" % t for t in integration.split(","))
    return core, controller, targets, " and ".join(modules)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    matrix = matrix_rows(os.path.join(root, "tests", "matrix.txt"))
    readme = readme_rows(os.path.join(root, "README.md"))
    problems = []
    if readme is None:
        problems.append("README.md has no '## Tested with Ansible' section")
        readme = []
    if len(readme) != len(matrix):
        problems.append("README.md lists %d ansible-core versions, tests/matrix.txt %d" % (len(readme), len(matrix)))
    for row, cells in zip(matrix, readme):
        core, controller, targets, pythons = expected_cells(*row)
        integration = row[3]
        if cells[0] != core or cells[1] != controller:
            problems.append("README.md row %s / Python %s, tests/matrix.txt %s / %s" % (cells[0], cells[1], core, controller))
        if cells[2] != "yes":
            problems.append("README.md row %s: sanity and units run on every row (it says %r)" % (core, cells[2]))
        if cells[3] != targets:
            problems.append("README.md row %s: integration %r, tests/matrix.txt %r" % (core, cells[3], targets))
        # a row without image_mount_python runs no module on its own Pythons
        if integration == "all" or "image_mount_python" in integration.split(","):
            if cells[4] != "Python " + pythons:
                problems.append("README.md row %s: modules on %r, tests/matrix.txt Python %s" % (core, cells[4], pythons))
        elif not cells[4].startswith("—"):
            problems.append("README.md row %s: modules on %r, but its integration runs no image_mount_python" % (core, cells[4]))
    for p in problems:
        print("check-readme-matrix: " + p, file=sys.stderr)
    if problems:
        return 1
    print("check-readme-matrix: the README lists the %d rows of tests/matrix.txt" % len(matrix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
