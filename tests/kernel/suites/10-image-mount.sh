#!/usr/bin/env bash
# Suite: virt.disk.image_mount on nbd, kpartx and the kernel's partition scan,
# adoption of what was made by hand, a busy nbd device and the state ladder
# (bin/kimage.py: the module process run directly, every result checked
# against the kernel; each case records itself). KT_CASES=REGEX picks cases.
# Output lines are stamped with the guest's clock, to see where time goes.
set -euo pipefail
cd "$KT_REPO"
# shellcheck source=tests/kernel/lib.sh
source tests/kernel/lib.sh
python3 "$KT_BIN/kimage.py" 2>&1 | stamp
exit "${PIPESTATUS[0]}"
