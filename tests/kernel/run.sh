#!/usr/bin/env bash
# The real-kernel tier: boot a Debian kernel under QEMU with virtme-ng (vng)
# over this host's root filesystem and run tests/kernel/guest.sh in it, where
# nbd, device-mapper (kpartx) and the kernel's partition scan exist. The host
# kernel has none of them.
#
#   bash tests/kernel/run.sh            (from the repository root, as root)
#
# Installs what it needs, idempotently (a second run only checks):
#   apt:   qemu-system-x86 (the VM), busybox-static (vng's initramfs), kmod
#          (depmod here, modprobe in the guest), file (vng reads the kernel
#          version with it), squashfs-tools, and the tools the guest runs:
#          qemu-utils, kpartx (with dmsetup), util-linux, fdisk, e2fsprogs, rsync,
#          lvm2 and cryptsetup-bin (LVM and LUKS inside images, suite 30)
#   kernel: `apt-get download` of the package linux-image-amd64 depends on now,
#          unpacked with `dpkg -x` into build/kernel-cache/<package>/ (the
#          host's /boot and /lib/modules are not touched), depmod run on it
#   pip:   virtme-ng==$VNG_VERSION into the project venv (.venv, `make setup`)
#
# How vng finds the modules of a kernel unpacked outside /lib/modules: given
# `-r <dir>/boot/vmlinuz-<version>`, virtme walks up from the image to the
# first directory that has lib/modules (here build/kernel-cache/<package>),
# takes <that>/lib/modules/<version> (the version read from the image with
# `file`), and passes it to its guest init (virtme_link_mods=...), which mounts
# a tmpfs on the guest's /lib/modules and symlinks <version> to that directory
# (seen through the 9p root). So `modprobe nbd` in the guest works, as long as
# modules.dep exists there, which is why depmod runs here after unpacking.
#
# Python under emulation: the guest reads the host's root over 9p without a
# cache, and an `import ansible` there takes ~25 s. So the venv and its base
# Python are packed into build/kernel-cache/python.sqfs (rebuilt when the venv
# changes) and attached as a virtio disk; guest.sh mounts it over the same
# paths (python.manifest says which), and an import takes ~5 s.
#
# Results come back in build/kernel-results/ (--rwdir): guest.log,
# summary.tsv, junit/ (Ansible's per-task junit), kernel.txt, console.log,
# and junit-cases.xml (one testcase per case, written here). Exits non-zero
# when a case failed or the guest reported no result.
#
# Environment: CI=true (never skip: anything missing is a failure; this script
# never skips anyway), KERNEL_TIER_TIMEOUT (seconds for the whole tier, default
# 3600: the tier takes about 15 min on a 2-core host busy with nothing but its
# QEMU and 28 min beside the host tiers, as `make test` runs it; this is twice
# that, and bounds a hung guest),
# KT_CASES (regex of image_mount cases), KT_SUITES (glob of suites),
# KT_KERNEL_PACKAGE (e.g. linux-image-6.1.0-56-amd64 to pin the kernel),
# KT_CPUS (2), KT_MEMORY (2G).
set -euo pipefail

VNG_VERSION=1.42
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
VENV=${VENV:-.venv}
VENV=$(realpath -m "$VENV")
CACHE=$REPO/build/kernel-cache
RESULTS=$REPO/build/kernel-results
IMAGES=$REPO/build/kernel-images
TIMEOUT=${KERNEL_TIER_TIMEOUT:-3600}
CI=${CI:-false}
export PATH="$VENV/bin:$PATH:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

start=$SECONDS
say() { echo "kernel-tier: $*"; }
die() {
    echo "kernel-tier: FAILED: $*" >&2
    exit 1
}
remaining() { echo $((TIMEOUT - (SECONDS - start))); }

[[ $(id -u) -eq 0 ]] || die "must run as root (apt, modules in the guest, loop/nbd devices)"
[[ "$(uname -m)" == x86_64 ]] || die "only x86_64 hosts are supported (qemu-system-x86, linux-image-amd64)"

# ---------------------------------------------------------------- apt
apt_updated=${VIRT_DISK_APT_UPDATED:-}
apt_update() {
    if [[ -z "$apt_updated" ]]; then
        say "apt-get update"
        apt-get update -qq </dev/null || die "apt-get update failed"
        apt_updated=1
    fi
}
packages=(qemu-system-x86 busybox-static kmod file squashfs-tools qemu-utils kpartx dmsetup
    util-linux fdisk e2fsprogs rsync dosfstools xfsprogs btrfs-progs lvm2 cryptsetup-bin)
missing=()
for pkg in "${packages[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    apt_update
    say "apt-get install ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null ||
        die "apt-get install ${missing[*]} failed"
fi
for tool in qemu-system-x86_64 depmod mksquashfs qemu-img qemu-nbd kpartx dmsetup sfdisk mke2fs file mkfs.vfat mkfs.xfs mkfs.btrfs \
    lvm cryptsetup; do
    command -v "$tool" >/dev/null || die "$tool not found after installing ${packages[*]}"
done

# ---------------------------------------------------------------- kernel
kernel_package() {
    apt-cache depends --important linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
kpkg=${KT_KERNEL_PACKAGE:-}
if [[ -z "$kpkg" ]]; then
    kpkg=$(kernel_package)
    if [[ -z "$kpkg" ]]; then
        apt_update
        kpkg=$(kernel_package)
    fi
fi
[[ -n "$kpkg" ]] || die "cannot resolve the kernel package of linux-image-amd64 (apt-cache depends linux-image-amd64)"
kroot=$CACHE/$kpkg
kver=${kpkg#linux-image-}
vmlinuz=$kroot/boot/vmlinuz-$kver
if [[ ! -f "$kroot/.unpacked" ]]; then
    say "fetching $kpkg (apt-get download, dpkg -x into $kroot)"
    rm -rf "$kroot" "$CACHE/debs"
    mkdir -p "$CACHE/debs"
    # -o APT::Sandbox::User=root: the _apt user cannot write into build/
    if ! (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" </dev/null >/dev/null); then
        apt_updated=""
        apt_update
        (cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" </dev/null >/dev/null) ||
            die "apt-get download $kpkg failed"
    fi
    dpkg -x "$CACHE"/debs/"$kpkg"_*.deb "$kroot" || die "dpkg -x of $kpkg failed"
    moddir=$(find "$kroot" -maxdepth 4 -type d -path "*/lib/modules/$kver" | head -1)
    [[ -f "$vmlinuz" && -n "$moddir" ]] || die "$kpkg has no boot/vmlinuz-$kver or lib/modules/$kver"
    depmod -b "${moddir%/lib/modules/"$kver"}" "$kver" || die "depmod for $kver failed"
    rm -rf "$CACHE/debs"
    touch "$kroot/.unpacked"
    # keep only this kernel (each unpacked kernel is ~400 MB)
    for old in "$CACHE"/linux-image-*; do
        [[ "$old" == "$kroot" ]] || rm -rf "$old"
    done
fi
say "kernel $kver ($vmlinuz)"

# ---------------------------------------------------------------- virtme-ng
[[ -x "$VENV/bin/python" ]] || die "no venv at $VENV: run make setup first"
have_vng=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("virtme-ng"))' 2>/dev/null || true)
if [[ "$have_vng" != "$VNG_VERSION" ]]; then
    say "pip install virtme-ng==$VNG_VERSION into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "virtme-ng==$VNG_VERSION" </dev/null ||
        die "pip install virtme-ng==$VNG_VERSION failed"
fi
command -v vng >/dev/null || die "vng not found in $VENV/bin"

# ---------------------------------------------------------------- python runtime image
# The venv and the base installation of its Python, without what the tests never
# import (site-packages of the base, the test suite, tkinter...).
base_prefix=$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix)')
pyver=$("$VENV/bin/python" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
if [[ "$base_prefix" == /usr ]]; then
    base_src=/usr/lib/$pyver        # a distribution Python: only its standard library
    base_x=("$pyver/site-packages" "$pyver/dist-packages" "$pyver/test" "$pyver/config-*")
else
    base_src=$base_prefix
    base_x=("$(basename "$base_src")/lib/$pyver/site-packages" "$(basename "$base_src")/lib/$pyver/test"
        "$(basename "$base_src")/lib/$pyver/config-*" "$(basename "$base_src")/lib/*.a")
fi
base_x+=("$(basename "$base_src")/*/idlelib" "$(basename "$base_src")/*/tkinter" "$(basename "$base_src")/*/turtledemo"
    "$(basename "$base_src")/lib/$pyver/idlelib" "$(basename "$base_src")/lib/$pyver/tkinter"
    "$(basename "$base_src")/lib/$pyver/turtledemo" "$(basename "$base_src")/lib/$pyver/lib2to3")
[[ "$(basename "$VENV")" != "$(basename "$base_src")" ]] || die "the venv and $base_src have the same name; rename the venv"
sqfs=$CACHE/python.sqfs
stamp=$(
    {
        echo "$VENV $base_src ${base_x[*]}"
        stat -c '%n %Y' "$VENV/lib/$pyver/site-packages" "$base_src"
        cat "$VENV/.virt-disk-requirements" 2>/dev/null || true
        echo "$have_vng $VNG_VERSION"
    } | sha256sum | cut -d' ' -f1
)
if [[ ! -f "$sqfs" || "$(cat "$sqfs.stamp" 2>/dev/null)" != "$stamp" ]]; then
    say "packing $VENV and $base_src into $sqfs"
    mkdir -p "$CACHE"
    rm -f "$sqfs" "$sqfs.stamp"
    mksquashfs "$VENV" "$base_src" "$sqfs" -noappend -quiet -no-progress -noI -noD -noF -noX -no-xattrs \
        -wildcards -e "${base_x[@]}" >/dev/null || die "mksquashfs failed"
    echo "$stamp" >"$sqfs.stamp"
fi
printf '%s\t%s\n' "$(basename "$VENV")" "$VENV" "$(basename "$base_src")" "$base_src" >"$CACHE/python.manifest"

# ---------------------------------------------------------------- collection and images
hack/sync.sh >/dev/null || die "hack/sync.sh failed"
rm -rf "$IMAGES"
mkdir -p "$IMAGES"
playbooks/files/make-sample-image.sh "$IMAGES/disk.img" 48 >/dev/null || die "cannot build the sample image"
qemu-img convert -O qcow2 "$IMAGES/disk.img" "$IMAGES/disk.qcow2" || die "qemu-img convert failed"
qemu-img convert -O qcow2 "$IMAGES/disk.img" "$IMAGES/other.qcow2" || die "qemu-img convert failed"
# the operating system's disk of the host's tree target (ESP vfat, /boot, root,
# /var xfs, /home btrfs @home), as qcow2: its ESP is mounted only here
tree_script=tests/integration/targets/image_mount_tree/files/build_tree.sh
sh "$tree_script" "$IMAGES/tree.img" || die "$tree_script failed"
qemu-img convert -O qcow2 "$IMAGES/tree.img" "$IMAGES/tree.qcow2" || die "qemu-img convert of the tree image failed"
rm -f "$IMAGES/tree.img"

# ---------------------------------------------------------------- boot
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
budget=$(remaining)
((budget > 120)) || die "no time left to boot (KERNEL_TIER_TIMEOUT=$TIMEOUT)"
say "booting $kver under QEMU (TCG, ${KT_CPUS:-2} cpus, ${KT_MEMORY:-2G}), at most ${budget}s; setup took $((SECONDS - start))s"
vng_args=(--disable-kvm -r "$vmlinuz" --cpus "${KT_CPUS:-2}" --memory "${KT_MEMORY:-2G}"
    --rwdir "$RESULTS" --disk "$sqfs"
    --exec "env KT_CASES='${KT_CASES:-}' KT_SUITES='${KT_SUITES:-*}' bash $REPO/tests/kernel/guest.sh")
set +e
# stdin from /dev/null: vng must not wait on a terminal; qemu is killed at the deadline.
# timeout puts itself (vng, qemu) in a process group of its own, which a signal to this
# script's group does not reach: a Ctrl-C at a terminal running `make kernel` would leave
# the VM running (make test stops a background tier by its whole session, which does
# reach it). The trap passes TERM and INT on to timeout's group.
timeout -k 20 "$budget" vng "${vng_args[@]}" </dev/null > >(tee "$RESULTS/console.log") 2>&1 &
vm_pid=$!
trap 'kill -TERM -- "-$vm_pid" 2>/dev/null; kill -TERM "$vm_pid" 2>/dev/null; exit 143' TERM INT
wait "$vm_pid"
vng_rc=$?
trap - TERM INT
set -e
boot_seconds=$((SECONDS - start))

# ---------------------------------------------------------------- results
summary=$RESULTS/summary.tsv
echo
say "cases (build/kernel-results/summary.tsv):"
if [[ -s "$summary" ]]; then
    awk -F'\t' '{ printf "  %-4s %-50s %6ss  %s\n", $1, $2, $3, substr($4, 1, 300) }' "$summary"
fi
python3 - "$summary" "$RESULTS/junit-cases.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

src, dst = sys.argv[1], sys.argv[2]
suite = ET.Element("testsuite", name="kernel-tier")
cases = failures = 0
try:
    lines = open(src, encoding="utf-8").read().splitlines()
except OSError:
    lines = []
for line in lines:
    parts = (line.split("\t") + ["", "", "", ""])[:4]
    status, name, seconds, message = parts
    if not name:
        continue
    classname, _, case = name.rpartition("/")
    tc = ET.SubElement(suite, "testcase", classname=classname or "kernel", name=case, time=seconds or "0")
    cases += 1
    if status != "PASS":
        failures += 1
        ET.SubElement(tc, "failure", message=message[:500]).text = message
suite.set("tests", str(cases))
suite.set("failures", str(failures))
ET.ElementTree(suite).write(dst, encoding="utf-8", xml_declaration=True)
PY
passed=0
failed=0
if [[ -s "$summary" ]]; then
    passed=$(grep -c '^PASS' "$summary" || true)
    failed=$(grep -c -v '^PASS' "$summary" || true)
fi
say "wall time ${boot_seconds}s (timeout ${TIMEOUT}s), vng exit $vng_rc"
echo "kernel-tier: $passed passed, $failed failed"

if [[ ! -f "$RESULTS/done" ]]; then
    if ((vng_rc == 124 || vng_rc == 137)); then
        die "the guest did not finish within ${TIMEOUT}s (KERNEL_TIER_TIMEOUT); see $RESULTS/console.log"
    fi
    die "the guest reported no result (no $RESULTS/done; vng exit $vng_rc); see $RESULTS/console.log"
fi
((passed > 0)) || die "no case ran"
((failed == 0)) || die "$failed case(s) failed (build/kernel-results/summary.tsv, guest.log)"
say "passed"
