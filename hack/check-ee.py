"""Check what ansible-builder introspect reads from the built collection.

    python hack/check-ee.py COLLECTION_ROOT INTROSPECTED_BINDEP

COLLECTION_ROOT is the unpacked tarball (ansible_collections/virt/disk/),
INTROSPECTED_BINDEP the file `ansible-builder introspect --write-bindep` wrote
for the directory above it. Runs with the Python of .venv-release (bindep).

1. meta/execution-environment.yml names bindep.txt as the system
   dependencies (ansible-builder would read a bindep.txt at the top without
   it too), and every entry of that file is in the introspected output,
   attributed to virt.disk, and nothing else is.
2. For each platform the collection claims, the introspected entries resolve
   (with bindep's own rule evaluation) to a package for every tool the
   modules run, under the name that platform gives it.
3. On a Debian or Ubuntu host, the entries for this host name installed
   packages (make setup installs them): the names are real, not just
   consistent.
4. The role virt.disk.image_host installs, on each claimed platform, every
   package the bindep entries name there: its vars (vars/Debian.yml,
   vars/RedHat.yml) rendered with that platform's facts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml
from bindep.depends import Depends
from jinja2.nativetypes import NativeEnvironment
from packaging.version import Version

# The tools the modules run, and the package that holds each one, per
# claimed platform, with the bindep platform profiles of that platform.
DPKG_COMMON = {
    "losetup": "mount", "mount": "mount", "umount": "mount", "blkid": "util-linux", "partx": "util-linux",
    "blockdev": "util-linux", "sfdisk": "fdisk", "kpartx": "kpartx", "dmsetup": "dmsetup", "fuser": "psmisc",
    "fusermount3": "fuse3", "qemu-img": "qemu-utils", "qemu-nbd": "qemu-utils",
    "lvm": "lvm2", "cryptsetup": "cryptsetup-bin",
}
RPM_COMMON = {
    "losetup": "util-linux", "mount": "util-linux", "umount": "util-linux", "blkid": "util-linux",
    "partx": "util-linux", "blockdev": "util-linux", "sfdisk": "util-linux", "kpartx": "kpartx",
    "dmsetup": "device-mapper", "fuser": "psmisc", "fusermount3": "fuse3", "qemu-img": "qemu-img",
    "qemu-nbd": "qemu-img", "qemu-storage-daemon": "qemu-img", "lvm": "lvm2", "cryptsetup": "cryptsetup",
}
# ansible_facts of each platform, for rendering the role's package vars
FACTS = {
    "Debian 12": ("Debian", "Debian", "12", "12.8"),
    "Debian 13": ("Debian", "Debian", "13", "13.2"),
    "Ubuntu 22.04": ("Debian", "Ubuntu", "22", "22.04"),
    "Ubuntu 24.04": ("Debian", "Ubuntu", "24", "24.04"),
    "RHEL 9": ("RedHat", "RedHat", "9", "9.5"),
    "Rocky Linux 9": ("RedHat", "Rocky", "9", "9.5"),
    "CentOS Stream 9": ("RedHat", "CentOS", "9", "9"),
}
PLATFORMS = {
    "Debian 12": (["platform:debian", "platform:debian-12", "platform:debian-bookworm", "platform:dpkg"],
                  dict(DPKG_COMMON, **{"qemu-storage-daemon": "qemu-system-common"})),
    "Debian 13": (["platform:debian", "platform:debian-13", "platform:debian-trixie", "platform:dpkg"],
                  dict(DPKG_COMMON, **{"qemu-storage-daemon": "qemu-utils"})),
    # QEMU 6.2: its qemu-storage-daemon has no --daemonize, so no backend fuse
    "Ubuntu 22.04": (["platform:ubuntu", "platform:ubuntu-22", "platform:ubuntu-22.04", "platform:ubuntu-jammy",
                      "platform:dpkg"], DPKG_COMMON),
    "Ubuntu 24.04": (["platform:ubuntu", "platform:ubuntu-24", "platform:ubuntu-24.04", "platform:ubuntu-noble",
                      "platform:dpkg"],
                     dict(DPKG_COMMON, **{"qemu-storage-daemon": "qemu-utils"})),
    "RHEL 9": (["platform:rhel", "platform:rhel-9", "platform:redhat", "platform:rpm"], RPM_COMMON),
    "Rocky Linux 9": (["platform:rocky", "platform:rocky-9", "platform:redhat", "platform:rpm"], RPM_COMMON),
    "CentOS Stream 9": (["platform:centos", "platform:centos-9", "platform:redhat", "platform:rpm"], RPM_COMMON),
}
# Packages that are wrong on a platform (a Debian name on the RHEL family and
# the other way round, the big qemu-system-common where qemu-utils has it all
# or where its qemu-storage-daemon is too old for the fuse backend).
FORBIDDEN = {
    "Debian 13": {"qemu-system-common"},
    "Ubuntu 22.04": {"qemu-system-common"},
    "Ubuntu 24.04": {"qemu-system-common"},
}
MARK = "# from collection virt.disk"


def entries(text):
    """The bindep entries of a file's text, without comments and blank lines."""
    result = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            result.append(" ".join(line.split()))
    return result


def role_packages(root, platform):
    """The packages the role image_host installs on PLATFORM: its
    vars/<os_family>.yml rendered with the platform's facts (plain Jinja with
    the two Ansible tests the vars use)."""
    family, distribution, major, version = FACTS[platform]
    with open(os.path.join(root, "roles", "image_host", "vars", family + ".yml")) as f:
        role_vars = yaml.safe_load(f)
    env = NativeEnvironment()
    env.tests["match"] = lambda value, pattern: re.match(pattern, str(value)) is not None
    env.tests["version"] = lambda value, other, op: {">=": Version(value) >= Version(other),
                                                     "<=": Version(value) <= Version(other)}[op]
    context = {"ansible_facts": {"os_family": family, "distribution": distribution,
                                 "distribution_major_version": major, "distribution_version": version}}

    def render(value):
        if isinstance(value, str) and "{{" in value:
            for name in re.findall(r"\b__image_host_\w+", value):
                if name not in context:
                    context[name] = render(role_vars[name])
            return env.from_string(value).render(**context)
        if isinstance(value, list):
            return [render(v) for v in value]
        return value

    # the role's defaults install the volume tools (image_host_volume_tools)
    return set(render(role_vars["__image_host_packages"])) | set(render(role_vars["__image_host_volume_packages"]))


def main() -> int:
    """Entry point."""
    root, introspected_path = sys.argv[1], sys.argv[2]
    problems = []

    with open(os.path.join(root, "meta", "execution-environment.yml")) as f:
        ee = yaml.safe_load(f) or {}
    if ee.get("version") != 1 or (ee.get("dependencies") or {}).get("system") != "bindep.txt":
        problems.append("meta/execution-environment.yml does not name bindep.txt as dependencies.system: %s" % ee)

    with open(os.path.join(root, "bindep.txt")) as f:
        shipped = entries(f.read())
    with open(introspected_path) as f:
        raw = [line for line in f.read().splitlines() if line.strip()]
    foreign = [line for line in raw if MARK not in line]
    if foreign:
        problems.append("introspected entries not from virt.disk: %s" % foreign)
    introspected = entries("\n".join(raw))
    if not shipped:
        problems.append("bindep.txt in the tarball has no entries")
    if sorted(introspected) != sorted(shipped):
        problems.append("introspect read %s, bindep.txt has %s" % (introspected, shipped))

    depends = Depends("\n".join(introspected) + "\n")
    for platform, (profiles, tools) in PLATFORMS.items():
        packages = set(depends.list_all_packages(depends.active_rules(profiles + ["platform:base-py3"])))
        for tool, package in sorted(tools.items()):
            if package not in packages:
                problems.append("%s: %s is in %s, which the bindep entries do not name (they name %s)"
                                % (platform, tool, package, " ".join(sorted(packages))))
        wrong = packages & FORBIDDEN.get(platform, set())
        wrong |= {p for p in packages if p not in set(tools.values())}
        if wrong:
            problems.append("%s: packages the modules do not need there: %s" % (platform, " ".join(sorted(wrong))))
        print("check-ee: %-15s %s" % (platform, " ".join(sorted(packages))))
        role = role_packages(root, platform)
        if not packages <= role:
            problems.append("%s: the role image_host does not install %s (it installs %s)"
                            % (platform, " ".join(sorted(packages - role)), " ".join(sorted(role))))

    # The names for this host, checked against its package database.
    host_profiles = Depends("").platform_profiles()
    if "platform:dpkg" in host_profiles:
        wanted = depends.list_all_packages(depends.active_rules(host_profiles))
        missing = []
        for package in wanted:
            status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                                    check=False).stdout
            if status != "install ok installed":
                missing.append(package)
        if missing:
            problems.append("this host (%s) has no installed package named %s; run make setup, or fix bindep.txt"
                            % (" ".join(host_profiles), " ".join(missing)))
        else:
            print("check-ee: this host (%s): all %d packages installed"
                  % (" ".join(p for p in host_profiles if "-" in p and "base-" not in p), len(wanted)))

    if problems:
        print("check-ee: FAILED:")
        for problem in problems:
            print("    %s" % problem)
        return 1
    print("check-ee: introspect reads all %d bindep entries of virt.disk; %d platforms resolve"
          % (len(shipped), len(PLATFORMS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
