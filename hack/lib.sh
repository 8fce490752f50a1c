# shellcheck shell=bash
# Common settings for the tier scripts; sourced, not run.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_DIR=$REPO_ROOT/build/logs
MATRIX_FILE=$REPO_ROOT/tests/matrix.txt
PYTHONS_DIR=$REPO_ROOT/build/pythons
CI=${CI:-false}

# The rows of tests/matrix.txt: core controller modules integration.
matrix_rows() { grep -vE '^[[:space:]]*(#|$)' "$MATRIX_FILE"; }

# The ansible-core under test: VIRT_DISK_CORE=X.Y picks that row of
# tests/matrix.txt, unset the first. The first row runs in .venv ($VENV) on
# the copy in build/collections, the others in build/venv-core-X.Y on their
# own copy in build/collections-core-X.Y (so that they can run beside it).
# LOG_TAG keeps their logs apart.
first_row=$(matrix_rows | head -n1)
matrix_row=$first_row
if [[ -n "${VIRT_DISK_CORE:-}" ]]; then
    matrix_row=$(matrix_rows | awk -v c="$VIRT_DISK_CORE" 'index($1, c ".") == 1' | head -n1)
    [[ -n "$matrix_row" ]] || { echo "no ansible-core $VIRT_DISK_CORE in $MATRIX_FILE" >&2; exit 2; }
fi
read -r CORE_VERSION CONTROLLER_PYTHON MANAGED_PYTHONS CORE_TARGETS <<<"$matrix_row"
CORE_SERIES=${CORE_VERSION%.*}
if [[ "$matrix_row" == "$first_row" ]]; then
    VENV=${VENV:-$REPO_ROOT/.venv}
    LOG_TAG=""
else
    VENV=$REPO_ROOT/build/venv-core-$CORE_SERIES
    LOG_TAG=-core-$CORE_SERIES
fi
COLLECTIONS_DIR=$REPO_ROOT/build/collections$LOG_TAG
COLLECTION_COPY=$COLLECTIONS_DIR/ansible_collections/virt/disk
unset matrix_row first_row
export REPO_ROOT VENV COLLECTIONS_DIR COLLECTION_COPY LOG_DIR MATRIX_FILE PYTHONS_DIR CI
export CORE_VERSION CORE_SERIES CONTROLLER_PYTHON MANAGED_PYTHONS CORE_TARGETS LOG_TAG

# build/pythons holds pythonX.Y links to the pyenv Pythons (hack/pythons.sh),
# where ansible-test --python X.Y looks for them.
export PATH="$VENV/bin:$PYTHONS_DIR:$PATH:/usr/sbin:/sbin"
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS_DIR
# The synced copy lives inside this git work tree (under the ignored build/),
# and ansible-test would otherwise find the outer .git and see no files at
# all. Pin its content root to the copy so it walks the directory instead.
export ANSIBLE_TEST_CONTENT_ROOT=$COLLECTION_COPY
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}

is_ci() { [[ "$CI" == true || "$CI" == 1 ]]; }

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

require_copy() {
    [[ -d "$COLLECTION_COPY" ]] || die "no synced copy at $COLLECTION_COPY; run make sync"
    [[ -x "$VENV/bin/ansible-test" ]] || die "no ansible-test in $VENV; run make setup"
}

# Run a command with its output also going to build/logs/NAME.log.
run_logged() {
    local name=$1
    shift
    mkdir -p "$LOG_DIR"
    set +e
    "$@" 2>&1 | tee "$LOG_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}
