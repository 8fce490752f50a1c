#!/bin/sh
# Build a raw disk whose first bytes are a valid qcow2 image (header,
# refcount table and block, L1 table) naming HOSTFILE as its backing file,
# then make HOSTFILE a FIFO, so that any open of it for reading blocks.
#
# usage: vq_spoof.sh DISK HOSTFILE
# The qcow2 is created against a regular file first: qemu-img create opens
# the backing file, and must not block on the FIFO.
set -eu
disk=$1
host=$2
hdr="$disk.hdr.qcow2"

rm -f "$disk" "$host" "$hdr"
truncate -s 32M "$disk"
# something that looks like data behind the header
head -c 1048576 /dev/urandom | dd of="$disk" bs=1M seek=4 conv=notrunc status=none
: > "$host"
truncate -s 32M "$host"
qemu-img create -q -f qcow2 -b "$host" -F raw "$hdr" 32M
dd if="$hdr" of="$disk" conv=notrunc status=none
rm -f "$hdr" "$host"
mkfifo -m 0600 "$host"
