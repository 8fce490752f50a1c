"""Offline stand-in for get-pip.py, used by ansible-test to bootstrap pip.

ansible-test bootstraps pip in the virtual environments it creates by running
a get-pip script it downloads from ci-files.testing.ansible.com, a host these
machines cannot reach. hack/seed-get-pip.sh copies this file to the cache path
ansible-test looks at first (~/.ansible/test/cache/get_pip_<version>.py).

It runs the pip wheel bundled with Python (ensurepip's) straight from the
wheel to ``pip install`` what ansible-test asked for (for example
``pip==24.2``), so the requested pip version still comes from the package
index, as get-pip.py does. It does not install the bundled pip (and the
setuptools ensurepip adds) first and then replace it: that was two thirds of
the time of every virtual environment ansible-test creates, about 7 of 11 s,
nine environments per ansible-core version. Where Python has no bundled wheel
(a distribution that moved it elsewhere), ensurepip bootstraps as before.
"""

from __future__ import annotations

import ensurepip
import glob
import os
import re
import subprocess
import sys

# get-pip.py options that are not pip install options
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel", "--no-pip"}


def bundled_pip():
    """The pip wheel shipped inside ensurepip, or None."""
    wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
    return wheels[-1] if wheels else None


def main() -> int:
    """Install what the caller asked for with a bundled pip, or bootstrap pip first."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    if not any(not arg.startswith("-") for arg in args):
        args.append("pip")
    # get-pip.py installs setuptools beside pip unless told not to
    if "--no-setuptools" not in sys.argv[1:] and not any(re.match(r"setuptools\b", arg) for arg in args):
        args.append("setuptools")
    wheel = bundled_pip()
    if wheel:
        return subprocess.call([sys.executable, os.path.join(wheel, "pip"), "install", *args])

    saved_environment = dict(os.environ)

    # ensurepip deletes every PIP_* variable and sets PIP_CONFIG_FILE to
    # /dev/null in this process, which would hide the host's pip settings
    # (index, certificates, timeouts) from the install below.
    ensurepip.bootstrap()

    os.environ.clear()
    os.environ.update(saved_environment)
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        del os.environ["PIP_CONFIG_FILE"]

    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    sys.exit(main())
