#!/usr/bin/env bash
# Pre-seed ansible-test's get-pip cache with hack/get_pip.py (see there why).
# The cache file name carries the pip version ansible-test bootstraps
# (get_pip_24_2.py for ansible-core 2.19); read it from the installed
# ansible_test instead of hard-coding it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
req="$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')"
version="$(sed -n "s/^ *pip='\([0-9.]*\)',\$/\1/p" "$req" | head -n1)"
if [[ -z "$version" ]]; then
    echo "seed-get-pip: cannot find the bootstrap pip version in $req" >&2
    exit 1
fi

cache="${HOME}/.ansible/test/cache"
target="$cache/get_pip_${version//./_}.py"
mkdir -p "$cache"
if ! cmp -s hack/get_pip.py "$target"; then
    cp hack/get_pip.py "$target"
    echo "seed-get-pip: installed $target (pip $version)"
fi
