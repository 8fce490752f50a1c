#!/bin/sh
# Build a raw test disk with standard tools only (truncate, sfdisk,
# mke2fs -d -E offset=, head).  Used by the image_mount_qemu_* targets.
#
# usage: vq_build.sh mbr|gpt IMAGE SIZE_MIB PAYLOAD_KIB
#
# Partition 1: 8 MiB ext4, label vqp1, PARTLABEL qboot (GPT), file id = "p1".
# Partition 2: the rest but 1 MiB, ext4, label vqp2, PARTLABEL qdata (GPT),
#              files id = "p2", dir/payload.bin (PAYLOAD_KIB KiB of random bytes).
# Prints the sha256 of dir/payload.bin.
set -eu

kind=$1
img=$2
size_mib=$3
payload_kib=$4
S=512

stage=$(mktemp -d "$img.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

total=$((size_mib * 2048))
p1s=2048
p1n=16384
p2s=$((p1s + p1n))
p2n=$((total - p2s - 2048))

rm -f "$img"
truncate -s "${size_mib}M" "$img"
case $kind in
mbr)
    sfdisk --quiet --no-reread --no-tell-kernel "$img" <<TABLE
label: dos
label-id: 0x7e570002
unit: sectors
start=$p1s, size=$p1n, type=83
start=$p2s, size=$p2n, type=83
TABLE
    ;;
gpt)
    sfdisk --quiet --no-reread --no-tell-kernel "$img" <<TABLE
label: gpt
unit: sectors
first-lba: 2048
start=$p1s, size=$p1n, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=qboot
start=$p2s, size=$p2n, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=qdata
TABLE
    ;;
*)
    echo "unknown kind $kind" >&2
    exit 2
    ;;
esac

mkdir -p "$stage/p1" "$stage/p2/dir"
echo p1 > "$stage/p1/id"
echo p2 > "$stage/p2/id"
head -c $((payload_kib * 1024)) /dev/urandom > "$stage/p2/dir/payload.bin"

mke2fs -q -F -t ext4 -L vqp1 -E offset=$((p1s * S)) -d "$stage/p1" "$img" $((p1n * S / 1024))k
mke2fs -q -F -t ext4 -L vqp2 -E offset=$((p2s * S)) -d "$stage/p2" "$img" $((p2n * S / 1024))k

sha256sum "$stage/p2/dir/payload.bin" | cut -d' ' -f1
