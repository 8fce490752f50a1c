#!/usr/bin/env bash
# Run make targets in order, stop at the first failure, and print a summary
# with the time each took.
#
#   hack/run-tiers.sh TARGET...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

make_cmd=${MAKE:-make}
names=()
results=()
times=()
failed=""

summary() {
    local i
    echo
    echo "==================== summary (CI=${CI:-false}) ===================="
    for i in "${!names[@]}"; do
        printf '  %-12s %-10s %6s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
    done
    if [[ -n "$failed" ]]; then
        echo "  FAILED at '$failed' (output above; logs in build/logs/)"
    else
        echo "  all passed"
    fi
    echo "=================================================================="
}

for target in "$@"; do
    echo
    echo "==================== $target ===================="
    start=$SECONDS
    "$make_cmd" --no-print-directory "$target"
    rc=$?
    names+=("$target")
    times+=("$((SECONDS - start))s")
    if ((rc == 0)); then
        results+=(ok)
    else
        results+=("FAILED($rc)")
        failed=$target
        break
    fi
done

# Report what was not reached.
for target in "$@"; do
    case " ${names[*]} " in *" $target "*) ;; *) names+=("$target"); results+=("not run"); times+=(-) ;; esac
done

summary
[[ -z "$failed" ]]
