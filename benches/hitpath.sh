#!/usr/bin/env bash
# The cache-hit path on sockets (issue 20): what one lastgood costs per
# cached answer, at its maximum rate and at a moderate one.
#
#   benches/hitpath.sh                          # builds target/release/lastgood
#   LASTGOOD=/path/to/lastgood benches/hitpath.sh   # measure that binary
#
# 1. the lab (`lastgood lab --port LAB_PORT`, 127.53.0.1-4) and one
#    `lastgood serve` on RESOLVER:RESOLVER_PORT asking it;
# 2. WARM_NAMES names hN.wild.example.lab. A asked twice (resolved, then
#    answered from a template: every later query is a template hit);
# 3. `max`: dnsperf DNSPERF_ARGS (-c 4 -T 1 -q 100) for MAX_SECS: queries
#    per second; `rate`: the same at -Q RATE (20000) for RATE_SECS with -v:
#    p50/p99 over every query (a lost one ranks slowest), and the
#    resolver's CPU (utime + stime from /proc/PID/stat over the run) in
#    cores and in microseconds per answer (also user and system time
#    apart: rate_user_us, rate_sys_us); `perftrace` and `strace`: one
#    more `rate` run each (STRACE_SECS) with `perf trace -s` or
#    `strace -c -f` attached: system calls per answer (strace's ptrace slows
#    the resolver, so its batches grow and it counts fewer; perf trace
#    barely does);
# 4. RUNS times over (a fresh resolver each run), a table of every run
#    and the median.
#
# The machine is shared: the load average is printed before and after;
# compare only figures of one run of this script.
#
# Environment (defaults in brackets): LASTGOOD [build], RUNS [3],
# WARM_NAMES [1000], MAX_SECS [10], RATE [20000], RATE_SECS [10],
# STRACE_SECS [5], DNSPERF_ARGS ["-c 4 -T 1 -q 100"], LAB_PORT [54400],
# RESOLVER [127.0.0.1], RESOLVER_PORT [54401], CONTROL_PORT [54402],
# LAB_CONTROL_PORT [54403], PHASES ["max rate perftrace strace"], KEEP_WORK=1.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

RUNS=${RUNS:-3}
WARM_NAMES=${WARM_NAMES:-1000}
MAX_SECS=${MAX_SECS:-10}
RATE=${RATE:-20000}
RATE_SECS=${RATE_SECS:-10}
STRACE_SECS=${STRACE_SECS:-5}
read -r -a DNSPERF_ARGS <<<"${DNSPERF_ARGS:--c 4 -T 1 -q 100}"
read -r -a PHASES <<<"${PHASES:-max rate perftrace strace}"
LAB_PORT=${LAB_PORT:-54400}
RESOLVER=${RESOLVER:-127.0.0.1}
RESOLVER_PORT=${RESOLVER_PORT:-54401}
CONTROL_PORT=${CONTROL_PORT:-54402}
LAB_CONTROL_PORT=${LAB_CONTROL_PORT:-54403}
READY_TRIES=300
TCK=$(getconf CLK_TCK)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'hitpath: %s\n' "$*" >&2
    exit 1
}
for tool in dnsperf strace perf; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dnsperf strace linux-perf)"
done

WORK=""
LAB_PID=""
RES_PID=""
# stop_pid (benches/lib.sh): up to 10 s
STOP_WAIT_TENTHS=100
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$RES_PID"
    stop_pid "$LAB_PID"
    if [[ -n $WORK && -d $WORK && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; fi
    [[ ${KEEP_WORK:-0} == 1 && -n $WORK ]] && log "work dir kept: $WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${LASTGOOD:-} ]]; then
    LG=$LASTGOOD
else
    (cd "$REPO" && cargo build --release --quiet --bin lastgood) || die "cargo build failed"
    LG=$REPO/target/release/lastgood
fi
[[ -x $LG ]] || die "no binary at $LG"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-hitpath.XXXXXX")

"$LG" lab --keygen "$WORK/keys" >/dev/null || die "lastgood lab --keygen failed"
"$LG" lab --zones "$REPO/zones" --port "$LAB_PORT" --keys "$WORK/keys" --out "$WORK/lab" \
    --control "127.0.0.1:$LAB_CONTROL_PORT" >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for ((i = 0; i < READY_TRIES; i++)); do
    grep -q '^control: udp' "$WORK/lab.log" && break
    kill -0 "$LAB_PID" 2>/dev/null || die "the lab did not start: $(cat "$WORK/lab.log")"
    sleep 0.1
done

cat >"$WORK/lastgood.toml" <<EOF
control-listen = "127.0.0.1:$CONTROL_PORT"
control-socket = ""
EOF
awk -v n="$WARM_NAMES" 'BEGIN { for (i = 1; i <= n; i++) printf "h%d.wild.example.lab A\n", i }' \
    >"$WORK/names.txt"

start_resolver() {
    "$LG" serve -c "$WORK/lastgood.toml" --listen "$RESOLVER:$RESOLVER_PORT" \
        --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
        --upstream-port "$LAB_PORT" >"$WORK/lastgood.log" 2>&1 &
    RES_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        if "$LG" query -s "$RESOLVER:$RESOLVER_PORT" example.lab. SOA 2>/dev/null |
            grep -q '^;; status: NOERROR'; then
            return 0
        fi
        kill -0 "$RES_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$WORK/lastgood.log" >&2
    die "lastgood did not answer example.lab. SOA"
}

stat_of() { # FILE FIELD: a number from dnsperf's summary
    case $2 in
        qps) sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$1" ;;
        completed) sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1" ;;
        lost) sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1" ;;
        runtime) sed -n 's/^ *Run time (s): *\([0-9.]*\).*/\1/p' "$1" ;;
        noerror) sed -n 's/^ *Response codes:.*NOERROR \([0-9]*\).*/\1/p' "$1" ;;
    esac | head -n1
}
ticks() { awk '{ print $14, $15 }' "/proc/$RES_PID/stat"; } # utime stime
percentiles() { # FILE: "p50 p99" in ms, a lost query slower than any answer
    local lost
    lost=$(stat_of "$1" lost)
    awk '/^> / { print $NF }' "$1" | sort -g | awk -v lost="${lost:-0}" '
        { v[NR] = $1 }
        END {
            n = NR + lost
            if (n == 0) { print "n/a n/a"; exit }
            split("0.50 0.99", ps, " ")
            for (k = 1; k <= 2; k++) {
                i = int(ps[k] * n + 0.999999); if (i < 1) i = 1
                out = out (k > 1 ? " " : "") (i > NR ? "lost" : sprintf("%.3f", v[i] * 1000))
            }
            print out
        }'
}
perf_run() { # OUT ARGS...: dnsperf; prints "cores us_per_answer user_us sys_us"
    local out=$1 u0 s0 u1 s1
    shift
    read -r u0 s0 < <(ticks)
    dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/names.txt" "${DNSPERF_ARGS[@]}" "$@" \
        >"$out" 2>&1 || log "dnsperf exited non-zero, see $out"
    read -r u1 s1 < <(ticks)
    awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v tck="$TCK" -v secs="$(stat_of "$out" runtime)" \
        -v n="$(stat_of "$out" completed)" \
        'BEGIN { c = (u + s) / tck; k = (n > 0 ? 1e6 / tck / n : 0)
                 printf "%.3f %.2f %.2f %.2f\n", (secs > 0 ? c / secs : 0), c * tck * k, u * k, s * k }'
}

declare -A FIG
measure() { # RUN
    local r=$1 out=$WORK/run$1 cpu
    mkdir -p "$out"
    start_resolver
    dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/names.txt" -n 2 -c 1 -q 20 -t 10 \
        >"$out/warm.txt" 2>&1
    [[ $(stat_of "$out/warm.txt" noerror) == $((2 * WARM_NAMES)) ]] ||
        die "warming: $(stat_of "$out/warm.txt" noerror) NOERROR of $((2 * WARM_NAMES))"
    for phase in "${PHASES[@]}"; do
        case $phase in
            max)
                read -r FIG[$r.max_cores] FIG[$r.max_us] < <(perf_run "$out/max.txt" -l "$MAX_SECS")
                FIG[$r.max_qps]=$(stat_of "$out/max.txt" qps)
                ;;
            rate)
                read -r FIG[$r.rate_cores] FIG[$r.rate_us] FIG[$r.rate_user_us] FIG[$r.rate_sys_us] \
                    < <(perf_run "$out/rate.txt" -l "$RATE_SECS" -Q "$RATE" -v)
                read -r FIG[$r.p50] FIG[$r.p99] < <(percentiles "$out/rate.txt")
                FIG[$r.rate_qps]=$(stat_of "$out/rate.txt" qps)
                ;;
            strace | perftrace)
                # Syscalls per answer at RATE: strace -c (ptrace slows the
                # resolver, so its batches grow: fewer calls than unobserved)
                # or perf trace -s (in-kernel events, far lighter).
                local tracer n
                if [[ $phase == strace ]]; then
                    strace -c -f -q -o "$out/$phase.txt" -p "$RES_PID" &
                else
                    perf trace -s -p "$RES_PID" -o "$out/$phase.txt" &
                fi
                tracer=$!
                sleep 1
                perf_run "$out/$phase-dnsperf.txt" -l "$STRACE_SECS" -Q "$RATE" >/dev/null
                kill -INT "$tracer" 2>/dev/null
                wait "$tracer" 2>/dev/null
                n=$(stat_of "$out/$phase-dnsperf.txt" completed)
                if [[ $phase == strace ]]; then
                    FIG[$r.$phase]=$(awk -v n="$n" '$NF == "total" { printf "%.2f", $4 / n }' "$out/$phase.txt")
                    FIG[$r.$phase.detail]=$(awk -v n="$n" '
                        $1 ~ /^[0-9.]+$/ && $NF != "total" && $NF ~ /^[a-z_0-9]+$/ {
                            printf "%s %.2f, ", $NF, $4 / n }' "$out/$phase.txt")
                else
                    # perf trace -s: a table per thread; calls summed by syscall.
                    read -r FIG[$r.$phase] FIG[$r.$phase.detail] < <(awk -v n="$n" '
                        NF >= 8 && $1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ { c[$1] += $2; t += $2 }
                        END {
                            d = ""
                            for (k in c) d = d sprintf("%s:%.2f,", k, c[k] / n)
                            printf "%.2f %s\n", t / n, d
                        }' "$out/$phase.txt")
                fi
                ;;
        esac
    done
    stop_pid "$RES_PID"
    RES_PID=""
    log "run $r: max ${FIG[$r.max_qps]:-} qps; at $RATE: p50/p99 ${FIG[$r.p50]:-}/${FIG[$r.p99]:-} ms," \
        "${FIG[$r.rate_cores]:-} cores, ${FIG[$r.rate_us]:-} us CPU/answer;" \
        "syscalls/answer ${FIG[$r.perftrace]:-} (perf trace), ${FIG[$r.strace]:-} (strace)"
    cp -r "$out" "$RESULTS_KEEP" 2>/dev/null || true
}

RESULTS_KEEP=${RESULTS_DIR:-$REPO/target/hitpath/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_KEEP"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do measure "$r"; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

median() { # METRIC
    local r
    for ((r = 1; r <= RUNS; r++)); do echo "${FIG[$r.$1]:-}"; done | grep -v '^$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}
{
    echo "# hit path: $(date -u '+%Y-%m-%d %H:%M UTC'), $LG"
    echo
    echo "- tree: $(cd "$REPO" && git describe --always --dirty 2>/dev/null)"
    echo "- load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- dnsperf ${DNSPERF_ARGS[*]}, $WARM_NAMES warmed names; max ${MAX_SECS}s, rate $RATE for ${RATE_SECS}s"
    echo
    echo "| metric | $(for ((r = 1; r <= RUNS; r++)); do printf 'run %d | ' "$r"; done)median |"
    echo "|---|$(for ((r = 1; r <= RUNS; r++)); do printf -- '---|'; done)---|"
    for m in max_qps max_cores max_us rate_qps p50 p99 rate_cores rate_us rate_user_us rate_sys_us \
        perftrace strace; do
        printf '| %s |' "$m"
        for ((r = 1; r <= RUNS; r++)); do printf ' %s |' "${FIG[$r.$m]:--}"; done
        printf ' %s |\n' "$(median "$m")"
    done
    echo
    for ((r = 1; r <= RUNS; r++)); do
        echo "- run $r syscalls per answer, perf trace: ${FIG[$r.perftrace.detail]:--}"
        echo "- run $r syscalls per answer, strace: ${FIG[$r.strace.detail]:--}"
    done
} | tee "$RESULTS_KEEP/summary.md"
log "results in $RESULTS_KEEP"
