#!/usr/bin/env bash
# Suite: the role virt.disk.image_host where nbd and loop are loadable modules
# (on the host kernel loop is built in and nbd does not exist), and
# virt.disk.image_mount through ansible-playbook (bin/krole.py, two runs):
#
#   image_host/role-loads-modules
#       nbd and loop unloaded, the role with its defaults loads them with their
#       parameters and persists them; the second run changes nothing but the
#       reload it was asked for
#   image_host/reload-when-free-not-when-in-use
#       run 2 with image_host_reload_modules after nbd (free) and loop (a
#       device attached by hand) were made to run with other max_part values:
#       nbd is reloaded, loop is not and the role says why
#   image_mount/ansible-playbook
#       the mount in the same playbook, checked against the kernel; check mode;
#       absent; mounted again in run 2 over the reloaded nbd
#   image_host/lvm-isolation
#       the role's LVM block keeps a VG on a new loop device inactive
#
# Afterwards nbd and loop run as guest.sh loaded them and the role's files are
# gone. The integration target image_host (facts, messages, built-in loop,
# missing nbd, packages) runs on the host.
set -euo pipefail
cd "$KT_REPO"
# shellcheck source=tests/kernel/lib.sh
source tests/kernel/lib.sh
python3 "$KT_BIN/krole.py" 2>&1 | stamp
exit "${PIPESTATUS[0]}"
