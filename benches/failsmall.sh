#!/usr/bin/env bash
# Fail small (issue 13), measured on real processes: the lab (TTL 2 s) and
# a resolver binary, asked with dig. Not part of CI; the figures go into
# the issue's closing note and benches/README.md.
#
#   benches/failsmall.sh [BINARY ...]     (default: target/release/lastgood)
#   LAB_ZONES=DIR benches/failsmall.sh OLD  (an older binary needs its own zones/)
#
# For each binary it prints:
# - the denial of service: a meta question, then a never-cached name;
# - recovery: time from the authority's repair to the first fresh answer,
#   after a 5 s blip and after a 60 s outage, with a client asking every
#   100 ms (no flush, no reload);
# - CD=1 for a never-cached name during a validation fault.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v dig >/dev/null || { apt-get update -qq && apt-get install -y -qq bind9-dnsutils >/dev/null; }
[ $# -gt 0 ] || set -- target/release/lastgood

LAB_PORT=53571
LAB_CTL=5398
RES=127.0.0.1
RES_PORT=5371
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

fault() { printf 'fault %s %s\n' "$1" "$2" >"/dev/udp/127.0.0.1/$LAB_CTL"; sleep 0.2; }
q() { dig @"$RES" -p "$RES_PORT" +dnssec +tries=1 +time=5 "$@" || true; }
rcode() { q "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
flags() { q "$@" | sed -n 's/.*flags: \([a-z ]*\);.*/\1/p' | head -1; }
is_stale() { q "$@" | grep -q 'EDE: 3 '; }
now() { date +%s.%N; }

start() { # BINARY
    local bin=$1
    "$bin" lab --zones "${LAB_ZONES:-zones}" --port "$LAB_PORT" --ttl 2 --out "$work/lab" --control "127.0.0.1:$LAB_CTL" \
        >"$work/lab.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [ -s "$work/lab/root.key" ] && break; sleep 0.1; done
    printf 'listen = ["%s:%s"]\ncontrol-listen = "127.0.0.1:0"\n' "$RES" "$RES_PORT" >"$work/r.toml"
    "$bin" serve -c "$work/r.toml" --root-hints "$work/lab/root.hints" \
        --trust-anchor "$work/lab/root.key" --upstream-port "$LAB_PORT" >"$work/r.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do [ "$(rcode host1.example.lab A 2>/dev/null)" = NOERROR ] && break; sleep 0.1; done
}

stop() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}

recovery() { # SECONDS of outage -> seconds from repair to the first fresh answer
    local outage=$1 name=$2
    q "$name" A >/dev/null
    fault example.lab. drop
    sleep 2.2                      # TTL expires
    local t0; t0=$(now)
    while [ "$(echo "$(now) - $t0 < $outage" | bc)" = 1 ]; do q "$name" A >/dev/null; sleep 0.1; done
    fault example.lab. none
    local t1; t1=$(now)
    for _ in $(seq 600); do
        if [ "$(rcode "$name" A)" = NOERROR ] && ! is_stale "$name" A; then
            echo "$(now) - $t1" | bc | xargs printf '%.1f'
            return
        fi
        sleep 0.1
    done
    echo "never"
}

for bin in "$@"; do
    echo "## $bin ($("$bin" --version 2>/dev/null || echo lastgood) $(git -C "$(dirname "$bin")" rev-parse --short HEAD 2>/dev/null || true))"
    start "$bin"
    echo
    echo "| meta question | then a never-cached name | rcode | flags |"
    echo "|---|---|---|---|"
    i=100
    for meta in ". ANY" "host5.example.lab ANY" "host11.example.lab RRSIG"; do
        i=$((i + 1))
        # shellcheck disable=SC2086
        q $meta >/dev/null
        echo "| \`$meta\` | host$i.example.lab A | $(rcode "host$i.example.lab" A) | $(flags "host$i.example.lab" A) |"
    done
    echo
    echo "| outage | repair to first fresh answer (s) |"
    echo "|---|---|"
    echo "| 5 s blip | $(recovery 5 host20.example.lab) |"
    echo "| 60 s outage | $(recovery 60 host30.example.lab) |"
    echo
    for n in 40 41 42; do q "host$n.example.lab" A >/dev/null; done
    fault example.lab. unpublished-zsk
    sleep 2.2
    for n in 40 41 42; do q "host$n.example.lab" A >/dev/null; done
    sleep 0.5
    echo "CD=1 never-cached during unpublished-zsk: $(q +cd host251.example.lab A | grep -E 'status:|flags:' | tr -s ' ' | tr '\n' ' ')"
    echo "plain never-cached during unpublished-zsk: $(rcode host252.example.lab A)"
    fault example.lab. none
    stop
    echo
done
