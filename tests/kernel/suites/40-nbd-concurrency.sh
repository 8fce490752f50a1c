#!/usr/bin/env bash
# Suite: nbd under concurrency: runs started at once get distinct
# devices, and runs on one image serialise to one connection and one mount.
set -euo pipefail
cd "$KT_REPO"
python3 "$KT_BIN/kconcurrent.py"
