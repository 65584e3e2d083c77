#!/usr/bin/env bash
# run.sh: build the fuzz drivers and run each of them.
#   fuzz/run.sh [SECONDS]   fuzz every driver for SECONDS (default 30), one after the other,
#                           starting from its seeds, its regressions and what earlier runs found
#   fuzz/run.sh --regress   run every driver once over fuzz/corpus/<driver>/ and
#                           fuzz/regressions/<driver>/ only (a few seconds; for the test command)
# Prints one line per driver ("driver_http: 123456 execs, 0 crashes") and exits non-zero when any
# driver crashed. Work files live in build-fuzz/ (WXS_FUZZ_BUILD): new inputs in
# build-fuzz/corpus/<driver>/, crashing inputs in build-fuzz/crashes/<driver>/.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${WXS_FUZZ_BUILD:-build-fuzz}
export WXS_FUZZ_BUILD=$out

mode=fuzz
seconds=30
case "${1:-}" in
    --regress) mode=regress ;;
    "") ;;
    *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS | --regress]" >&2; exit 2 ;;
    *) seconds=$1 ;;
esac

# the longest input worth trying, per driver (the limits each parser enforces, and speed)
max_len() {
    case "$1" in
        driver_http) echo 8192 ;;      # small-limits server: 256-byte headers, 512-byte bodies
        driver_config) echo 8192 ;;    # past the 4096-byte string limit
        *) echo 4096 ;;
    esac
}

fuzz/build.sh >/dev/null || { echo "fuzz/run.sh: build failed" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for src in fuzz/driver_*.c; do
    d=$(basename "${src%.c}")
    log="$out/logs/$d.log"
    mkdir -p "$out/logs" "$out/corpus/$d" "$out/crashes/$d" "fuzz/regressions/$d"
    if [ "$mode" = regress ]; then
        mapfile -t inputs < <(find "fuzz/corpus/$d" "fuzz/regressions/$d" -type f | sort)
        "$out/$d" -timeout=10 "${inputs[@]}" >"$log" 2>&1
        rc=$?
        ran=$(grep -c '^Executed ' "$log")
        crashes=$((rc != 0))
        echo "$d: $ran inputs, $crashes crashes"
    else
        before=$(find "$out/crashes/$d" -type f | wc -l)
        "$out/$d" -max_total_time="$seconds" -max_len="$(max_len "$d")" -timeout=10 \
            -dict="fuzz/dict/$d.dict" -artifact_prefix="$out/crashes/$d/" -print_final_stats=1 \
            "$out/corpus/$d" "fuzz/corpus/$d" "fuzz/regressions/$d" >"$log" 2>&1
        rc=$?
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        crashes=$(($(find "$out/crashes/$d" -type f | wc -l) - before))
        [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
        echo "$d: ${execs:-0} execs, $crashes crashes"
    fi
    if [ "$rc" -ne 0 ]; then
        status=1
        echo "  see $log" >&2
        grep -m3 -E 'invariant failed|runtime error|ERROR: ' "$log" | sed 's/^/  /' >&2
    fi
done
exit $status
