#!/bin/sh
# Build a disk whose root is btrfs with the system in subvolumes, as Ubuntu
# and Fedora install it: build_btrfs_root.sh IMAGE
# GPT, one partition of the DPS root type: btrfs with subvolumes @ (the
# system, its etc/fstab mounting @ at / and @home at /home with subvol=) and
# @home. The top level has no etc/fstab; it has a decoy directory whose
# etc/fstab does not mount it at /, and a symlink to the host's root. Every
# subvolume has /vd-id naming it. Runs as root (btrfs subvolumes need a mount).
set -eu
img=$1
S=512
tmp=$(mktemp -d "${img}.build.XXXXXX")
trap 'umount "$tmp/mnt" 2>/dev/null || true; rm -rf "$tmp"' EXIT

ROOT=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
UUID=6b0e8a3c-00b7-4c1d-9e2f-0000000000b7

rm -f "$img"
truncate -s 200M "$img"
sfdisk --quiet --no-reread --no-tell-kernel "$img" <<TABLE
label: gpt
unit: sectors
first-lba: 2048
start=2048, size=405504, type=$ROOT, name=root, uuid=7E1D0C3B-00B7-4A5B-8C6D-000000000001
TABLE

truncate -s $((405504 * S)) "$tmp/root.fs"
mkfs.btrfs -q -f -L vtbtrfs -U "$UUID" "$tmp/root.fs" >/dev/null
mkdir -p "$tmp/mnt"
mount -o loop "$tmp/root.fs" "$tmp/mnt"
echo top > "$tmp/mnt/vd-id"
btrfs -q subvolume create "$tmp/mnt/@" >/dev/null
btrfs -q subvolume create "$tmp/mnt/@home" >/dev/null
echo root > "$tmp/mnt/@/vd-id"
echo home > "$tmp/mnt/@home/vd-id"
mkdir -p "$tmp/mnt/@/etc" "$tmp/mnt/@/home" "$tmp/mnt/@home/user" "$tmp/mnt/decoy/etc"
echo vbtrfs > "$tmp/mnt/@/etc/hostname"
cat > "$tmp/mnt/@/etc/fstab" <<FSTAB
# /etc/fstab of the btrfs-root test image (subvolumes as Ubuntu installs them)
UUID=$UUID /     btrfs defaults,subvol=@,compress=zstd 0 1
UUID=$UUID /home btrfs defaults,subvol=/@home          0 2
FSTAB
echo "UUID=$UUID / btrfs subvol=@ 0 1" > "$tmp/mnt/decoy/etc/fstab"
ln -s / "$tmp/mnt/host-root"
umount "$tmp/mnt"
dd if="$tmp/root.fs" of="$img" bs=$S seek=2048 conv=notrunc,sparse status=none
