#!/usr/bin/env bash
# Suite: `molecule test` of extensions/molecule/default (the role
# virt.disk.image_host, then virt.disk.image_mount on a raw GPT image:
# prepare, converge, idempotence, verify, cleanup, destroy) on a real kernel.
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

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
stamp() { while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done; }

t0=$(now)
copy=$KT_WORK/collections/ansible_collections/virt/disk
mkdir -p "$copy" "$KT_WORK/tmp"
rsync -a --delete --exclude=/tests/output build/collections/ansible_collections/virt/disk/ "$copy/" ||
    { krecord FAIL molecule/default 0 "cannot copy the collection to $copy" >/dev/null; exit 1; }

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
if ((${#problems[@]})); then
    krecord FAIL molecule/default "$(elapsed "$t0")" "${problems[*]}" >/dev/null
else
    krecord PASS molecule/default "$(elapsed "$t0")" "prepare, converge, idempotence, verify, cleanup, destroy" >/dev/null
fi
exit 0
