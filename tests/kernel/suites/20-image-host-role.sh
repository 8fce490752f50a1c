#!/usr/bin/env bash
# Suite: the role virt.disk.image_host where nbd and loop are loadable modules
# (on the host kernel loop is built in and nbd does not exist), and
# virt.disk.image_mount through ansible-playbook (bin/krole.py):
#
#   image_host/reload-when-free-not-when-in-use
#       image_host_reload_modules with other max_part values: nbd (free) is
#       reloaded, loop (a device attached by hand) is not (playbooks/image_host.yml)
#   image_host/role-loads-modules
#       nbd and loop unloaded, the role with its defaults loads them with their
#       parameters and persists them; a second run changes nothing
#   image_mount/ansible-playbook
#       the mount in the same playbook, checked against the kernel; the second
#       run changes nothing (changed=0); check mode; absent
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
