#!/usr/bin/env bash
# Cache-hit QPS with the last-good store on against off (issue 18), as an
# interleaved A/B on one lab: two release lastgoods (one with a
# state-dir, one without) warmed with the same WARM_NAMES names, then
# ROUNDS rounds of `dnsperf -l SECS` against each in turn (the order
# alternating), so drift in the machine's load hits both alike.
#
#   benches/store_ab.sh                # ROUNDS=6 SECS=5 WARM_NAMES=1000
#
# Prints each round and the median QPS of each, and their ratio. Needs
# dnsperf; ports LAB_PORT [53830] on 127.53.0.1-4, 53831-53835.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
ROUNDS=${ROUNDS:-6}
SECS=${SECS:-5}
WARM_NAMES=${WARM_NAMES:-1000}
LAB_PORT=${LAB_PORT:-53830}
read -r -a DNSPERF_ARGS <<<"${DNSPERF_ARGS:--c 8 -T 1 -q 200}"
die() {
    printf 'store_ab: %s\n' "$*" >&2
    exit 1
}
command -v dnsperf >/dev/null || die "dnsperf is missing (apt-get install -y dnsperf)"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$REPO" && cargo build --release --quiet --bin lastgood) || die "build failed"
LG=$REPO/target/release/lastgood
"$LG" lab --keygen "$WORK/keys" >/dev/null 2>&1 || die "keygen"
"$LG" lab --zones "$REPO/zones" --port "$LAB_PORT" --keys "$WORK/keys" --out "$WORK/lab" \
    --control "127.0.0.1:$((LAB_PORT + 1))" >"$WORK/lab.log" 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
    grep -q '^control: udp' "$WORK/lab.log" && break
    sleep 0.1
done

declare -A PORT=([off]=$((LAB_PORT + 2)) [on]=$((LAB_PORT + 3)))
declare -A CTL=([off]=$((LAB_PORT + 4)) [on]=$((LAB_PORT + 5)))
for mode in off on; do
    mkdir -p "$WORK/$mode"
    {
        echo "control-listen = \"127.0.0.1:${CTL[$mode]}\""
        echo "control-socket = \"$WORK/$mode/control.sock\""
        echo "cache-size = 67108864"
        [[ $mode == on ]] && echo "state-dir = \"$WORK/$mode/state\""
    } >"$WORK/$mode/lastgood.toml"
    mkdir -p "$WORK/$mode/state"
    "$LG" serve -c "$WORK/$mode/lastgood.toml" --listen "127.0.0.1:${PORT[$mode]}" \
        --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
        --upstream-port "$LAB_PORT" >"$WORK/$mode/log" 2>&1 &
    PIDS+=($!)
done
sleep 1
awk -v n="$WARM_NAMES" 'BEGIN { for (i = 1; i <= n; i++) printf "h%d.wild.example.lab. A\n", i }' >"$WORK/names.txt"
for mode in off on; do
    dnsperf -s 127.0.0.1 -p "${PORT[$mode]}" -d "$WORK/names.txt" -n 1 -q 20 >"$WORK/$mode/warm.txt" 2>&1
    grep -q "NOERROR $WARM_NAMES " "$WORK/$mode/warm.txt" || die "$mode: warming failed: $(grep 'Response codes' "$WORK/$mode/warm.txt")"
done
if [[ -z $(curl -sf "http://127.0.0.1:${CTL[on]}/metrics" | awk '$1 == "lastgood_store_writes_total" && $2 > 0') ]]; then
    die "the store wrote nothing"
fi

declare -A QPS=([off]="" [on]="")
for ((r = 1; r <= ROUNDS; r++)); do
    order="off on"
    ((r % 2 == 0)) && order="on off"
    for mode in $order; do
        q=$(dnsperf -s 127.0.0.1 -p "${PORT[$mode]}" -d "$WORK/names.txt" -l "$SECS" "${DNSPERF_ARGS[@]}" 2>&1 |
            awk '/Queries per second:/ { printf "%.0f", $4 }')
        QPS[$mode]+="$q "
        printf 'round %d %-3s %s QPS (load %s)\n' "$r" "$mode" "$q" "$(cut -d' ' -f1 /proc/loadavg)"
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_off=$(median <<<"${QPS[off]}")
m_on=$(median <<<"${QPS[on]}")
echo "median cache-hit QPS: store off $m_off, store on $m_on, on/off $(awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "%.3f", a / b }')"
