#!/usr/bin/env bash
# Suite: virt.disk.image_mount on nbd, kpartx and the kernel's partition scan.
# One ansible-playbook run (its start-up alone takes ~15 s under emulation);
# every case in it records itself with krecord. KT_CASES=REGEX picks cases.
# Output lines are stamped with the guest's clock, to see where time goes.
set -euo pipefail
cd "$KT_REPO"
# shellcheck source=tests/kernel/lib.sh
source tests/kernel/lib.sh
ansible-playbook tests/kernel/playbooks/image_mount.yml 2>&1 | stamp
exit "${PIPESTATUS[0]}"
