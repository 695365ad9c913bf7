#!/usr/bin/env bash
# The last-good store (issue 18) under a unique-name flood and at start:
#
#   benches/store.sh                  # fills TARGET_MIB (1024) of store
#   TARGET_MIB=200 benches/store.sh   # quicker: fill less, extrapolate
#
# 1. lab (short TTL, own keys, port LAB_PORT) + lastgood (release) with a
#    state-dir: unique names fN.wild.example.lab. (each a signed wildcard
#    answer with its NSEC proof) at FILL_QPS until the store holds
#    TARGET_MIB of live entries (or FILL_CAP_SECS pass): store write rate,
#    entries, live bytes, file size, entries not written;
# 2. stop lastgood, stop the lab (a total outage), start lastgood again on
#    the same state-dir: start-up time (exec to the first answer), the
#    first answer is a stale one from the store (EDE 3), VmRSS after it;
#    then SAMPLE stored names asked once each: how many are answered
#    NOERROR (stale), VmRSS and VmHWM after;
# 3. the alternative to proving entries lazily on first use: one pass
#    proving every entry at start (examples/store_scan.rs), its time and
#    peak RSS.
#
# Needs dnsperf (apt-get install -y dnsperf). Ports: LAB_PORT [53820] on
# 127.53.0.1-4, RESOLVER_PORT [53821], CONTROL_PORT [53822],
# LAB_CONTROL_PORT [53823]. Prints a markdown table; KEEP_WORK=1 keeps
# the work directory.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TARGET_MIB=${TARGET_MIB:-1024}
FILL_QPS=${FILL_QPS:-6000}
FILL_CAP_SECS=${FILL_CAP_SECS:-900}
SAMPLE=${SAMPLE:-2000}
LAB_PORT=${LAB_PORT:-53820}
RESOLVER_PORT=${RESOLVER_PORT:-53821}
CONTROL_PORT=${CONTROL_PORT:-53822}
LAB_CONTROL_PORT=${LAB_CONTROL_PORT:-53823}
NAMES=${NAMES:-2000000}
RESOLVER=127.0.0.1

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'store: %s\n' "$*" >&2
    exit 1
}
command -v dnsperf >/dev/null || die "dnsperf is missing (apt-get install -y dnsperf)"

WORK=$(mktemp -d)
LAB_PID=""
RES_PID=""
PERF_PID=""
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
}
cleanup() {
    stop_pid "$PERF_PID"
    stop_pid "$RES_PID"
    stop_pid "$LAB_PID"
    if [[ ${KEEP_WORK:-0} == 1 ]]; then
        echo "work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

log "building (release)"
(cd "$REPO" && cargo build --release --bin lastgood --example store_scan) >&2 || die "build failed"
LG=$REPO/target/release/lastgood
SCAN=$REPO/target/release/examples/store_scan

"$LG" lab --keygen "$WORK/keys" >/dev/null 2>&1 || die "lab --keygen failed"
"$LG" lab --zones "$REPO/zones" --port "$LAB_PORT" --keys "$WORK/keys" --out "$WORK/lab" \
    --control "127.0.0.1:$LAB_CONTROL_PORT" --ttl 5 >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for ((i = 0; i < 100; i++)); do
    grep -q '^control: udp' "$WORK/lab.log" && break
    sleep 0.1
done
grep -q '^control: udp' "$WORK/lab.log" || die "the lab did not start: $(tail -5 "$WORK/lab.log")"

mkdir -p "$WORK/state"
cat >"$WORK/lastgood.toml" <<EOF
control-listen = "127.0.0.1:$CONTROL_PORT"
control-socket = "$WORK/control.sock"
state-dir = "$WORK/state"
store-size = 4294967296
cache-size = 67108864
EOF

start_resolver() {
    "$LG" serve -c "$WORK/lastgood.toml" --listen "$RESOLVER:$RESOLVER_PORT" \
        --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
        --upstream-port "$LAB_PORT" >>"$WORK/lastgood.log" 2>&1 &
    RES_PID=$!
}
metric() { # NAME: integer sample from /metrics (sum over labels)
    curl -sf "http://127.0.0.1:$CONTROL_PORT/metrics" |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d", s }'
}
rss() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$RES_PID/status"; }
hwm() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$RES_PID/status"; }
answers() { # NAME: the status line of one query, or nothing
    "$LG" query -s "$RESOLVER:$RESOLVER_PORT" "$1" A 2>/dev/null
}

awk -v n="$NAMES" 'BEGIN { for (i = 1; i <= n; i++) printf "f%d.wild.example.lab. A\n", i }' >"$WORK/names.txt"
head -n "$SAMPLE" "$WORK/names.txt" >"$WORK/sample.txt"

# --- 1. fill -------------------------------------------------------------------
start_resolver
for ((i = 0; i < 100; i++)); do
    answers example.lab. | grep -q 'status: NOERROR' && break
    sleep 0.1
done
log "filling the store to $TARGET_MIB MiB at $FILL_QPS QPS (cap ${FILL_CAP_SECS}s)"
w0=$(metric lastgood_store_writes_total)
t0=$(date +%s.%N)
dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/names.txt" -n 1 -Q "$FILL_QPS" \
    -l "$FILL_CAP_SECS" -c 8 -q 500 >"$WORK/fill.txt" 2>&1 &
PERF_PID=$!
target=$((TARGET_MIB * 1048576))
while kill -0 "$PERF_PID" 2>/dev/null; do
    sleep 2
    b=$(metric lastgood_store_bytes)
    ((b >= target)) && break
done
stop_pid "$PERF_PID"
PERF_PID=""
sleep 1 # the writer's last batches
t1=$(date +%s.%N)
w1=$(metric lastgood_store_writes_total)
fill_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
fill_writes=$((w1 - w0))
fill_rate=$(awk -v w="$fill_writes" -v s="$fill_secs" 'BEGIN { printf "%.0f", w / s }')
fill_sent=$(metric lastgood_queries_total)
fill_dropped=$(metric lastgood_store_write_dropped_total)
entries=$(metric lastgood_store_entries)
live_mib=$(awk -v b="$(metric lastgood_store_bytes)" 'BEGIN { printf "%.1f", b / 1048576 }')
fill_rss=$(rss)
stop_pid "$RES_PID"
RES_PID=""
file_mib=$(du -m "$WORK/state/cache.redb" | cut -f1)
log "store: $entries entries, $live_mib MiB live, file $file_mib MiB"

# --- 2. restart during a total outage --------------------------------------------
stop_pid "$LAB_PID"
LAB_PID=""
sleep 6 # past the lab's TTL: every stored entry is stale now
log "restart with the lab down"
t0=$(date +%s.%N)
start_resolver
for ((i = 0; i < 3000; i++)); do
    curl -sf "http://127.0.0.1:$CONTROL_PORT/metrics" >/dev/null && break
    sleep 0.01
done
t1=$(date +%s.%N)
first=""
for ((i = 0; i < 3000; i++)); do
    first=$(answers f1.wild.example.lab.) && [[ -n $first ]] && break
    sleep 0.01
done
t2=$(date +%s.%N)
up_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
start_secs=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f", b - a }')
open_ms=$(grep 'last-good store opened' "$WORK/lastgood.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' |
    grep -o 'open_ms=[0-9]*' | cut -d= -f2)
first_status=$(grep -o 'status: [A-Z]*' <<<"$first" | head -1)
first_ede=$(grep -io 'EDE[^;]*' <<<"$first" | head -1)
rss_start=$(rss)
dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/sample.txt" -n 1 -Q 500 -c 8 -t 5 \
    >"$WORK/sample-perf.txt" 2>&1
sample_noerror=$(awk '/Response codes:/ { $1 = $2 = ""; print; exit }' "$WORK/sample-perf.txt")
sample_latency=$(awk '/Average Latency/ { print $4, $5, $6, $7, $8 }' "$WORK/sample-perf.txt")
rss_after=$(rss)
hwm_after=$(hwm)
rejected=$(metric lastgood_store_rejected_total)
stop_pid "$RES_PID"
RES_PID=""

# --- 3. the background pass alternative -----------------------------------------
scan=$("$SCAN" "$WORK/state/cache.redb" "$WORK/lab/root.key" 2>&1)

cat <<EOF

| metric | value |
|---|---|
| fill: unique names sent / seconds | ${fill_sent:-n/a} / $fill_secs |
| fill: store writes (entries/s) | $fill_writes ($fill_rate/s) |
| fill: entries not written (queue full, no chain) | $fill_dropped |
| store: entries / live MiB / file MiB | $entries / $live_mib / $file_mib |
| VmRSS of the filling resolver (MiB, 64 MiB cache) | $fill_rss |
| restart, lab down: store opened in (ms) | ${open_ms:-n/a} |
| restart, lab down: exec to /metrics answering (s) | $up_secs |
| restart, lab down: exec to the first answer of a stored name (s; its refresh waits the 1.8 s client-response-timer) | $start_secs |
| first answer | ${first_status:-none} ${first_ede:-} |
| VmRSS after the first answer (MiB) | $rss_start |
| $SAMPLE stored names asked once (500 QPS): response codes | ${sample_noerror:-n/a} |
| their average latency (s) | ${sample_latency:-n/a} |
| VmRSS / VmHWM after them (MiB) | $rss_after / $hwm_after |
| entries rejected on read | $rejected |
| background pass alternative (store_scan) | $scan |
EOF
