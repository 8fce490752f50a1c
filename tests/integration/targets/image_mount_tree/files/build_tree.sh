#!/bin/sh
# Build an operating system's disk for the tree tests: build_tree.sh IMAGE [KIND]
#
# KIND os (the default): GPT, every partition of a DPS type: ESP (vfat) at
# /boot/efi, XBOOTLDR /boot (ext4), root (ext4), /var (xfs), /home (btrfs
# subvolume @home). The root's fstab names them by UUID, LABEL, PARTUUID and
# PARTLABEL, as installers do, and has the entries a tree mount leaves out
# (swap, proc, tmpfs, nfs, noauto, a nofail source that is not there). The
# root has no /home directory (a read-write tree mount creates it). Every
# filesystem has /vd-id naming it; the hostile variants are made from this
# image by the tests.
#
# KIND btrfs-root: the system in btrfs subvolumes, as Ubuntu and Fedora install
# it. GPT, one partition of the DPS root type: btrfs with subvolumes @ (its
# etc/fstab mounts @ at / and @home at /home with subvol=) and @home. The top
# level has no etc/fstab; it has a decoy directory whose etc/fstab does not
# mount it at /, and a symlink to the host's root. Every subvolume has /vd-id.
#
# KIND debian ROOTFS_TAR: a real Debian (the tarball of hack/debian-rootfs.sh)
# as installers lay it out, every partition of a DPS type. GPT: ESP (vfat) at
# /boot/efi, XBOOTLDR /boot (ext4), root (ext4), /var (xfs: dpkg's database
# lives there, so dpkg works only when the tree is right), /home (btrfs
# subvolume @home); fstab by UUID, LABEL, PARTLABEL, PARTUUID and
# /dev/disk/by-uuid, and a swap entry.
# KIND debian-btrfs ROOTFS_TAR: the same userland in btrfs subvolume @
# (mounted at / with subvol=@ by its fstab) and @home, as Ubuntu and Fedora
# install it.
#
# btrfs needs a mount to make a subvolume (mkfs.btrfs here cannot), so the
# script runs as root.
set -eu
img=$1
kind=${2:-os}
S=512
tmp=$(mktemp -d "${img}.build.XXXXXX")
trap 'umount "$tmp/mnt" 2>/dev/null || true; rm -rf "$tmp"' EXIT

ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
XBOOTLDR=BC13C2FF-59E6-4262-A352-B275FD6F7172
ROOT=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
VAR=4D21B016-B534-45C2-A9FB-5C16E091FD2D
HOME=933AC7E1-2EB4-4F13-B844-0E14E2AEF915

# A sparse disk of SIZE with the GPT whose partition lines are on stdin.
gpt_disk() {
    rm -f "$img"
    truncate -s "$1" "$img"
    { printf 'label: gpt\nunit: sectors\nfirst-lba: 2048\n'; cat; } |
        sfdisk --quiet --no-reread --no-tell-kernel "$img"
}

os_disk() {
    gpt_disk 260M <<TABLE
start=2048, size=16384, type=$ESP, name=esp, uuid=7E1D0C3B-0001-4A5B-8C6D-000000000001
start=18432, size=32768, type=$XBOOTLDR, name=boot, uuid=7E1D0C3B-0002-4A5B-8C6D-000000000002
start=51200, size=49152, type=$ROOT, name=root, uuid=7E1D0C3B-0003-4A5B-8C6D-000000000003
start=100352, size=81920, type=$VAR, name=var, uuid=7E1D0C3B-0004-4A5B-8C6D-000000000004
start=182272, size=348160, type=$HOME, name=home, uuid=7E1D0C3B-0005-4A5B-8C6D-000000000005
TABLE

    # ESP: vfat with volume id 7C1A-2B3D
    mkfs.vfat -i 7C1A2B3D -n ESP --offset=2048 "$img" $((16384 / 2)) >/dev/null 2>&1

    # /boot: ext4, holding the ESP's mount point
    mkdir -p "$tmp/boot/efi"
    echo boot > "$tmp/boot/vd-id"
    mke2fs -q -F -t ext4 -L vtboot -U 6b0e8a3c-0002-4c1d-9e2f-000000000002 \
        -E offset=$((18432 * S)) -d "$tmp/boot" "$img" $((32768 * S / 1024))k

    # root
    mkdir -p "$tmp/root/etc" "$tmp/root/boot" "$tmp/root/var" "$tmp/root/srv/data"
    echo root > "$tmp/root/vd-id"
    echo vtree > "$tmp/root/etc/hostname"
    echo "secret of the image's srv" > "$tmp/root/srv/data/file"
    cat > "$tmp/root/etc/fstab" <<'FSTAB'
# /etc/fstab of the test OS image
PARTUUID=7e1d0c3b-0003-4a5b-8c6d-000000000003 /  ext4 errors=remount-ro 0 1
LABEL=vtboot              /boot      ext4  defaults                 0 2
UUID=7C1A-2B3D            /boot/efi  vfat  umask=0077               0 1
PARTLABEL=var             /var       xfs   defaults,nofail,x-systemd.device-timeout=5s 0 2
UUID=6b0e8a3c-0005-4c1d-9e2f-000000000005 /home btrfs subvol=@home,compress=zstd 0 0
/dev/vda9                 none       swap  sw                       0 0
proc                      /proc      proc  defaults                 0 0
tmpfs                     /tmp       tmpfs mode=1777                0 0
nfs.example.com:/export   /mnt/nfs   nfs   defaults                 0 0
LABEL=vtboot              /mnt/boot2 ext4  noauto                   0 0
UUID=0bad0bad-0000-4000-8000-000000000000 /data ext4 nofail         0 2
FSTAB
    mke2fs -q -F -t ext4 -L vtroot -U 6b0e8a3c-0003-4c1d-9e2f-000000000003 \
        -E offset=$((51200 * S)) -d "$tmp/root" "$img" $((49152 * S / 1024))k

    # /var: xfs (small: the xfsprogs test-suite override), made in a file
    truncate -s $((81920 * S)) "$tmp/var.fs"
    mkdir -p "$tmp/var"
    echo var > "$tmp/var/vd-id"
    cat > "$tmp/var.proto" <<PROTO
/dev/null
0 0
d--755 0 0
vd-id ---644 0 0 $tmp/var/vd-id
\$
PROTO
    TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 \
        mkfs.xfs -q -f -L vtvar -m uuid=6b0e8a3c-0004-4c1d-9e2f-000000000004 -p "$tmp/var.proto" "$tmp/var.fs"
    dd if="$tmp/var.fs" of="$img" bs=$S seek=100352 conv=notrunc,sparse status=none

    # /home: btrfs, the home directories in subvolume @home
    truncate -s $((348160 * S)) "$tmp/home.fs"
    mkfs.btrfs -q -f -L vthome -U 6b0e8a3c-0005-4c1d-9e2f-000000000005 "$tmp/home.fs" >/dev/null
    mkdir -p "$tmp/mnt"
    mount -o loop "$tmp/home.fs" "$tmp/mnt"
    echo home-top > "$tmp/mnt/vd-id"
    btrfs -q subvolume create "$tmp/mnt/@home" >/dev/null
    echo home > "$tmp/mnt/@home/vd-id"
    mkdir -p "$tmp/mnt/@home/user"
    umount "$tmp/mnt"
    dd if="$tmp/home.fs" of="$img" bs=$S seek=182272 conv=notrunc,sparse status=none
}

# btrfs_root_at_mnt SECTORS LABEL: $tmp/root.fs, a btrfs of SECTORS with
# UUID $UUID and subvolumes @ and @home, mounted at $tmp/mnt.
btrfs_root_at_mnt() {
    truncate -s $(($1 * S)) "$tmp/root.fs"
    mkfs.btrfs -q -f -L "$2" -U "$UUID" "$tmp/root.fs" >/dev/null
    mkdir -p "$tmp/mnt"
    mount -o loop "$tmp/root.fs" "$tmp/mnt"
    btrfs -q subvolume create "$tmp/mnt/@" >/dev/null
    btrfs -q subvolume create "$tmp/mnt/@home" >/dev/null
}

btrfs_root_disk() {
    UUID=6b0e8a3c-00b7-4c1d-9e2f-0000000000b7
    gpt_disk 200M <<TABLE
start=2048, size=405504, type=$ROOT, name=root, uuid=7E1D0C3B-00B7-4A5B-8C6D-000000000001
TABLE

    btrfs_root_at_mnt 405504 vtbtrfs
    echo top > "$tmp/mnt/vd-id"
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
}

debian_disk() {
    [ -r "$rootfs" ] || { echo "$0: debian needs the rootfs tarball (hack/debian-rootfs.sh)" >&2; exit 2; }
    gpt_disk 1170M <<TABLE
start=2048, size=32768, type=$ESP, name=esp, uuid=7E1D0C3B-00DE-4A5B-8C6D-000000000001
start=34816, size=131072, type=$XBOOTLDR, name=boot, uuid=7E1D0C3B-00DE-4A5B-8C6D-000000000002
start=165888, size=1310720, type=$ROOT, name=root, uuid=7E1D0C3B-00DE-4A5B-8C6D-000000000003
start=1476608, size=524288, type=$VAR, name=var, uuid=7E1D0C3B-00DE-4A5B-8C6D-000000000004
start=2000896, size=380928, type=$HOME, name=home, uuid=7E1D0C3B-00DE-4A5B-8C6D-000000000005
TABLE
    mkfs.vfat -F 16 -i 7C1ADE01 -n ESP --offset=2048 "$img" $((32768 / 2)) >/dev/null 2>&1

    # the userland; /boot and /var (with dpkg's database) go to their own partitions
    mkdir -p "$tmp/root" "$tmp/boot" "$tmp/var" "$tmp/mnt"
    tar -x -p --numeric-owner -f "$rootfs" -C "$tmp/root"
    for dir in boot var; do
        (cd "$tmp/root/$dir" && find . -mindepth 1 -maxdepth 1 -exec mv -t "$tmp/$dir" {} +)
    done
    mkdir -p "$tmp/boot/efi"
    echo vdebian > "$tmp/root/etc/hostname"
    cat > "$tmp/root/etc/fstab" <<'FSTAB'
# /etc/fstab of the Debian test image, the sources mixed as installers write them
UUID=6b0e8a3c-00de-4c1d-9e2f-000000000003 / ext4 errors=remount-ro 0 1
LABEL=vdboot /boot ext4 defaults 0 2
PARTLABEL=esp /boot/efi vfat umask=0077 0 1
PARTUUID=7e1d0c3b-00de-4a5b-8c6d-000000000004 /var xfs defaults 0 2
/dev/disk/by-uuid/6b0e8a3c-00de-4c1d-9e2f-000000000005 /home btrfs defaults,subvol=@home 0 0
/dev/vda6 none swap sw,nofail 0 0
FSTAB
    mke2fs -q -F -t ext4 -L vdboot -U 6b0e8a3c-00de-4c1d-9e2f-000000000002 \
        -E offset=$((34816 * S)) -d "$tmp/boot" "$img" $((131072 * S / 1024))k
    mke2fs -q -F -t ext4 -L vdroot -U 6b0e8a3c-00de-4c1d-9e2f-000000000003 \
        -E offset=$((165888 * S)) -d "$tmp/root" "$img" $((1310720 * S / 1024))k
    rm -rf "${tmp:?}/root" "${tmp:?}/boot"

    # /var: xfs (small: the xfsprogs test-suite override), filled through a mount
    truncate -s $((524288 * S)) "$tmp/var.fs"
    TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 \
        mkfs.xfs -q -f -L vdvar -m uuid=6b0e8a3c-00de-4c1d-9e2f-000000000004 "$tmp/var.fs"
    mount -o loop "$tmp/var.fs" "$tmp/mnt"
    cp -a "$tmp/var/." "$tmp/mnt/"
    umount "$tmp/mnt"
    rm -rf "${tmp:?}/var"
    dd if="$tmp/var.fs" of="$img" bs=$S seek=1476608 conv=notrunc,sparse status=none

    # /home: btrfs, the home directories in subvolume @home
    truncate -s $((380928 * S)) "$tmp/home.fs"
    mkfs.btrfs -q -f -L vdhome -U 6b0e8a3c-00de-4c1d-9e2f-000000000005 "$tmp/home.fs" >/dev/null
    mount -o loop "$tmp/home.fs" "$tmp/mnt"
    btrfs -q subvolume create "$tmp/mnt/@home" >/dev/null
    umount "$tmp/mnt"
    dd if="$tmp/home.fs" of="$img" bs=$S seek=2000896 conv=notrunc,sparse status=none
}

debian_btrfs_disk() {
    [ -r "$rootfs" ] || { echo "$0: debian-btrfs needs the rootfs tarball (hack/debian-rootfs.sh)" >&2; exit 2; }
    UUID=6b0e8a3c-00db-4c1d-9e2f-0000000000db
    gpt_disk 900M <<TABLE
start=2048, size=1800192, type=$ROOT, name=root, uuid=7E1D0C3B-00DB-4A5B-8C6D-000000000001
TABLE
    btrfs_root_at_mnt 1800192 vdbtrfs
    tar -x -p --numeric-owner -f "$rootfs" -C "$tmp/mnt/@"
    echo vdebian-btrfs > "$tmp/mnt/@/etc/hostname"
    cat > "$tmp/mnt/@/etc/fstab" <<FSTAB
# /etc/fstab of the Debian test image on btrfs subvolumes
UUID=$UUID /     btrfs defaults,subvol=@,compress=zstd 0 0
UUID=$UUID /home btrfs defaults,subvol=@home          0 0
FSTAB
    umount "$tmp/mnt"
    dd if="$tmp/root.fs" of="$img" bs=$S seek=2048 conv=notrunc,sparse status=none
}

case $kind in
    os) os_disk ;;
    btrfs-root) btrfs_root_disk ;;
    debian) rootfs=${3:-}; debian_disk ;;
    debian-btrfs) rootfs=${3:-}; debian_btrfs_disk ;;
    *) echo "usage: $0 IMAGE [os|btrfs-root|debian|debian-btrfs ROOTFS_TAR]" >&2; exit 2 ;;
esac
