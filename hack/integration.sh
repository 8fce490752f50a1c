#!/usr/bin/env bash
# ansible-test integration on this host (root, destructive targets allowed,
# controller Python) over every target in tests/integration/targets of the
# synced copy, then the leak check. The leak check runs even when targets
# failed; both must pass. Under CI=true a run in which no target ran fails.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_copy
cd "$COLLECTION_COPY"

[[ $(id -u) -eq 0 ]] || die "integration targets need root (loop devices, mounts)"

if ! "$REPO_ROOT/hack/check-leaks.sh" >/dev/null 2>&1; then
    "$REPO_ROOT/hack/check-leaks.sh" || true
    die "the host already has the leftovers above; clean them up first so the leak check after the run means something"
fi

"$REPO_ROOT/hack/seed-get-pip.sh" >/dev/null

rc=0
run_logged integration ansible-test integration --venv --requirements --python "$CONTROLLER_PYTHON" \
    --allow-destructive --color no "$@" || rc=$?

ran=$(grep -cE '^Running .* integration test (role|script)' "$LOG_DIR/integration.log" || true)
echo "integration: $ran targets run, exit status $rc (log: $LOG_DIR/integration.log)"
if ((ran == 0)); then
    if is_ci; then
        echo "integration: FAILED: no integration target ran" >&2
        ((rc)) || rc=1
    else
        echo "integration: WARNING: no integration target ran" >&2
    fi
fi

# Targets ansible-test left out (unsupported, disabled, unstable, needs/...).
excluded=$(grep -E '^WARNING: Excluding .*tests' "$LOG_DIR/integration.log" | sort -u || true)
if [[ -n "$excluded" ]]; then
    printf 'integration: %s\n' "$excluded"
    if is_ci; then
        echo "integration: FAILED: under CI every target must run" >&2
        ((rc)) || rc=1
    fi
fi

leak_rc=0
"$REPO_ROOT/hack/check-leaks.sh" || leak_rc=$?
((rc)) || rc=$leak_rc
exit "$rc"
