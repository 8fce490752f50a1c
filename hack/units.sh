#!/usr/bin/env bash
# ansible-test units over tests/unit/ of the synced copy, controller Python.
# ansible-test turns pytest's "no tests collected" (exit 5) into success;
# under CI=true a run in which no unit test ran fails.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_copy
cd "$COLLECTION_COPY"

if [[ -z "$(find tests/unit -name 'test_*.py' 2>/dev/null | head -n1)" ]]; then
    if is_ci; then
        die "FAILED: no unit tests (tests/unit/**/test_*.py) to run"
    fi
    echo "units: WARNING: no unit tests (tests/unit/**/test_*.py) to run; skipped" >&2
    exit 0
fi

"$REPO_ROOT/hack/seed-get-pip.sh" >/dev/null

junit_dir=tests/output/junit
rm -f "$junit_dir"/python*-units.xml

rc=0
run_logged "units$LOG_TAG" ansible-test units --venv --requirements --python "$CONTROLLER_PYTHON" \
    --color no "$@" || rc=$?

mapfile -t reports < <(find "$junit_dir" -name 'python*-units.xml' 2>/dev/null | sort)
if ! python3 "$REPO_ROOT/hack/check-junit.py" units "${reports[@]}"; then
    if is_ci; then
        echo "units: FAILED: no unit test ran (tests/unit/ empty or everything skipped)" >&2
        ((rc)) || rc=1
    else
        echo "units: WARNING: no unit test ran" >&2
    fi
fi
exit "$rc"
