#!/usr/bin/env bash
# Run make targets in order, stop at the first failure, and print a summary
# with the time each took.
#
#   hack/run-tiers.sh TARGET... [+TARGET]...
#
# A target written +TARGET starts in the background when its turn comes, with
# its output in build/logs/TARGET.log, and the next targets run meanwhile. It
# is waited for after the last foreground target, its log is printed then, and
# it counts like any other tier. `make test` runs the kernel tier this way: it
# is a QEMU that needs nothing of the host tiers and shares no device with
# them (its loop, nbd and dm devices live in the guest's kernel), so the
# host tiers run while it boots and tests. A foreground failure stops it.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

make_cmd=${MAKE:-make}
log_dir=build/logs
names=()
results=()
times=()
failed=""
fg_failed=""
bg_names=()
bg_pids=()
bg_starts=()

summary() {
    local i
    echo
    echo "==================== summary (CI=${CI:-false}) ===================="
    for i in "${!names[@]}"; do
        printf '  %-14s %-10s %6s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    done
    if [[ -n "$failed" ]]; then
        echo "  FAILED at '$failed' (output above; logs in $log_dir/)"
    else
        echo "  all passed"
    fi
    echo "=================================================================="
}

record() {  # name rc seconds
    names+=("$1")
    times+=("${3}s")
    if (($2 == 0)); then
        results+=(ok)
    else
        results+=("FAILED($2)")
        [[ -n "$failed" ]] || failed=$1
    fi
}

# Stop background tiers: TERM to each one's whole session, which setsid made
# (the tier's pid, or its child where setsid had to fork), so process groups
# made inside it (timeout makes its own for vng and qemu) are reached too.
stop_background() {
    local pid sid
    for pid in "${bg_pids[@]}"; do
        for sid in "$pid" $(pgrep -P "$pid" 2>/dev/null); do
            pkill -TERM -s "$sid" 2>/dev/null || true
        done
    done
}
trap 'stop_background; exit 130' INT TERM

for target in "$@"; do
    if [[ "$target" == +* ]]; then
        target=${target#+}
        mkdir -p "$log_dir"
        echo
        echo "==================== $target (background, $log_dir/$target.log) ===================="
        # setsid: its own process group, so a failure elsewhere can stop all of it
        setsid -w "$make_cmd" --no-print-directory "$target" >"$log_dir/$target.log" 2>&1 </dev/null &
        bg_names+=("$target")
        bg_pids+=("$!")
        bg_starts+=("$SECONDS")
        continue
    fi
    echo
    echo "==================== $target ===================="
    start=$SECONDS
    "$make_cmd" --no-print-directory "$target"
    record "$target" "$?" "$((SECONDS - start))"
    fg_failed=$failed
    [[ -z "$failed" ]] || break
done

if [[ -n "$fg_failed" ]]; then
    for i in "${!bg_names[@]}"; do
        echo "run-tiers: stopping the background tier ${bg_names[$i]} ('$failed' failed)"
    done
    stop_background
fi
for i in "${!bg_names[@]}"; do
    if [[ -z "$fg_failed" ]]; then
        echo
        echo "==================== ${bg_names[$i]} (background, waiting) ===================="
    fi
    wait "${bg_pids[$i]}"
    rc=$?
    if [[ -n "$fg_failed" ]]; then
        names+=("${bg_names[$i]}")
        results+=("stopped")
        times+=("$((SECONDS - bg_starts[i]))s")
        continue
    fi
    cat "$log_dir/${bg_names[$i]}.log"
    record "${bg_names[$i]}" "$rc" "$((SECONDS - bg_starts[i]))"
done

# Report what was not reached.
for target in "$@"; do
    target=${target#+}
    case " ${names[*]} " in *" $target "*) ;; *) names+=("$target"); results+=("not run"); times+=(-) ;; esac
done

summary
[[ -z "$failed" ]]
