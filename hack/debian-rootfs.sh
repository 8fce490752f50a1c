#!/usr/bin/env bash
# A Debian userland for the tests that need a real operating system inside an
# image (the integration target image_mount_os): built once with mmdebstrap
# from this host's own apt sources, cached as a tarball under build/images/.
#
#   hack/debian-rootfs.sh [ARCH]     prints the tarball's path
#
# ARCH defaults to the host's (dpkg --print-architecture); a foreign one
# (arm64) runs its maintainer scripts through qemu-user, whose binfmt_misc
# handler is registered here when it is not (make setup installs
# qemu-user-static and binfmt-support). The tarball's name
# carries a hash of everything that goes into it (suite, variant, packages,
# architecture, the apt sources), so a change builds a new one and an
# unchanged one is reused. `make test` builds it in the background (the
# images tier) while other tiers run; a second caller for the same ARCH waits
# on its lock.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
VARIANT=minbase
# besides minbase (dpkg, start-stop-daemon, useradd): Python with apt's bindings for
# Ansible's modules inside (the connection plugin), systemd for units enabled offline
PACKAGES="python3,python3-apt,systemd"
ARCH=${1:-$(dpkg --print-architecture)}
# a foreign userland (the connection's arm64 case) runs every maintainer script
# under emulation: Python alone, enough for facts and modules
[[ "$ARCH" == "$(dpkg --print-architecture)" ]] || PACKAGES="python3"
SOURCES=/etc/apt/sources.list.d/debian.sources
OUT_DIR=build/images

die() { echo "debian-rootfs: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "mmdebstrap needs root here (--mode=root keeps the files' owners)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (make setup installs it)"
[[ -r "$SOURCES" ]] || die "no apt sources at $SOURCES to build from"

key=$( { echo "$SUITE $VARIANT $ARCH $PACKAGES"; cat "$SOURCES"; } | sha256sum | cut -c1-12)
tarball=$OUT_DIR/debian-$SUITE-$VARIANT-$ARCH-$key.tar
mkdir -p "$OUT_DIR"
exec 9>"$OUT_DIR/.debian-rootfs-$ARCH.lock"
flock 9

# qemu-user for a foreign ARCH: binfmt_misc mounted, the handler enabled
foreign_handler() {
    local qemu
    case "$ARCH" in
        "$(dpkg --print-architecture)" | i386) return 0 ;;
        arm64) qemu=aarch64 ;;
        armhf) qemu=arm ;;
        ppc64el) qemu=ppc64le ;;
        *) qemu=$ARCH ;;
    esac
    [[ -e /proc/sys/fs/binfmt_misc/register ]] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
    local handler=/proc/sys/fs/binfmt_misc/qemu-$qemu conf=/usr/lib/binfmt.d/qemu-$qemu.conf
    grep -qx enabled "$handler" 2>/dev/null && return 0
    # update-binfmts where binfmt-support imported the handler; else the
    # package's binfmt.d line, written to the kernel as systemd-binfmt would
    if command -v update-binfmts >/dev/null && update-binfmts --enable "qemu-$qemu" >&2 &&
        grep -qx enabled "$handler" 2>/dev/null; then
        return 0
    fi
    [[ -r "$conf" ]] || die "no qemu-user for $ARCH ($conf): install qemu-user-static and binfmt-support (make setup)"
    [[ ! -e "$handler" ]] || echo -1 >"$handler"
    grep -v '^[#;]' "$conf" | grep . >/proc/sys/fs/binfmt_misc/register || die "cannot register $conf in binfmt_misc"
}

# also when the tarball is cached: its users run its programs
foreign_handler

if [[ ! -s "$tarball" ]]; then
    log=$OUT_DIR/debian-$SUITE-$VARIANT-$ARCH.log
    echo "debian-rootfs: building $tarball with mmdebstrap (log: $log)" >&2
    start=$(date +%s)
    args=(--mode=root --variant="$VARIANT" --architectures="$ARCH" --format=tar)
    [[ -z "$PACKAGES" ]] || args+=(--include="$PACKAGES")
    if ! mmdebstrap "${args[@]}" "$SUITE" "$tarball.partial" "$SOURCES" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -f "$tarball.partial"
        die "mmdebstrap failed (log: $log)"
    fi
    mv "$tarball.partial" "$tarball"
    # older builds of the same kind are replaced
    find "$OUT_DIR" -maxdepth 1 -name "debian-$SUITE-$VARIANT-$ARCH-*.tar" ! -name "${tarball##*/}" -delete
    echo "debian-rootfs: built in $(($(date +%s) - start)) s" >&2
fi
realpath "$tarball"
