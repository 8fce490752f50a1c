#!/usr/bin/env bash
# Run the role twice in two ansible-playbook runs; the second must report
# changed=0 in its recap. The files the role writes are removed at the end
# (and on failure) by cleanup.yml.
set -euo pipefail

inventory=(-i "${INVENTORY_PATH:-localhost,}")
cleanup() {
    ansible-playbook "${inventory[@]}" cleanup.yml "$@"
}
trap 'cleanup "$@"' EXIT

ansible-playbook "${inventory[@]}" run.yml -e image_host_test_pass=1 "$@"

out=$(mktemp)
ansible-playbook "${inventory[@]}" run.yml -e image_host_test_pass=2 "$@" | tee "$out"
if ! grep -Eq '^(localhost|testhost) +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "$out"; then
    echo "image_host: the second run of the role changed something (see the recap above)" >&2
    rm -f "$out"
    exit 1
fi
rm -f "$out"
echo "image_host: second run changed nothing"
