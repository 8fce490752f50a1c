#!/usr/bin/env bash
# Build a small partitioned raw disk image with standard tools; no root needed.
#
#   make-sample-image.sh IMAGE [SIZE_MIB]
#
# Shipped with the collection (playbooks/files/), so playbooks/demo.yml runs
# from an installed collection too; make demo, the kernel tier and the bench
# use it from the checkout.
#
# Layout (GPT, 64 MiB by default):
#   1  boot  16 MiB  ext4, label "boot"  (Linux extended boot type)
#   2  root  rest    ext4, label "root"  (x86-64 root type), with /etc/os-release
# The filesystems are made with `mke2fs -d` from staging directories into
# separate files and copied into place with `dd conv=notrunc`.
set -euo pipefail

image=${1:?usage: $0 IMAGE [SIZE_MIB]}
size_mib=${2:-64}
boot_mib=16
(( size_mib >= boot_mib + 16 )) || { echo "make-sample-image: SIZE_MIB must be at least $((boot_mib + 16))" >&2; exit 2; }

export PATH="$PATH:/usr/sbin:/sbin"
for tool in sfdisk mke2fs dd truncate; do
    command -v "$tool" >/dev/null || { echo "make-sample-image: $tool not found (util-linux fdisk, e2fsprogs, coreutils)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/virt-disk-sample.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- staging trees --------------------------------------------------------
root=$work/root
boot=$work/boot
mkdir -p "$root/etc" "$root/boot" "$root/home/demo" "$root/usr/share/doc/sample" "$boot"
cat >"$root/etc/os-release" <<'OS'
PRETTY_NAME="virt.disk sample image 1.0"
NAME="virt.disk sample"
ID=virt-disk-sample
VERSION_ID="1.0"
HOME_URL="https://github.com/virt-disk/virt.disk"
OS
echo "sample" >"$root/etc/hostname"
printf 'LABEL=root / ext4 defaults 0 1\nLABEL=boot /boot ext4 defaults 0 2\n' >"$root/etc/fstab"
echo "hello from inside the image" >"$root/home/demo/hello.txt"
echo "Built by make-sample-image.sh for the virt.disk demo." >"$root/usr/share/doc/sample/README"
echo "not a real kernel" >"$boot/vmlinuz-sample"

# --- partition table ------------------------------------------------------
rm -f "$image"
truncate -s "${size_mib}M" "$image"
sfdisk --quiet --no-reread --no-tell-kernel "$image" <<TABLE
label: gpt
first-lba: 2048
start=1MiB, size=${boot_mib}MiB, type=BC13C2FF-59E6-4262-A352-B275FD6F7172, name=boot
start=$((1 + boot_mib))MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
TABLE

# start and size (in 512-byte sectors) of partition N, from sfdisk's dump
part_field() {
    sfdisk --dump "$image" | awk -v dev="${image}$1" -v key="$2" '
        index($0, dev " :") == 1 {
            n = split($0, f, /[:,]/)
            for (i = 1; i <= n; i++) { gsub(/ /, "", f[i]); split(f[i], kv, "="); if (kv[1] == key) print kv[2] }
        }'
}

# --- filesystems ----------------------------------------------------------
make_fs() {  # number label staging
    local number=$1 label=$2 staging=$3 start size
    start=$(part_field "$number" start)
    size=$(part_field "$number" size)
    [[ -n "$start" && -n "$size" ]] || { echo "make-sample-image: cannot read partition $number from $image" >&2; exit 1; }
    rm -f "$work/fs"
    mke2fs -q -F -t ext4 -L "$label" -d "$staging" -E root_owner=0:0 "$work/fs" "$((size / 2))k" >/dev/null
    dd if="$work/fs" of="$image" bs=512 seek="$start" conv=notrunc,sparse status=none
}
make_fs 1 boot "$boot"
make_fs 2 root "$root"

echo "make-sample-image: $image (${size_mib} MiB, GPT: 1=boot ext4 LABEL=boot, 2=root ext4 LABEL=root)"
