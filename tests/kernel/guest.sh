#!/usr/bin/env bash
# Runs INSIDE the guest that tests/kernel/run.sh boots (a Debian kernel under
# QEMU with virtme-ng, the host's root filesystem read-only over 9p). Do not
# run it on a host: it loads modules and tears down every loop, nbd and dm
# device it finds.
#
# 1. Mounts the Python runtime squashfs that run.sh attached as the first
#    virtio disk over the venv and the base Python (9p without a cache makes
#    every Python import take seconds under emulation; a squashfs on a virtio
#    disk is read in bulk and cached).
# 2. Gives Ansible a writable home on tmpfs and points it at a tmpfs copy of
#    the synced collection (build/collections) and the venv's Python; private
#    copies of /etc/modprobe.d and /etc/modules-load.d (the role writes there).
# 3. Loads nbd (max_part=16 nbds_max=16), dm-mod and loop (max_part=15).
# 4. Runs every tests/kernel/suites/*.sh in order (KT_SUITES=glob to pick),
#    each bounded by KT_SUITE_TIMEOUT seconds, then the final leak check.
# 5. Leaves build/kernel-results/ (a --rwdir, so the host sees it):
#    guest.log, summary.tsv (one line per case), junit/ (per task, from
#    Ansible's junit callback), kernel.txt, and `done` as the last act.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RESULTS=${KT_RESULTS:-$REPO/build/kernel-results}
WORK=/run/virt-disk-kernel-tier
export KT_IN_GUEST=1 KT_REPO=$REPO KT_RESULTS=$RESULTS KT_WORK=$WORK
export KT_BIN=$REPO/tests/kernel/bin KT_SUMMARY=$RESULTS/summary.tsv
export KT_IMAGES=$WORK/images
export PATH="$REPO/.venv/bin:$KT_BIN:/usr/sbin:/sbin:/usr/bin:/bin"

mkdir -p "$RESULTS"
exec > >(tee -a "$RESULTS/guest.log") 2>&1

say() { echo "guest: $*"; }
fatal() {
    say "FATAL: $*"
    krecord FAIL guest/setup 0 "$*" >/dev/null
    echo "failed 1" >"$RESULTS/done"
    exit 1
}
# shellcheck source=tests/kernel/lib.sh
source "$REPO/tests/kernel/lib.sh"

say "kernel $(uname -r), $(nproc) cpus, $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo)"

# ---------------------------------------------------------------- python runtime
modprobe virtio_blk 2>/dev/null
modprobe squashfs 2>/dev/null
manifest=$REPO/build/kernel-cache/python.manifest
py_disk=""
for _ in $(seq 50); do
    for dev in /dev/vd[a-z]; do
        [[ -b "$dev" && "$(blkid -o value -s TYPE "$dev" 2>/dev/null)" == squashfs ]] && py_disk=$dev && break 2
    done
    sleep 0.1
done
[[ -n "$py_disk" ]] || fatal "no squashfs virtio disk with the Python runtime (run.sh attaches it with --disk)"
mkdir -p "$WORK/py"
mount -t squashfs -o ro "$py_disk" "$WORK/py" || fatal "cannot mount $py_disk"
while IFS=$'\t' read -r name target; do
    [[ -n "$name" ]] || continue
    mount --bind "$WORK/py/$name" "$target" || fatal "cannot bind $WORK/py/$name over $target"
done <"$manifest"
"$REPO/.venv/bin/python" -c 'import ansible' || fatal "the venv's Python cannot import ansible"

# ---------------------------------------------------------------- ansible
mkdir -p "$WORK/home/tmp" "$WORK/home/remote-tmp" "$RESULTS/junit"
export HOME=$WORK/home
export ANSIBLE_HOME=$WORK/home/.ansible
export ANSIBLE_LOCAL_TEMP=$WORK/home/tmp
export ANSIBLE_REMOTE_TMP=$WORK/home/remote-tmp
# the collection on tmpfs (see below)
export ANSIBLE_COLLECTIONS_PATH=$WORK/collections
export ANSIBLE_PYTHON_INTERPRETER=$REPO/.venv/bin/python
export ANSIBLE_PIPELINING=true
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.junit
export JUNIT_OUTPUT_DIR=$RESULTS/junit JUNIT_TASK_CLASS=true
# Every Python here starts with python/sitecustomize.py, which keeps the code
# compiled from Ansible's module zips on tmpfs: under TCG compiling
# ansible.module_utils again at every task is most of a module task's time.
mkdir -p "$WORK/python" "$WORK/code"
cp "$REPO/tests/kernel/python/sitecustomize.py" "$WORK/python/" || fatal "cannot copy sitecustomize.py"
export PYTHONPATH=$WORK/python KT_CODE_CACHE=$WORK/code
export KT_COMPILE_ONCE=$ANSIBLE_COLLECTIONS_PATH/ansible_collections/virt/disk/plugins/module_utils/compile_once.py
# A tool that runs Ansible with a cleaned environment (ansible-test passes on
# only HOME and PATH) gets its remote tmp in ~root/.ansible/tmp (~root, not
# $HOME), which the guest sees read-only: a tmpfs there (guest only).
for dir in /root/.ansible/tmp /root/.ansible /root; do
    if [[ -d "$dir" ]]; then
        mount -t tmpfs -o mode=0700 kt-root-ansible "$dir" || fatal "cannot mount a tmpfs on $dir"
        mkdir -p /root/.ansible/tmp || fatal "cannot make /root/.ansible/tmp"
        break
    fi
done
# The synced collection, copied to tmpfs without its tests: over 9p every read
# is slow under emulation, and the repository is read-only there, so Python
# could not keep the bytecode of the collection's modules next to them and the
# module processes of the Python drivers (bin/ktlib.py) would compile them at
# every run.
synced=$REPO/build/collections/ansible_collections/virt/disk
[[ -d "$synced" ]] || fatal "no synced collection at $synced (run.sh runs hack/sync.sh)"
mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/virt/disk"
rsync -a --exclude=/tests --exclude=/bench "$synced/" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/virt/disk/" ||
    fatal "cannot copy $synced to $ANSIBLE_COLLECTIONS_PATH"
# The guest's /etc is an overlay whose lower layer is the host's /etc, live:
# under `make test` the host tiers (integration target image_host, molecule)
# write and remove the role's /etc/modprobe.d/virt-disk.conf (and its block in
# /etc/lvm/lvmlocal.conf) while suite 20 runs the role here, and the guest
# would see the host's files change. The guest gets private copies of the
# directories the role writes, without the role's LVM block.
for dir in /etc/modprobe.d /etc/modules-load.d /etc/lvm; do
    private=$WORK/etc/$(basename "$dir")
    mkdir -p "$private" "$dir" || fatal "cannot make $private"
    cp -a "$dir/." "$private/" || fatal "cannot copy $dir to $private"
    mount --bind "$private" "$dir" || fatal "cannot bind $private over $dir"
done
if [[ -f /etc/lvm/lvmlocal.conf ]]; then
    sed -i '/^# BEGIN virt.disk.image_host: /,/^# END virt.disk.image_host: /d' /etc/lvm/lvmlocal.conf
fi

# ---------------------------------------------------------------- kernel modules
modprobe nbd max_part=16 nbds_max=16 || fatal "modprobe nbd failed"
modprobe dm-mod || fatal "modprobe dm-mod failed"
if builtin_module loop; then
    say "loop is built into this kernel (max_part=$(param loop max_part))"
else
    if [[ -d /sys/module/loop && "$(param loop max_part)" != 15 ]]; then
        modprobe -r loop || fatal "loop is loaded with max_part=$(param loop max_part) and cannot be reloaded"
    fi
    modprobe loop max_part=15 || fatal "modprobe loop failed"
fi
{
    echo "kernel: $(uname -r)"
    echo "nbd: max_part=$(param nbd max_part) nbds_max=$(param nbd nbds_max)"
    echo "loop: max_part=$(param loop max_part)"
    echo "dm: $(dmsetup version 2>&1 | tr '\n' ' ')"
    echo "tools: $(qemu-nbd --version | head -1); $(kpartx -V 2>&1 | head -1 || true); $(partx --version)"
} | tee "$RESULTS/kernel.txt"
[[ -e /sys/block/nbd0 ]] || fatal "no /sys/block/nbd0 after modprobe nbd"

# ---------------------------------------------------------------- images
mkdir -p "$KT_IMAGES"
for image in "$REPO"/build/kernel-images/*; do
    cp --sparse=always "$image" "$KT_IMAGES/" || fatal "cannot copy $image"
done
say "images: $(cd "$KT_IMAGES" && echo *)"

# ---------------------------------------------------------------- suites
# The longest suite (20, two playbook runs of the role) takes about 9 min on a
# 2-core host busy with nothing but this QEMU and 15 min beside the host tiers
# (make test), the other suites 1-5 min: 30 min leaves twice that.
suite_timeout=${KT_SUITE_TIMEOUT:-1800}
for suite in "$REPO"/tests/kernel/suites/${KT_SUITES:-*}.sh; do
    [[ -e "$suite" ]] || continue
    name=$(basename "$suite" .sh)
    say "=== suite $name"
    before=$(grep -c . "$KT_SUMMARY" 2>/dev/null || echo 0)
    t0=$(now)
    (cd "$REPO" && KT_SUITE=$name timeout -k 10 "$suite_timeout" bash "$suite")
    rc=$?
    after=$(grep -c . "$KT_SUMMARY" 2>/dev/null || echo 0)
    if ((rc == 124)); then
        krecord FAIL "$name/suite" "$(elapsed "$t0")" "timed out after ${suite_timeout}s" >/dev/null
    elif ((rc != 0)); then
        krecord FAIL "$name/suite" "$(elapsed "$t0")" "exited $rc" >/dev/null
    elif ((after == before)); then
        krecord FAIL "$name/suite" "$(elapsed "$t0")" "recorded no case" >/dev/null
    fi
    kreset >/dev/null  # whatever a broken suite left must not fail the next one
done

# ---------------------------------------------------------------- leftovers
# After the suites nothing of any image may be left: no dm map, no loop
# device, no connected nbd, no mount of an image device, no qemu helper.
t0=$(now)
problems=()
dm_ls=$(dmsetup ls 2>&1)
[[ "$dm_ls" == "No devices found" ]] || problems+=("dmsetup ls: $dm_ls")
loops=$(losetup -a)
[[ -z "$loops" ]] || problems+=("losetup -a: $loops")
for pidfile in /sys/block/nbd*/pid; do
    [[ -e "$pidfile" ]] && problems+=("connected: $pidfile ($(cat "$pidfile"))")
done
state=$(kstate)
mounts=$(python3 -c 'import json, sys; print(" ".join(m["source"] + " on " + m["target"] for m in json.load(sys.stdin)["mounts"]))' <<<"$state")
[[ -z "$mounts" ]] || problems+=("mounts: $mounts")
qemu=$(python3 -c 'import json, sys; print(" ".join(str(p["pid"]) for p in json.load(sys.stdin)["qemu"]))' <<<"$state")
[[ -z "$qemu" ]] || problems+=("qemu helpers: $qemu")
if ((${#problems[@]})); then
    krecord FAIL final/no-leftovers "$(elapsed "$t0")" "${problems[*]}" >/dev/null
    kreset >/dev/null
else
    krecord PASS final/no-leftovers "$(elapsed "$t0")" "dmsetup ls: No devices found; losetup -a empty; no nbd pid; no image mounts; no qemu helpers" >/dev/null
fi

passed=$(grep -c '^PASS' "$KT_SUMMARY" || true)
failed=$(grep -c '^FAIL' "$KT_SUMMARY" || true)
say "done: $passed passed, $failed failed"
sync
echo "passed $passed failed $failed" >"$RESULTS/done"
