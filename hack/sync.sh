#!/usr/bin/env bash
# Copy the working tree to build/collections/ansible_collections/virt/disk/
# (with VIRT_DISK_CORE=X.Y: build/collections-core-X.Y/..., hack/lib.sh).
#
# ansible-test wants the collection in a real directory at
# .../ansible_collections/<namespace>/<name>/ (a symlink is not accepted), and
# ansible-playbook finds it there through ANSIBLE_COLLECTIONS_PATH=build/collections.
# The copy has no .git, so ansible-test walks the directory: everything that
# would be ignored by git (.gitignore), .git, .venv and build/ stays out.
# Uncommitted work is copied too, so the tiers test what is on disk.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

dest=$COLLECTION_COPY
mkdir -p "$dest"

# Excluded paths are also protected from --delete on the receiving side, so
# ansible-test's tests/output/ in the copy survives between syncs.
rsync -a --delete \
    --exclude=/.git \
    --exclude=/.venv \
    --exclude=/.venv-release \
    --exclude=/build \
    --exclude=/tests/output \
    --filter=':- .gitignore' \
    ./ "$dest/"

echo "sync: $dest"
