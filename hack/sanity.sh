#!/usr/bin/env bash
# ansible-test sanity over the synced copy, every test, controller Python only,
# no ignore files. Under CI=true a test skipped for a missing requirement
# (program, Python, virtual environment) fails the run.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_copy
cd "$COLLECTION_COPY"

ignores=$(find tests/sanity -name 'ignore-*.txt' 2>/dev/null || true)
[[ -z "$ignores" ]] || die "sanity ignore files are not allowed, fix the code instead: $ignores"

"$REPO_ROOT/hack/seed-get-pip.sh" >/dev/null

rc=0
run_logged "sanity$LOG_TAG" ansible-test sanity --venv --requirements --python "$CONTROLLER_PYTHON" \
    --color no --junit "$@" || rc=$?

# Tests skipped for a reason (as opposed to "no files to test").
skips=$(grep -E 'WARNING: (Skipping sanity test|Required program .* not found)|All targets skipped' "$LOG_DIR/sanity$LOG_TAG.log" | sort -u || true)
if [[ -n "$skips" ]]; then
    echo "sanity: skipped for missing requirements:"
    printf '    %s\n' "$skips"
    if is_ci; then
        echo "sanity: FAILED: under CI every sanity test must run (make setup installs the tools)" >&2
        ((rc)) || rc=1
    fi
fi

ran=$(grep -c '^Running sanity test' "$LOG_DIR/sanity$LOG_TAG.log" || true)
echo "sanity (ansible-core $CORE_VERSION): $ran sanity tests run, exit status $rc (log: $LOG_DIR/sanity$LOG_TAG.log)"
exit "$rc"
