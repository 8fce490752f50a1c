#!/usr/bin/env bash
# Prepare one row of tests/matrix.txt: its controller and managed-node
# Pythons (build/pythons, hack/pythons.sh) and, for a row other than the
# first, its venv build/venv-core-X.Y with the pinned ansible-core on the
# controller Python. Idempotent.
#
#   VIRT_DISK_CORE=2.21 hack/setup-core.sh
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

say() { echo "setup-core ($CORE_VERSION): $*"; }

IFS=, read -ra managed <<<"$MANAGED_PYTHONS"
hack/pythons.sh "$CONTROLLER_PYTHON" "${managed[@]}" >/dev/null

if [[ -z "$LOG_TAG" ]]; then
    installed=$("$VENV/bin/python" -c 'import ansible; print(ansible.__version__)' 2>/dev/null || true)
    [[ "$installed" == "$CORE_VERSION" ]] ||
        die "$VENV has ansible-core ${installed:-none}, $MATRIX_FILE's first row says $CORE_VERSION (make setup installs tests/requirements.txt)"
    say "$VENV (make setup)"
    exit 0
fi

python="$PYTHONS_DIR/python$CONTROLLER_PYTHON"
want="$CONTROLLER_PYTHON ansible-core==$CORE_VERSION"
stamp="$VENV/.virt-disk-core"
if [[ "$(cat "$stamp" 2>/dev/null)" == "$want" ]] && "$VENV/bin/ansible-test" --version >/dev/null 2>&1; then
    say "$VENV is up to date"
else
    say "creating $VENV with Python $CONTROLLER_PYTHON and ansible-core==$CORE_VERSION"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "ansible-core==$CORE_VERSION" </dev/null
    echo "$want" >"$stamp"
fi
VENV="$VENV" hack/seed-get-pip.sh
