#!/usr/bin/env bash
# The miss tail (issue 20): latency of real misses at a fixed rate.
#
#   benches/misstail.sh                      # 25 s of unique names at 2,000 QPS
#   RUNS=3 SECS=20 benches/misstail.sh       # three runs, one resolver each
#   TARGET=lab benches/misstail.sh           # the same load straight at the lab
#                                            # (the authority's own tail)
#
# Starts the lab (`lastgood lab`, 127.53.0.1-4 on LAB_PORT) and a freshly
# started `lastgood serve` (release build, LG to use another binary) on
# 127.0.0.1:RESOLVER_PORT, warms the delegation and keys with one name,
# then asks QPS x SECS unique names `tN.wild.example.lab. A` once each
# (signed wildcard: each one a recursion to example.lab.'s server and a
# validation) with `dnsperf -c 4 -T 1 -q 100 -Q QPS -v`. Prints per run:
# p50 / p99 / p99.9 / max (ms), answers above 1 ms and 5 ms, and in which
# seconds of the run the answers above 5 ms fell (dnsperf -v prints no
# timestamps; at a fixed rate the N-th answer is at about N / QPS s).
#
# The lab, the resolver and dnsperf run at `nice -n NICE` (-10) on a
# machine shared with builds; the load average is printed with each run.
# Environment: QPS [2000], SECS [25], RUNS [1], NICE [-10], LAB_PORT
# [54300], RESOLVER_PORT [54301], CONTROL_PORT [54302], LAB_CONTROL_PORT
# [54303], CACHE_SIZE [67108864], TARGET [resolver|lab], LG
# [target/release/lastgood], OUT (keep the raw dnsperf output here),
# LAB_TTL (every lab TTL, seconds: answers go stale during the run),
# PERF_RECORD=1 (perf record -g the resolver during the run into OUT),
# PERF_SCHED=1 (perf sched record, system-wide, into OUT), PCAP=1 (tcpdump
# on lo: each miss split into resolver before / lab / resolver after the
# upstream exchange by benches/misstail/split.py).
set -uo pipefail

# With autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled = 1)
# nice only orders processes within one session: against other sessions'
# builds every session gets an equal share whatever its nice. So the run
# gets a session of its own (setsid) and that session's autogroup the
# priority NICE: the lab, the resolver and dnsperf are ahead of other
# sessions' work, as `nice` alone would do without autogroup.
if [[ -z ${MISSTAIL_SESSION:-} && $(ps -o sid= -p $$ | tr -d ' ') != "$$" ]]; then
    exec setsid -w env MISSTAIL_SESSION=1 "$0" "$@"
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

QPS=${QPS:-2000}
SECS=${SECS:-25}
RUNS=${RUNS:-1}
NICE=${NICE:--10}
LAB_PORT=${LAB_PORT:-54300}
RESOLVER_PORT=${RESOLVER_PORT:-54301}
CONTROL_PORT=${CONTROL_PORT:-54302}
LAB_CONTROL_PORT=${LAB_CONTROL_PORT:-54303}
CACHE_SIZE=${CACHE_SIZE:-67108864}
TARGET=${TARGET:-resolver}
LG=${LG:-$REPO/target/release/lastgood}
LEAF_IP=127.53.0.3 # example.lab.
READY_TRIES=100    # x 0.1 s

# RT=1: run the lab, the resolver and dnsperf SCHED_FIFO (chrt -f RT_PRIO)
# instead: on a machine busy with other sessions' builds, only a real-time
# class keeps their run-queue delays (up to 20 ms seen) out of the figures.
PRIO=(nice -n "${NICE:--10}")
[[ ${RT:-0} == 1 ]] && PRIO=(chrt -f "${RT_PRIO:-10}")
[[ -w /proc/self/autogroup ]] && echo "${NICE:--10}" >/proc/self/autogroup 2>/dev/null
die() {
    printf 'misstail: %s\n' "$*" >&2
    exit 1
}
[[ -x $LG ]] || die "no binary at $LG (cargo build --release, or LG=...)"
command -v dnsperf >/dev/null || die "dnsperf missing (apt-get install dnsperf)"

WORK=$(mktemp -d)
[[ -n ${OUT:-} ]] && mkdir -p "$OUT"
LAB_PID=""
RES_PID=""
PERF_PID=""
# stop_pid (benches/lib.sh)
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"
cleanup() {
    stop_pid "$PERF_PID"
    stop_pid "$RES_PID"
    stop_pid "$LAB_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

"$LG" lab --keygen "$WORK/keys" >/dev/null || die "lab --keygen failed"
"${PRIO[@]}" "$LG" lab --zones "$REPO/zones" --port "$LAB_PORT" --keys "$WORK/keys" \
    --out "$WORK/lab" --control "127.0.0.1:$LAB_CONTROL_PORT" ${LAB_TTL:+--ttl "$LAB_TTL"} \
    >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for ((i = 0; i < READY_TRIES; i++)); do
    grep -qs '^control: udp' "$WORK/lab.log" && break
    kill -0 "$LAB_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q '^control: udp' "$WORK/lab.log" || die "the lab did not start: $(cat "$WORK/lab.log")"

printf 'control-listen = "127.0.0.1:%s"\ncache-size = %s\n' "$CONTROL_PORT" "$CACHE_SIZE" \
    >"$WORK/lastgood.toml"

start_resolver() {
    stop_pid "$RES_PID"
    "${PRIO[@]}" "$LG" serve -c "$WORK/lastgood.toml" --listen "127.0.0.1:$RESOLVER_PORT" \
        --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
        --upstream-port "$LAB_PORT" >"$WORK/lastgood.log" 2>&1 &
    RES_PID=$!
    [[ -n ${OUT:-} ]] && echo "$RES_PID" >"$OUT/resolver.pid"
    for ((i = 0; i < READY_TRIES; i++)); do
        if "$LG" query -s "127.0.0.1:$RESOLVER_PORT" w0.wild.example.lab. A 2>/dev/null |
            grep -q '^;; status: NOERROR'; then
            return 0
        fi
        kill -0 "$RES_PID" 2>/dev/null || break
        sleep 0.1
    done
    die "the resolver did not answer: $(tail -5 "$WORK/lastgood.log")"
}

# report FILE RUN LOAD: the distribution of one dnsperf -v output.
report() {
    local lost
    lost=$(awk '/Queries lost:/ { print $3 }' "$1")
    awk '/^> / { printf "%.3f\n", $NF * 1000 }' "$1" | sort -g | awk -v lost="${lost:-0}" \
        -v run="$2" -v load="$3" '
        { n++; v[n] = $1; if ($1 > 1) over1++; if ($1 > 5) over5++ }
        END {
            if (n == 0) { print "run " run ": no answers"; exit }
            split("0.50 0.99 0.999", ps, " ")
            for (k = 1; k <= 3; k++) {
                r = int(ps[k] * (n + lost) + 0.999999); if (r < 1) r = 1
                p[k] = (r > n) ? "lost" : v[r]
            }
            printf "run %s: answers %d lost %d | p50 %s p99 %s p99.9 %s max %s ms | >1ms %d >5ms %d | load %s\n",
                run, n, lost, p[1], p[2], p[3], v[n], over1 + 0, over5 + 0, load
        }'
    # At a fixed rate the N-th answer comes about N / QPS s into the run.
    awk -v qps="$QPS" '/^> / { n++; if ($NF > 0.005) c[int(n / qps)]++ }
        END { s = ""; for (t = 0; t <= n / qps; t++) if (c[t]) s = s sprintf(" %d:%d", t, c[t])
              print "  answers >5ms per second of the run (second:count):" s }' "$1"
}

if [[ $TARGET == lab ]]; then
    SERVER=$LEAF_IP
    PORT=$LAB_PORT
else
    SERVER=127.0.0.1
    PORT=$RESOLVER_PORT
fi

for ((run = 1; run <= RUNS; run++)); do
    [[ $TARGET == lab ]] || start_resolver
    awk -v n=$((QPS * SECS)) -v r="$run" \
        'BEGIN { for (i = 1; i <= n; i++) printf "t%d-%d.wild.example.lab A\n", r, i }' \
        >"$WORK/names"
    if [[ ${PERF_RECORD:-0} == 1 && $TARGET != lab ]]; then
        perf record -e cpu-clock --call-graph "${CALL_GRAPH:-fp}" -F 999 -p "$RES_PID" -o "${OUT:-$WORK}/perf-$run.data" \
            >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.5
    elif [[ ${PCAP:-0} == 1 ]]; then
        tcpdump -i lo -B 65536 -s 128 -w "$WORK/miss-$run.pcap" \
            "udp and (port $RESOLVER_PORT or port $LAB_PORT)" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 1
    elif [[ ${PERF_SCHED:-0} == 1 ]]; then
        perf sched record -a -o "${OUT:-$WORK}/sched-$run.data" >/dev/null 2>&1 &
        PERF_PID=$!
        sleep 0.5
    fi
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    "${PRIO[@]}" dnsperf -s "$SERVER" -p "$PORT" -d "$WORK/names" -n 1 -c 4 -T 1 -q 100 \
        -Q "$QPS" -l "$SECS" -v >"$WORK/dnsperf-$run.txt" 2>&1
    stop_pid "$PERF_PID"
    PERF_PID=""
    [[ -n ${OUT:-} && $TARGET != lab ]] &&
        curl -s "http://127.0.0.1:$CONTROL_PORT/metrics" >"$OUT/metrics-$run.txt"
    report "$WORK/dnsperf-$run.txt" "$run" "$load"
    [[ -f $WORK/miss-$run.pcap ]] &&
        python3 "$HERE/misstail/split.py" "$WORK/miss-$run.pcap" "$RESOLVER_PORT" "$LAB_PORT"
    [[ -n ${OUT:-} ]] && mkdir -p "$OUT" && cp "$WORK/dnsperf-$run.txt" "$OUT/" &&
        cp "$WORK/lastgood.log" "$OUT/lastgood-$run.log" 2>/dev/null
done
exit 0
