# shellcheck shell=bash
# Helpers shared by guest.sh and the suites (sourced: source "$KT_REPO/tests/kernel/lib.sh").

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# every line stamped with the guest's clock, to see where the time goes
stamp() { while IFS= read -r line; do printf '%(%T)T %s\n' -1 "$line"; done; }
# a running module parameter, or "none"
param() { cat "/sys/module/$1/parameters/$2" 2>/dev/null || echo none; }
# built into the kernel: /sys/module/NAME without initstate
builtin_module() { [[ -d "/sys/module/$1" && ! -e "/sys/module/$1/initstate" ]]; }
# what the kernel makes of max_part=N in nbd and loop: 2^fls(N) - 1
effective_max_part() {
    local n=$1 shift=0
    while ((n)); do ((shift += 1, n >>= 1)); done
    echo $(((1 << shift) - 1))
}
