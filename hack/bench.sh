#!/usr/bin/env bash
# The benchmark (`make bench`): image_mount against hand-written commands, the
# no-op re-run against stat, qcow2 start-up against the bare qemu commands, and
# 32 images in parallel, the whole OS tree of a Debian image against hand
# mounts and, where libguestfs is installed, `guestmount -i`, and a 10-task
# customization through the virt.disk.image connection against image_mount and
# chroot commands by hand (1 and 8 images), the data path inside mounted images
# against the host filesystem (e), and the module on a host with 200 unrelated
# loop devices and 2000 unrelated mounts against a quiet one (f). Root only;
# about 12 minutes (plus about 3 with guestmount); not part of `make test`.
# bench/ranges.py makes the table of the goals over the last runs
# (build/bench/runs/).
#
# guestmount needs a kernel for its appliance: where the host's kernel has no
# /boot/vmlinuz-* and /lib/modules/* (containers, these VMs), point supermin at
# the kernel tier's (SUPERMIN_KERNEL, SUPERMIN_MODULES; supermin wants the
# modules under /lib/modules, a bind mount works, a symlink does not), and where
# /dev/kvm is there but unusable (nested), LIBGUESTFS_BACKEND_SETTINGS=force_tcg.
#
#   hack/bench.sh [bench/bench.py options]     e.g. --rounds 5 --only abc
#
# Results: build/bench/result.json, build/bench/table.md (the README table),
# build/bench/chart.png; playbook logs in build/bench/logs/.
#
# The collection is copied (as hack/sync.sh does) to its own place,
# build/bench/collections, so a bench run never changes the copy that a test
# tier running at the same time is using.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH:/usr/sbin:/sbin"

[[ $(id -u) -eq 0 ]] || { echo "bench: needs root (loop devices, mounts)" >&2; exit 1; }
[[ -x "$VENV/bin/ansible-playbook" ]] || { echo "bench: no ansible in $VENV; run make setup" >&2; exit 1; }
for tool in losetup partx mount qemu-img qemu-storage-daemon sfdisk mke2fs rsync; do
    command -v "$tool" >/dev/null || { echo "bench: $tool not found (make setup installs it)" >&2; exit 1; }
done

# matplotlib for the chart, pinned; pip is only asked when a pin is not met
if ! "$VENV/bin/python" - bench/requirements.txt <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        if version(name) != want:
            sys.exit(1)
PY
    echo "bench: installing bench/requirements.txt into $VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
fi

dest=build/bench/collections/ansible_collections/virt/disk
mkdir -p "$dest"
rsync -a --delete --exclude=/.git --exclude=/.venv --exclude=/build --exclude=/tests/output \
    --filter=':- .gitignore' ./ "$dest/"

exec "$VENV/bin/python" bench/bench.py --collections "$PWD/build/bench/collections" "$@"
