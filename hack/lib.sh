# shellcheck shell=bash
# Common settings for the tier scripts; sourced, not run.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO_ROOT/.venv}
COLLECTIONS_DIR=$REPO_ROOT/build/collections
COLLECTION_COPY=$COLLECTIONS_DIR/ansible_collections/virt/disk
LOG_DIR=$REPO_ROOT/build/logs
CONTROLLER_PYTHON=3.11
CI=${CI:-false}
export REPO_ROOT VENV COLLECTIONS_DIR COLLECTION_COPY LOG_DIR CONTROLLER_PYTHON CI

export PATH="$VENV/bin:$PATH:/usr/sbin:/sbin"
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
