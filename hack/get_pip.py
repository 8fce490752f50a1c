"""Offline stand-in for get-pip.py, used by ansible-test to bootstrap pip.

ansible-test bootstraps pip in the virtual environments it creates by running
a get-pip script it downloads from ci-files.testing.ansible.com, a host these
machines cannot reach. hack/seed-get-pip.sh copies this file to the cache path
ansible-test looks at first (~/.ansible/test/cache/get_pip_<version>.py).

It installs the pip bundled with Python (ensurepip), then runs
``pip install`` with the arguments ansible-test passed (for example
``pip==24.2``), so the requested pip version still comes from the package
index.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys

# get-pip.py options that are not pip install options
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel", "--no-pip"}


def main() -> int:
    """Bootstrap pip, then install what the caller asked for."""
    saved_environment = dict(os.environ)

    # ensurepip deletes every PIP_* variable and sets PIP_CONFIG_FILE to
    # /dev/null in this process, which would hide the host's pip settings
    # (index, certificates, timeouts) from the install below.
    ensurepip.bootstrap()

    os.environ.clear()
    os.environ.update(saved_environment)
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        del os.environ["PIP_CONFIG_FILE"]

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    if not any(not arg.startswith("-") for arg in args):
        return 0

    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    sys.exit(main())
