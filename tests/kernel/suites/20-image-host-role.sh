#!/usr/bin/env bash
# Suite: the role virt.disk.image_host where nbd and loop are loadable modules
# (on the host kernel loop is built in and nbd does not exist): reloading.
# That the role loads both modules with their parameters, writes the files and
# changes nothing on a second run is proven by the molecule suite (30), which
# unloads nbd and loop before its converge; the integration target image_host
# (facts, messages, built-in loop, missing nbd) runs on the host.
#
#   image_host/reload-when-free, no-reload-when-in-use
#       playbooks/image_host.yml: image_host_reload_modules with another
#       max_part, with no nbd device in use and with one connected; nbd is
#       loaded with max_part=16 again afterwards
set -uo pipefail
cd "$KT_REPO" || exit 1

# shellcheck source=tests/kernel/lib.sh
source tests/kernel/lib.sh
nbd_max_part=$(effective_max_part 16)

# ---------------------------------------------------------------- reload
ansible-playbook tests/kernel/playbooks/image_host.yml 2>&1 | stamp
rc=${PIPESTATUS[0]}

# leave nbd as guest.sh loaded it, and no files of the role behind
kreset >/dev/null
if [[ "$(param nbd max_part)" != "$nbd_max_part" || "$(param nbd nbds_max)" != 16 ]]; then
    echo "20-image-host-role: nbd runs with max_part=$(param nbd max_part); loading it again with max_part=16"
    khand nbd-reload 16 >/dev/null
fi
rm -f /etc/modprobe.d/virt-disk.conf /etc/modules-load.d/virt-disk.conf
exit "$rc"
