#!/usr/bin/env bash
# Make pythonX.Y links in build/pythons for the given Python versions, to the
# highest patch release pyenv has (~/.pyenv/versions, or $PYENV_ROOT) or else
# a working pythonX.Y on the PATH (pyenv's shims answer for versions that are
# not active and then fail, so each candidate is run once). Prints
# "X.Y PATH" per version; fails naming the versions it cannot find.
#
#   hack/pythons.sh 3.8 3.13
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
mkdir -p "$PYTHONS_DIR"
missing=()

works() { "$1" -c 'import sys; sys.exit(0)' >/dev/null 2>&1; }

for version in "$@"; do
    found=""
    mapfile -t candidates < <(
        find "$pyenv_root/versions" -mindepth 3 -maxdepth 3 -path "*/$version.*/bin/python$version" 2>/dev/null |
            sort -V -r
        PATH=${PATH//$PYTHONS_DIR:/} type -ap "python$version" 2>/dev/null || true
    )
    for candidate in "${candidates[@]}"; do
        if works "$candidate"; then
            found=$candidate
            break
        fi
    done
    if [[ -z "$found" ]]; then
        missing+=("$version")
        continue
    fi
    ln -sfn "$found" "$PYTHONS_DIR/python$version"
    echo "$version $found"
done

if ((${#missing[@]})); then
    echo "pythons.sh: no Python ${missing[*]} (looked in $pyenv_root/versions and on the PATH)" >&2
    exit 1
fi
