#!/usr/bin/env bash
# Prepare this machine for the demo or for the test tiers. Idempotent; a second
# run only checks and takes about a second.
#
#   hack/setup.sh [full|demo|release]
#
# full: the host tools every tier needs (apt, as root) and .venv with the
#       pinned Python tooling from tests/requirements.txt, plus the get-pip
#       stand-in that ansible-test sanity needs on machines without access to
#       ci-files.testing.ansible.com.
# demo: only what `make demo` needs: the tools to build and mount a partitioned
#       image, and ansible-core in .venv.
# release: .venv-release ($RELEASE_VENV) with the pinned release tooling from
#       tests/release-requirements.txt (reuse, ansible-builder, galaxy-importer,
#       antsibull-docs) for `make release-check`; no apt packages beyond Python 3.11.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-full}
VENV=${VENV:-.venv}

demo_packages=(util-linux fdisk e2fsprogs rsync)
full_packages=(
    util-linux fdisk e2fsprogs xfsprogs btrfs-progs kpartx
    qemu-utils qemu-system-common fuse3 rsync psmisc git make dosfstools
    shellcheck busybox-static mmdebstrap openssh-client openssh-server
    qemu-user-static binfmt-support arch-test lvm2 cryptsetup-bin
)

requirements_file=tests/requirements.txt
case "$mode" in
    full) packages=("${full_packages[@]}") ;;
    demo) packages=("${demo_packages[@]}") ;;
    release)
        packages=()
        VENV=${RELEASE_VENV:-.venv-release}
        requirements_file=tests/release-requirements.txt
        # `make test` installs it in the background (release-venv) while
        # other tiers run; release-check then waits here for that install.
        mkdir -p build
        exec 9>build/.release-venv.lock
        flock 9
        ;;
    *) echo "usage: $0 [full|demo|release]" >&2; exit 2 ;;
esac

say() { echo "setup: $*"; }

# ---------------------------------------------------------------- apt packages
missing_packages() {
    local pkg
    for pkg in "$@"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            echo "$pkg"
        fi
    done
}

# A Python 3.11 is needed for ansible-core 2.19 and for ansible-test --python 3.11.
find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 /usr/bin/python3.11; do
        [[ -n "$candidate" ]] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

python=$(find_python || true)
if [[ -z "$python" ]]; then
    # Debian 12's own python3 is 3.11; venv and ensurepip come with python3.11-venv.
    packages+=(python3.11 python3.11-venv)
fi

mapfile -t missing < <(missing_packages "${packages[@]}")
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing packages: ${missing[*]}" >&2
        echo "setup: run as root, or: apt-get install ${missing[*]}" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [[ -z "${VIRT_DISK_APT_UPDATED:-}" ]]; then
        apt-get update -qq </dev/null
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
    mapfile -t still_missing < <(missing_packages "${packages[@]}")
    if ((${#still_missing[@]})); then
        echo "setup: apt-get did not install: ${still_missing[*]}" >&2
        exit 1
    fi
else
    say "apt packages present (${#packages[@]} checked)"
fi

if [[ -z "$python" ]]; then
    python=$(find_python) || { echo "setup: no usable Python 3.11 (with venv and ensurepip) found" >&2; exit 1; }
fi

# ------------------------------------------------------------------ virtualenv
# Recreate the venv when it is missing or broken or was made by another Python.
if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    say "creating $VENV with $python"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
fi

if [[ "$mode" == demo ]]; then
    requirements=$(grep -E '^ansible-core==' "$requirements_file")
else
    requirements=$(grep -vE '^[[:space:]]*(#|$)' "$requirements_file")
fi
stamp_value=$(printf '%s\n' "$requirements" | sha256sum | cut -d' ' -f1)
full_stamp_value=$(grep -vE '^[[:space:]]*(#|$)' "$requirements_file" | sha256sum | cut -d' ' -f1)
stamp_file="$VENV/.virt-disk-requirements"

current=$(cat "$stamp_file" 2>/dev/null || true)
if [[ "$current" == "$stamp_value" || "$current" == "$full_stamp_value" ]]; then
    say "$VENV is up to date"
else
    say "installing into $VENV: ${requirements//$'\n'/ }"
    # shellcheck disable=SC2086  # one requirement per word
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $requirements </dev/null
    echo "$stamp_value" >"$stamp_file"
fi

# -------------------------------------------------------------- ansible-test
if [[ "$mode" == full ]]; then
    VENV="$VENV" hack/seed-get-pip.sh
    # tests/matrix.txt's first row: the same ansible-core as .venv, and its Pythons
    VENV="$VENV" hack/setup-core.sh
fi

say "done ($mode)"
