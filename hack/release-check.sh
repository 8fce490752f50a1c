#!/usr/bin/env bash
# The checks a release needs, on this checkout and on the tarball `make build`
# wrote (build/dist/): licensing, contents, execution environment, Galaxy import.
#
#   1. reuse lint on the checkout: every file states its license (REUSE.toml)
#   2. hack/check-tarball.py: the tarball holds the collection and nothing else
#   3. reuse lint on the unpacked tarball: what ships is compliant too
#   4. ansible-builder introspect on the unpacked tarball, checked by
#      hack/check-ee.py: it reads every entry of bindep.txt, and the entries
#      name the right package for every tool on every claimed platform, and
#      the role image_host installs them there
#   5. galaxy-importer on the tarball (hack/galaxy-importer.cfg: ansible-doc, no
#      container; its ansible-lint is `make lint`'s subset): it must finish
#      with no ERROR or WARNING line
#   6. antsibull-docs lint-collection-docs on the unpacked tarball: the docsite
#      (docs/docsite: extra-docs.yml, links.yml, the guides in rst/ and their
#      references) and the plugin and role docs as the docsite renders them;
#      any message fails
#   7. hack/check-readme-matrix.py: the README's "Tested with Ansible" table
#      lists the rows of tests/matrix.txt (what `make test` runs)
#
# The tools live in .venv-release (hack/setup.sh release, pinned in
# tests/release-requirements.txt). When they cannot be installed the check is
# skipped with a warning, and fails under CI=true. Output: build/release-check/.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

RELEASE_VENV=${RELEASE_VENV:-$REPO_ROOT/.venv-release}
WORK=$REPO_ROOT/build/release-check
say() { echo "release-check: $*"; }

if ! RELEASE_VENV="$RELEASE_VENV" hack/setup.sh release; then
    if is_ci; then
        die "FAILED: could not install the release tooling into $RELEASE_VENV"
    fi
    echo "release-check: WARNING: could not install the release tooling into $RELEASE_VENV; skipped" >&2
    exit 0
fi
tools=$RELEASE_VENV/bin

version=$(sed -n 's/^version: *//p' galaxy.yml)
tarball=$REPO_ROOT/build/dist/virt-disk-$version.tar.gz
[[ -f "$tarball" ]] || die "no $tarball; run make build first"

rm -rf "$WORK"
mkdir -p "$WORK/tmp"
collection=$WORK/collections/ansible_collections/virt/disk
mkdir -p "$collection"
tar -xzf "$tarball" -C "$collection"

step() { echo; say "== $*"; }

step "1. reuse lint (checkout)"
"$tools/reuse" --root "$REPO_ROOT" lint --lines
say "reuse: $REPO_ROOT is compliant"

step "2. tarball contents"
python3 hack/check-tarball.py "$tarball"

step "3. reuse lint (unpacked tarball)"
"$tools/reuse" --root "$collection" lint --lines
say "reuse: the unpacked tarball is compliant"

step "4. ansible-builder introspect"
"$tools/ansible-builder" introspect "$WORK/collections" --sanitize --write-bindep "$WORK/introspected-bindep.txt"
"$tools/python" hack/check-ee.py "$collection" "$WORK/introspected-bindep.txt"

step "5. galaxy-importer"
# Run where its importer_result.json may land; its ansible-doc comes from
# .venv-release (PATH), its temporary files stay in
# build/. ANSIBLE_COLLECTIONS_PATH would show it the synced copy as well.
set +e
(
    cd "$WORK"
    env -u ANSIBLE_COLLECTIONS_PATH PATH="$tools:$PATH" \
        GALAXY_IMPORTER_CONFIG="$REPO_ROOT/hack/galaxy-importer.cfg" GALAXY_IMPORTER_TMP_ROOT_DIR="$WORK/tmp" \
        "$tools/python" -m galaxy_importer.main "$tarball"
) 2>&1 | tee "$WORK/galaxy-importer.log"
rc=${PIPESTATUS[0]}
set -e
bad=$(grep -E '^(ERROR|WARNING|CRITICAL):' "$WORK/galaxy-importer.log" || true)
if ((rc != 0)) || [[ -n "$bad" ]] || ! grep -q 'Importer processing completed successfully' "$WORK/galaxy-importer.log"; then
    die "FAILED: galaxy-importer exit status $rc, or it said:
$bad"
fi

step "6. antsibull-docs lint-collection-docs (unpacked tarball)"
# antsibull-docs lints a copy of the collection, and copies a collection that
# lies in a git work tree with `git ls-files`: here that is this checkout,
# where build/ is ignored, so it would copy no file and pass on nothing. Keep
# git from looking above the collection, and make sure it does not.
ceiling=$(dirname "$collection")
if GIT_CEILING_DIRECTORIES=$ceiling git -C "$collection" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    die "FAILED: $collection is inside a git work tree; antsibull-docs would lint nothing"
fi
env -u ANSIBLE_COLLECTIONS_PATH PATH="$tools:$PATH" GIT_CEILING_DIRECTORIES="$ceiling" \
    "$tools/antsibull-docs" lint-collection-docs --plugin-docs --check-extra-docs-refs "$collection" ||
    die "FAILED: antsibull-docs lint-collection-docs found the problems above in the docsite or the plugin docs"
say "antsibull-docs: the docsite and the plugin docs lint clean"

step "7. the README's tested versions"
python3 hack/check-readme-matrix.py "$REPO_ROOT"

echo
say "all passed: reuse (checkout and tarball), tarball contents, ansible-builder introspect, galaxy-importer, antsibull-docs, the README's matrix"
