#!/usr/bin/env bash
# Suite: `molecule test` of extensions/molecule/default (the role
# virt.disk.image_host, then virt.disk.image_mount on a raw GPT image:
# prepare, converge, idempotence, verify, cleanup, destroy) on a real kernel.
#
# nbd and loop are unloaded first, so the role's converge must load them:
#   image_host/role-loads-modules  after molecule, /sys/module/nbd/parameters
#       says nbds_max=16 and max_part=31 and /sys/module/loop/parameters
#       max_part=15 (the kernel keeps max_part as 2^n - 1: part_shift =
#       fls(max_part) in nbd and loop, so the role's 16 shows as 31); the
#       idempotence step (the second run of the role changes nothing) and the
#       verify step (image_mount_info agrees, /etc/modprobe.d/virt-disk.conf
#       has the options) passed; destroy removed the files
#   molecule/default               every step of the sequence succeeded and
#       nothing is left
#
# Molecule runs from the collection root (where galaxy.yml is). The guest sees
# the repository read-only and molecule writes next to the project (its
# prerun installs the collection, ansible-compat keeps state), so it runs in a
# copy on tmpfs ($KT_WORK/collections/ansible_collections/virt/disk, the same
# as the synced build/collections copy); molecule.yml puts the tree the
# scenario belongs to first on ANSIBLE_COLLECTIONS_PATH, so that copy is what
# the playbooks use. HOME and TMPDIR are on tmpfs.
set -uo pipefail
cd "$KT_REPO" || exit 1

# shellcheck source=tests/kernel/lib.sh
source tests/kernel/lib.sh

t0=$(now)
copy=$KT_WORK/collections/ansible_collections/virt/disk
mkdir -p "$copy" "$KT_WORK/tmp"
rsync -a --delete --exclude=/tests/output build/collections/ansible_collections/virt/disk/ "$copy/" ||
    { krecord FAIL molecule/default 0 "cannot copy the collection to $copy" >/dev/null; exit 1; }

role_problems=()
modprobe -r nbd || role_problems+=("modprobe -r nbd failed")
if ! builtin_module loop; then
    modprobe -r loop || role_problems+=("modprobe -r loop failed")
fi
[[ ! -d /sys/module/nbd ]] || role_problems+=("nbd still loaded before the role ran")

log=$KT_WORK/molecule.log
(cd "$copy" && TMPDIR=$KT_WORK/tmp ANSIBLE_COLLECTIONS_PATH=$KT_WORK/collections molecule test -s default) 2>&1 |
    tee "$log" | stamp
rc=${PIPESTATUS[0]}

problems=()
((rc == 0)) || problems+=("molecule test exited $rc: $(grep -E 'FAILED!|ERROR|fatal:|CRITICAL' "$log" | head -3 | tr '\n' ' ')")
for step in prepare converge idempotence verify cleanup destroy; do
    grep -Eiq "default.*${step}.*(Executed|Completed): Successful|${step} .*completed successfully|Action: '${step}'" "$log" ||
        grep -Eiq "^INFO +default +➜ +${step}" "$log" || problems+=("no sign of the $step step in molecule's output")
done
state=$(kstate)
[[ "$(python3 -c 'import json, sys; k = json.load(sys.stdin); print(len(k["loops"]) + len(k["mounts"]) + len(k["dm"]) + len(k["nbd"]))' <<<"$state")" == 0 ]] ||
    problems+=("left behind: $state")
for f in /etc/modprobe.d/virt-disk.conf /etc/modules-load.d/virt-disk.conf; do
    [[ ! -e "$f" ]] || problems+=("$f left behind by destroy")
done
# what the role did in converge (its idempotence and verify are molecule steps, checked above)
role_problems+=("${problems[@]}")
grep -q '^nbd ' /proc/modules || role_problems+=("nbd is not loaded after the role")
[[ "$(param nbd max_part)" == "$(effective_max_part 16)" ]] ||
    role_problems+=("nbd max_part=$(param nbd max_part), wanted $(effective_max_part 16) (16)")
[[ "$(param nbd nbds_max)" == 16 ]] || role_problems+=("nbd nbds_max=$(param nbd nbds_max), wanted 16")
if ! builtin_module loop; then
    [[ "$(param loop max_part)" == "$(effective_max_part 15)" ]] ||
        role_problems+=("loop max_part=$(param loop max_part), wanted $(effective_max_part 15)")
fi
grep -Eq 'TASK \[virt.disk.image_host : Load the module with its parameters - nbd\]' "$log" &&
    grep -A1 'Load the module with its parameters - nbd' "$log" | grep -q '^.*changed:' ||
    role_problems+=("no 'changed' from the role's load of nbd in converge")
if ((${#role_problems[@]})); then
    krecord FAIL image_host/role-loads-modules "$(elapsed "$t0")" "${role_problems[*]}" >/dev/null
else
    krecord PASS image_host/role-loads-modules "$(elapsed "$t0")" \
        "nbd loaded by the role: max_part=$(param nbd max_part) (16) nbds_max=16; loop max_part=$(param loop max_part); second run changed nothing; options persisted" >/dev/null
fi
# whatever happened, the next suites need nbd and loop as guest.sh set them up
[[ -d /sys/module/nbd ]] || modprobe nbd max_part=16 nbds_max=16
[[ -d /sys/module/loop ]] || modprobe loop max_part=15

if ((${#problems[@]})); then
    krecord FAIL molecule/default "$(elapsed "$t0")" "${problems[*]}" >/dev/null
else
    krecord PASS molecule/default "$(elapsed "$t0")" "prepare, converge, idempotence, verify, cleanup, destroy" >/dev/null
fi
exit 0
