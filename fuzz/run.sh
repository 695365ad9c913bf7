#!/usr/bin/env bash
# Build every fuzz target and run each for SECONDS (default 600), one after
# another, then print per target the executions and crashes from libFuzzer's
# final stats. Exits non-zero if any target crashed (or timed out, or ran out
# of memory: libFuzzer writes an artifact for each).
#
#   fuzz/run.sh [SECONDS]        # all targets
#   TARGETS="validator" fuzz/run.sh 60
#
# Needs cargo-fuzz (installed if missing) and nightly flags, which the stable
# toolchain accepts with RUSTC_BOOTSTRAP=1. Logs: fuzz/artifacts/<target>.log;
# corpora: fuzz/corpus/<target> (seeded by seeds.py when empty); crashing
# inputs: fuzz/artifacts/<target>/. All three are git-ignored.
set -euo pipefail

secs="${1:-600}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
# No sanitizer (the code forbids `unsafe`), release with debug assertions
# and overflow checks: arithmetic overflow is a crash.
flags=(--sanitizer none --release --debug-assertions)

if ! command -v cargo-fuzz >/dev/null 2>&1 && ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz
fi

targets=(${TARGETS:-client_query upstream_response validator config zone_file store_entry})
if command -v python3 >/dev/null 2>&1; then
    for t in "${targets[@]}"; do
        if [ -z "$(ls -A "corpus/$t" 2>/dev/null)" ]; then
            python3 seeds.py
            break
        fi
    done
fi

cargo fuzz build "${flags[@]}"

max_len_of() {
    case "$1" in
        client_query | upstream_response | validator) echo 4096 ;; # a DNS message + a byte
        *) echo 65536 ;;                                           # text files
    esac
}

failed=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t.log"
    echo "== $t: ${secs}s" >&2
    start=$(date +%s)
    rc=0
    nice -n 10 cargo fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -max_len="$(max_len_of "$t")" \
        -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n1)
    rate=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log" | tail -n1)
    crashes=$(grep -c 'Test unit written to' "$log" || true)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1 # died without an artifact (e.g. killed): count it
    fi
    # Units in libFuzzer's last status line (the files on disk also keep
    # inputs that later ones replaced).
    corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
    files=$(find "corpus/$t" -type f | wc -l)
    line=$(printf '%-18s %6ss  execs %-10s exec/s %-7s corpus %-6s (%s files)  crashes %s' \
        "$t" "$took" "${execs:-?}" "${rate:-?}" "${corpus:-?}" "$files" "$crashes")
    echo "$line" >&2
    summary+=("$line")
    if [ "$crashes" -ne 0 ]; then
        failed=1
        grep -A3 -m1 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" >&2 || true
    fi
done

printf '%s\n' "${summary[@]}"
exit "$failed"
