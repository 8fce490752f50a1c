#!/usr/bin/env bash
# Fail when a test tier left anything of an image behind: loop devices, mounts
# of loop/nbd/device-mapper devices, FUSE exports and their files (snapshot
# overlays), qemu helper processes, dm maps, connected nbd devices. Prints
# every leak it finds.
#
#   hack/check-leaks.sh            the whole host (CI, after the integration tier)
#   hack/check-leaks.sh DIR        only what involves files under DIR (make demo,
#                                  on a host where other loop devices may exist)
set -uo pipefail

scope=""
if [[ $# -gt 0 ]]; then
    scope=$(realpath -m "$1")
fi
# Keep the lines that mention the scope directory (all lines when unscoped).
in_scope() {
    if [[ -z "$scope" ]]; then cat; else grep -F -- "$scope" || true; fi
}

leaks=0
report() {
    local what=$1 details=$2
    [[ -n "$details" ]] || return 0
    leaks=1
    echo "LEAK: $what:"
    printf '%s\n' "$details" | sed 's/^/    /'
}

report "loop devices still attached (losetup -a)" "$(losetup -a 2>/dev/null | in_scope)"

# /proc/self/mountinfo: field 10 (after the ' - ' separator: fstype, source) is the source.
report "mounts of loop/nbd/device-mapper devices (/proc/self/mountinfo)" "$(
    awk '{
        for (i = 1; i <= NF; i++) if ($i == "-") { src = $(i + 2); break }
        if (src ~ "^/dev/(loop|nbd|mapper/|dm-)") print src " on " $5
    }' /proc/self/mountinfo | in_scope
)"

# qemu-storage-daemon FUSE exports: a fuse mount over a regular file.
fuse_exports=""
while read -r mount_point; do
    mount_point=$(printf '%b' "$mount_point")  # mountinfo escapes spaces as \040
    [[ -f "$mount_point" ]] && fuse_exports+="$mount_point"$'\n'
done < <(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "fuse") print $5; break } }' /proc/self/mountinfo)
report "FUSE exports of images (fuse mounts over regular files)" "$(printf '%s' "$fuse_exports" | in_scope)"

# A helper that has exited may stay a zombie until PID 1 reaps it: not a leak.
qemu_helpers=""
for pid in $(pgrep -x 'qemu-nbd|qemu-storage-da(emon)?' 2>/dev/null); do
    state=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
    [[ -n "$state" && "$state" != Z ]] || continue
    qemu_helpers+="$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"$'\n'
done
report "qemu helper processes (qemu-nbd, qemu-storage-daemon)" "$(printf '%s' "$qemu_helpers" | in_scope)"

# nbd devices and dm maps do not name their image: only checked host-wide.
if [[ -n "$scope" ]]; then
    if ((leaks)); then
        echo "check-leaks: FAILED: the resources above under $scope were left behind" >&2
        exit 1
    fi
    echo "check-leaks: nothing under $scope left behind (loop, mounts, FUSE exports, qemu helpers)"
    exit 0
fi

# nbd devices the kernel still considers connected (only where nbd exists).
nbd_connected=""
for pid_file in /sys/block/nbd*/pid; do
    [[ -e "$pid_file" ]] || continue
    nbd_connected+="$(basename "$(dirname "$pid_file")") (pid $(cat "$pid_file" 2>/dev/null))"$'\n'
done
report "connected nbd devices" "${nbd_connected%$'\n'}"

# Files the fuse backend leaves only while an export lives: export files,
# pid files, snapshot overlays.
fuse_files=$(find /run/virt-disk/fuse -maxdepth 1 -type f \( -name '*.raw' -o -name '*.pid' -o -name '*.overlay.qcow2' \) 2>/dev/null)
report "files of FUSE exports (/run/virt-disk/fuse: exports, pid files, snapshot overlays)" "$fuse_files"

# device-mapper maps, where the kernel has device-mapper.
if command -v dmsetup >/dev/null 2>&1 && dmsetup version >/dev/null 2>&1; then
    dm_maps=$(dmsetup ls 2>/dev/null | grep -v '^No devices found' || true)
    report "device-mapper maps (dmsetup ls)" "$dm_maps"
fi

if ((leaks)); then
    echo "check-leaks: FAILED: the run above left the resources listed behind" >&2
    exit 1
fi
echo "check-leaks: nothing left behind (loop, mounts, qemu helpers, nbd, dm)"
