#!/usr/bin/env bash
# ansible-test integration on this host (root, destructive targets allowed,
# controller Python) over the targets given, else those of this ansible-core's
# row in tests/matrix.txt (VIRT_DISK_CORE, hack/lib.sh), then the leak check.
# The leak check runs even when targets failed; both must pass. Under CI=true
# a run in which no target ran fails.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"
require_copy
cd "$COLLECTION_COPY"

[[ $(id -u) -eq 0 ]] || die "integration targets need root (loop devices, mounts)"

if ! "$REPO_ROOT/hack/check-leaks.sh" >/dev/null 2>&1; then
    "$REPO_ROOT/hack/check-leaks.sh" || true
    die "the host already has the leftovers above; clean them up first so the leak check after the run means something"
fi

"$REPO_ROOT/hack/seed-get-pip.sh" >/dev/null

# The targets: those given, else this ansible-core's row of tests/matrix.txt.
if (($# == 0)) && [[ "$CORE_TARGETS" == none ]]; then
    echo "integration (ansible-core $CORE_VERSION): no targets in its row of $MATRIX_FILE"
    exit 0
fi
if (($# == 0)) && [[ "$CORE_TARGETS" != all ]]; then
    IFS=, read -ra row_targets <<<"$CORE_TARGETS"
    set -- "${row_targets[@]}"
fi

# The managed-node Pythons of this row, for the target image_mount_python,
# passed as extra vars (ansible-test's integration_config.yml).
IFS=, read -ra managed <<<"$MANAGED_PYTHONS"
pythons_yaml=$("$REPO_ROOT/hack/pythons.sh" "${managed[@]}" | awk '{ printf "  \"%s\": %s\n", $1, $2 }') ||
    die "the managed-node Pythons $MANAGED_PYTHONS of ansible-core $CORE_VERSION are not all here"
# The Debian userland of the targets image_mount_os and connection_image
# (built once, cached in build/images; `make test` starts that build in the
# background earlier).
debian_rootfs="" debian_rootfs_arm64=""
if (($# == 0)) || [[ " $* " == *" image_mount_os "* || " $* " == *" connection_image "* ]]; then
    debian_rootfs=$("$REPO_ROOT/hack/debian-rootfs.sh") || die "cannot build the Debian userland for image_mount_os"
fi
if (($# == 0)) || [[ " $* " == *" connection_image "* ]]; then
    debian_rootfs_arm64=$("$REPO_ROOT/hack/debian-rootfs.sh" arm64) || die "cannot build the arm64 Debian userland for connection_image"
fi
printf '# written by hack/integration.sh\nvirt_disk_pythons:\n%s\nvirt_disk_debian_rootfs: "%s"\nvirt_disk_debian_rootfs_arm64: "%s"\n' \
    "$pythons_yaml" "$debian_rootfs" "$debian_rootfs_arm64" >tests/integration/integration_config.yml

log=integration$LOG_TAG
rc=0
run_logged "$log" ansible-test integration --venv --requirements --python "$CONTROLLER_PYTHON" \
    --allow-destructive --color no "$@" || rc=$?

ran=$(grep -cE '^Running .* integration test (role|script)' "$LOG_DIR/$log.log" || true)
echo "integration (ansible-core $CORE_VERSION): $ran targets run, exit status $rc (log: $LOG_DIR/$log.log)"
if ((ran == 0)); then
    if is_ci; then
        echo "integration: FAILED: no integration target ran" >&2
        ((rc)) || rc=1
    else
        echo "integration: WARNING: no integration target ran" >&2
    fi
fi

# Targets ansible-test left out (unsupported, disabled, unstable, needs/...).
excluded=$(grep -E '^WARNING: Excluding .*tests' "$LOG_DIR/$log.log" | sort -u || true)
if [[ -n "$excluded" ]]; then
    printf 'integration: %s\n' "$excluded"
    if is_ci; then
        echo "integration: FAILED: under CI every target must run" >&2
        ((rc)) || rc=1
    fi
fi

leak_rc=0
"$REPO_ROOT/hack/check-leaks.sh" || leak_rc=$?
((rc)) || rc=$leak_rc
exit "$rc"
