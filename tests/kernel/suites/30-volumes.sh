#!/usr/bin/env bash
# Suite: LVM and LUKS inside images (bin/kvolumes.py): a VG with the same name
# as an active "host" VG, LVM inside LUKS2 on nbd, a LUKS1 partition with a key
# file and a mapping made by hand, a busy logical volume. KT_CASES=REGEX picks cases.
set -euo pipefail
cd "$KT_REPO"
# shellcheck source=tests/kernel/lib.sh
source tests/kernel/lib.sh
python3 "$KT_BIN/kvolumes.py" 2>&1 | stamp
exit "${PIPESTATUS[0]}"
