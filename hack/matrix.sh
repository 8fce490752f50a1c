#!/usr/bin/env bash
# The rows of tests/matrix.txt after the first (whose tiers `make test` runs
# in .venv): for each ansible-core, its venv and Pythons (hack/setup-core.sh)
# and its copy of the tree (hack/sync.sh), then the given steps, each as the
# tier scripts run them for the first row: sanity, units, integration (the
# targets of its row). Runs every row and step, then fails if any failed.
#
#   hack/matrix.sh STEP[,STEP...] [X.Y...]     default: every row but the first
#
# make test runs `sanity,units` in the background (they use no device) and
# `integration` after the host tiers (its leak checks are global).
set -uo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT" || exit 1

(($#)) || die "usage: $0 STEP[,STEP...] [X.Y...]  (steps: sanity units integration)"
IFS=, read -ra steps <<<"$1"
shift
if (($# == 0)); then
    mapfile -t cores < <(matrix_rows | tail -n +2 | awk '{ split($1, v, "."); print v[1] "." v[2] }')
else
    cores=("$@")
fi

results=()
failed=0
for core in "${cores[@]}"; do
    for step in setup-core sync "${steps[@]}"; do
        echo
        echo "==================== matrix: ansible-core $core: $step ===================="
        start=$SECONDS
        VIRT_DISK_CORE=$core "hack/$step.sh"
        rc=$?
        results+=("$(printf '%-6s %-12s %-10s %5ss' "$core" "$step" "$([[ $rc == 0 ]] && echo ok || echo "FAILED($rc)")" "$((SECONDS - start))")")
        ((rc == 0)) || failed=1
        [[ $step != setup-core && $step != sync || $rc == 0 ]] || break
    done
done

echo
echo "matrix:"
printf '  %s\n' "${results[@]}"
exit "$failed"
