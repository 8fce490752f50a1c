#!/usr/bin/env bash
# Suite: the role virt.disk.image_host where nbd and loop are loadable modules
# (on the host kernel loop is built in and nbd does not exist).
#
#   image_host/integration-target  nbd and loop unloaded first, so the role
#       loads them: `ansible-test integration image_host` (two runs of the
#       role, the second must change nothing; the persistence files checked),
#       then /sys/module/nbd/parameters must say nbds_max=16 and max_part=31
#       and /sys/module/loop/parameters max_part=15: the kernel rounds
#       max_part up to 2^n - 1 (part_shift = fls(max_part) in nbd and loop),
#       so the role's max_part=16 shows as 31 and 15 stays 15
#   image_host/reload-when-free, no-reload-when-in-use
#       playbooks/image_host.yml: image_host_reload_modules with another
#       max_part, with no nbd device in use and with one connected; nbd is
#       loaded with max_part=16 again afterwards
#
# ansible-test writes tests/output under the collection root and the guest
# sees the repository read-only, so it runs in a copy on tmpfs
# ($KT_WORK/collections, shared with the molecule suite).
set -uo pipefail
cd "$KT_REPO" || exit 1

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
stamp() { while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done; }
param() { cat "/sys/module/$1/parameters/$2" 2>/dev/null || echo none; }
loadable() { [[ -e "/sys/module/$1/initstate" || ! -d "/sys/module/$1" ]]; }
effective_max_part() {  # what the kernel makes of max_part=N: 2^fls(N) - 1
    local n=$1 shift=0
    while ((n)); do ((shift += 1, n >>= 1)); done
    echo $(((1 << shift) - 1))
}
nbd_max_part=$(effective_max_part 16)
loop_max_part=$(effective_max_part 15)

copy=$KT_WORK/collections/ansible_collections/virt/disk
mkdir -p "$copy"
rsync -a --delete --exclude=/tests/output build/collections/ansible_collections/virt/disk/ "$copy/" ||
    { krecord FAIL image_host/integration-target 0 "cannot copy the collection to $copy" >/dev/null; exit 1; }

# ---------------------------------------------------------------- the integration target
t0=$(now)
problems=()
modprobe -r nbd || problems+=("modprobe -r nbd failed")
if loadable loop; then
    modprobe -r loop || problems+=("modprobe -r loop failed")
fi
[[ ! -d /sys/module/nbd ]] || problems+=("nbd still loaded before the role ran")
log=$KT_WORK/image_host-integration.log
(cd "$copy" && ansible-test integration image_host --allow-destructive --local --python 3.11 --color no) 2>&1 |
    tee "$log" | stamp
rc=${PIPESTATUS[0]}
((rc == 0)) || problems+=("ansible-test exited $rc: $(grep -E 'FAILED!|ERROR|fatal:|image_host:' "$log" | head -3 | tr '\n' ' ')")
grep -q 'Running image_host integration test' "$log" || problems+=("ansible-test did not run the target")
grep -q 'second run changed nothing' "$log" || problems+=("no 'second run changed nothing' from runme.sh")
grep -q '^nbd ' /proc/modules || problems+=("nbd is not loaded after the role")
[[ "$(param nbd max_part)" == "$nbd_max_part" ]] || problems+=("nbd max_part=$(param nbd max_part), wanted $nbd_max_part (16)")
[[ "$(param nbd nbds_max)" == 16 ]] || problems+=("nbd nbds_max=$(param nbd nbds_max), wanted 16")
if loadable loop; then
    [[ "$(param loop max_part)" == "$loop_max_part" ]] || problems+=("loop max_part=$(param loop max_part), wanted $loop_max_part (15)")
fi
for f in /etc/modprobe.d/virt-disk.conf /etc/modules-load.d/virt-disk.conf; do
    [[ ! -e "$f" ]] || problems+=("$f left behind by the target's cleanup")
done
if ((${#problems[@]})); then
    krecord FAIL image_host/integration-target "$(elapsed "$t0")" "${problems[*]}" >/dev/null
else
    krecord PASS image_host/integration-target "$(elapsed "$t0")" \
        "nbd loaded by the role: max_part=$(param nbd max_part) (16) nbds_max=16; loop max_part=$(param loop max_part); second run changed nothing" >/dev/null
fi
# whatever happened, the next cases and suites need nbd and loop as guest.sh set them up
[[ -d /sys/module/nbd ]] || modprobe nbd max_part=16 nbds_max=16
[[ -d /sys/module/loop ]] || modprobe loop max_part=15

# ---------------------------------------------------------------- reload
ansible-playbook tests/kernel/playbooks/image_host.yml 2>&1 | stamp
rc=${PIPESTATUS[0]}

# leave nbd as guest.sh loaded it, and no files of the role behind
kreset >/dev/null
if [[ "$(param nbd max_part)" != "$nbd_max_part" || "$(param nbd nbds_max)" != 16 ]]; then
    echo "20-image-host-role: nbd runs with max_part=$(param nbd max_part); loading it again with max_part=16"
    khand nbd-reload 16 >/dev/null
fi
rm -f /etc/modprobe.d/virt-disk.conf /etc/modules-load.d/virt-disk.conf
exit "$rc"
