#!/usr/bin/env bash
# The 2026 .de break replayed at scale, side by side with the peers (issue 21):
#
#   benches/incident.sh                 # lastgood, then Unbound (full timeline)
#   RESOLVERS=lastgood benches/incident.sh
#   benches/incident.sh --short         # CI: lastgood only, a minute, checks bounds
#
# For each resolver, one at a time and each freshly started: starts the
# incident lab (`lastgood lab-incident`: root, de-lab. on three instances,
# SIGNED signed + UNSIGNED unsigned children on 127.54.0.x port 53; TTLs
# and times divided by COMPRESSION), the resolver from the lab's root.hints
# and root.key, and the replay client (`lastgood incident-client`: CLIENTS
# clients, RATE queries/s in all, Zipf exponent ZIPF over the children,
# NEW_SHARE never-seen names). At the lab's `nta` time the script adds the
# resolver's negative trust anchor for de-lab. (lastgood: `lastgood nta
# add`; Unbound: `unbound-control insecure_add` + `flush_zone`,
# `flush_bogus`, `flush_negative`, `flush_requestlist`). The lab counts the queries each server receives
# (upstream.csv). Then a markdown table per resolver and phase and a chart
# (gnuplot, one panel per resolver) under RESULTS_DIR (default
# target/incident/<date>/). See benches/README.md.
#
# Environment (defaults in brackets; --short changes them, see below):
# RESOLVERS ["lastgood unbound"], COMPRESSION [60], SIGNED [2000],
# UNSIGNED [500], RATE [200], CLIENTS [4], ZIPF [1.0], NEW_SHARE [0.05],
# SEED [1], PROFILE [release] (cargo profile of the lastgood binary built
# first; LASTGOOD_BIN=path uses that binary and builds nothing),
# RESOLVER_PORT [53800], CONTROL_PORT [53801], RESULTS_DIR, KEEP_WORK=1;
# REPORT_ONLY=1 redraws tables and chart from RESULTS_DIR's data (same
# RESOLVERS and COMPRESSION), running nothing.
# --short: RESOLVERS=lastgood COMPRESSION=360 SIGNED=400 UNSIGNED=100
# RATE=100 PROFILE=debug, and exits 1 if lastgood's shares miss the bounds:
# MAX_SERVFAIL_BEFORE_NTA [0.25] (SERVFAIL share of all queries between
# the break and the NTA: children first asked after the break have no last
# good chain and fail once every TLD instance serves the broken
# signatures, until the NTA; about 2-3 % in the short run),
# MIN_SEEN_ANSWERED [0.99] (names seen before the break
# answered with their data, fresh or stale, between break and NTA),
# MIN_AFTER_NTA [0.99] (answered with correct data after the NTA), and no
# answer may carry data other than the child's (`wrong`).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

# phase_ms, incident_defaults, the tables, chart and bounds.
# shellcheck source=benches/incident-report.sh
source "$HERE/incident-report.sh"

SHORT=0
[[ ${1:-} == --short ]] && SHORT=1
if ((SHORT)); then
    : "${RESOLVERS:=lastgood}" "${PROFILE:=debug}"
    incident_short_defaults
fi
incident_defaults
RESOLVERS=${RESOLVERS:-lastgood unbound}
PROFILE=${PROFILE:-release}
RESOLVER_PORT=${RESOLVER_PORT:-53800}
CONTROL_PORT=${CONTROL_PORT:-53801}
# Peers ask servers learned from hints and glue on port 53 only.
LAB_PORT=53
RESOLVER=127.0.0.1
# Bounds: the lab's start (generating and signing thousands of zones) and
# a resolver's start, in 0.5 s steps.
LAB_READY_TRIES=600
READY_TRIES=100
RESULTS=${RESULTS_DIR:-$REPO/target/incident/$(date +%Y%m%d-%H%M%S)}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'incident: %s\n' "$*" >&2
    exit 1
}

WORK=""
LAB_PID=""
RES_PID=""
CLIENT_PID=""

# stop_pid, port_free, apt_install (benches/lib.sh)
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$CLIENT_PID"
    stop_pid "$RES_PID"
    stop_pid "$LAB_PID"
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${KEEP_WORK:-0} == 1 ]]; then
            log "work dir kept: $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools and build -----------------------------------------------------------

install_tools() {
    local missing=()
    command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
    [[ " $RESOLVERS " == *" unbound "* ]] && ! command -v unbound >/dev/null && missing+=(unbound)
    [[ " $RESOLVERS " == *" bind "* ]] && ! command -v named >/dev/null && missing+=(bind9 bind9-utils)
    [[ " $RESOLVERS " == *" kresd "* ]] && ! command -v kresd >/dev/null && missing+=(knot-resolver)
    [[ " $RESOLVERS " == *" pdns "* ]] && ! command -v pdns_recursor >/dev/null && missing+=(pdns-recursor)
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]} (apt-get)"
    apt_install "${missing[@]}"
    command -v gnuplot >/dev/null || die "gnuplot still missing"
}

if [[ ${REPORT_ONLY:-0} == 1 ]]; then
    # Tables and chart again from an earlier run's RESULTS_DIR.
    [[ -n ${RESULTS_DIR:-} && -d $RESULTS_DIR ]] || die "REPORT_ONLY=1 needs RESULTS_DIR of a run"
    LG="(not run: REPORT_ONLY)"
else
install_tools
for p in "$RESOLVER_PORT" "$CONTROL_PORT"; do
    port_free "$p" || die "port $p is in use"
done
[[ -z $(ss -Hlnu 'sport = :53' 2>/dev/null | grep '127\.54\.') ]] || die "something listens on 127.54.0.x:53"

if [[ -n ${LASTGOOD_BIN:-} ]]; then
    LG=$LASTGOOD_BIN
elif [[ $PROFILE == release ]]; then
    log "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
    LG=$REPO/target/release/lastgood
else
    log "cargo build"
    (cd "$REPO" && cargo build --quiet) || die "cargo build failed"
    LG=$REPO/target/debug/lastgood
fi
[[ -x $LG ]] || die "no binary at $LG"

mkdir -p "$RESULTS" || die "cannot create $RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-incident.XXXXXX")

# Incident minutes of the timeline (the lab's defaults: the break after an
# hour, the NTA at T+2h45m, the third instance re-signs at T+1h30m, the fix
# half an hour after the NTA, half an hour after the fix).
LAB_ARGS=(--signed "$SIGNED" --unsigned "$UNSIGNED" --compression "$COMPRESSION" --seed "$SEED"
    --port "$LAB_PORT")

start_lab() { # DIR
    local i
    "$LG" lab-incident "${LAB_ARGS[@]}" --out "$1" >"$1.log" 2>&1 &
    LAB_PID=$!
    for ((i = 0; i < LAB_READY_TRIES; i++)); do
        [[ -s $1/timeline.txt ]] && grep -q '^end ' "$1/timeline.txt" && return 0
        kill -0 "$LAB_PID" 2>/dev/null || break
        sleep 0.5
    done
    cat "$1.log" >&2
    die "the incident lab did not start"
}

start_resolver() { # NAME LABDIR
    local r=$1 lab=$2 i
    case $r in
        lastgood)
            sed "s#@CONTROL@#127.0.0.1:$CONTROL_PORT#" "$HERE/incident/lastgood.toml.in" >"$WORK/lastgood.toml"
            "$LG" serve -c "$WORK/lastgood.toml" --listen "$RESOLVER:$RESOLVER_PORT" \
                --root-hints "$lab/root.hints" --trust-anchor "$lab/root.key" \
                --upstream-port "$LAB_PORT" >"$WORK/lastgood.log" 2>&1 &
            ;;
        unbound)
            sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$RESOLVER_PORT#" -e "s#@LAB@#$lab#g" \
                "$HERE/incident/unbound.conf.in" >"$WORK/unbound.conf"
            unbound-checkconf "$WORK/unbound.conf" >/dev/null || die "unbound-checkconf failed"
            unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 &
            ;;
        bind)
            mkdir -p "$WORK/bind"
            RNDC_SECRET=$(head -c 32 /dev/urandom | base64)
            sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$RESOLVER_PORT#" -e "s#@RNDC_PORT@#$CONTROL_PORT#" \
                -e "s#@LAB@#$lab#g" -e "s#@RNDC_SECRET@#$RNDC_SECRET#" \
                -e "s#@TRUST_ANCHOR@#$(awk '$4 == "DS" { printf ". static-ds %s %s %s \"%s\";", $5, $6, $7, $8 }' "$lab/root.key")#" \
                "$HERE/incident/named.conf.in" >"$WORK/named.conf"
            printf 'key "rndc-key" { algorithm hmac-sha256; secret "%s"; };\noptions { default-key "rndc-key"; default-server 127.0.0.1; default-port %s; };\n' \
                "$RNDC_SECRET" "$CONTROL_PORT" >"$WORK/rndc.conf"
            named-checkconf "$WORK/named.conf" || die "named-checkconf failed"
            named -g -n 2 -c "$WORK/named.conf" >"$WORK/bind.log" 2>&1 &
            ;;
        kresd)
            mkdir -p "$WORK/kresd"
            sed -e "s#@PORT@#$RESOLVER_PORT#" -e "s#@LAB@#$lab#g" "$HERE/incident/kresd.conf.in" >"$WORK/kresd/config"
            # kresd reads Lua commands on stdin: the NTA goes in through a FIFO.
            rm -f "$WORK/kresd.in"
            mkfifo "$WORK/kresd.in"
            exec 3<>"$WORK/kresd.in"
            kresd -q -c config "$WORK/kresd" <&3 >"$WORK/kresd.log" 2>&1 &
            ;;
        pdns)
            sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$RESOLVER_PORT#" -e "s#@LAB@#$lab#g" \
                "$HERE/incident/recursor.conf.in" >"$WORK/recursor.conf"
            awk '$4 == "DS" { printf "clearTA(\".\")\naddTA(\".\", \"%s %s %s %s\")\n", $5, $6, $7, $8 }' \
                "$lab/root.key" >"$WORK/recursor.lua"
            pdns_recursor --config-dir="$WORK" >"$WORK/pdns.log" 2>&1 &
            ;;
        *) die "unknown resolver $r" ;;
    esac
    RES_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        if "$LG" query -s "$RESOLVER:$RESOLVER_PORT" de-lab. SOA 2>/dev/null | grep -q '^;; status: NOERROR'; then
            return 0
        fi
        kill -0 "$RES_PID" 2>/dev/null || break
        sleep 0.5
    done
    tail -20 "$WORK/$r.log" >&2
    die "$r did not answer de-lab. SOA"
}

add_nta() { # NAME
    case $1 in
        lastgood)
            "$LG" nta add de-lab. -c "$WORK/lastgood.toml" --lifetime 1h --reason "de-lab. signer broken" \
                >/dev/null || log "lastgood nta add failed"
            ;;
        unbound)
            local uc=(unbound-control -c "$WORK/unbound.conf")
            # The NTA, then drop what was cached under it (records, keys,
            # bogus and negative entries, queries waiting on the old chain).
            "${uc[@]}" insecure_add de-lab. >/dev/null &&
                "${uc[@]}" flush_zone de-lab. >/dev/null &&
                "${uc[@]}" flush_bogus >/dev/null &&
                "${uc[@]}" flush_negative >/dev/null &&
                "${uc[@]}" flush_requestlist >/dev/null || log "unbound-control NTA failed"
            ;;
        bind)
            rndc -c "$WORK/rndc.conf" nta -lifetime 1h de-lab >/dev/null || log "rndc nta failed"
            ;;
        kresd)
            echo "trust_anchors.set_insecure({'de-lab.'})" >&3 || log "kresd set_insecure failed"
            ;;
        pdns)
            rec_control --socket-dir="$WORK" add-nta de-lab "de-lab. signer broken" >/dev/null &&
                rec_control --socket-dir="$WORK" wipe-cache 'de-lab$' >/dev/null || log "rec_control add-nta failed"
            ;;
    esac
}

now_ms() { date +%s%3N; }

run_one() { # NAME
    local r=$1 d=$RESULTS/$1 lab nta wait_ms
    mkdir -p "$d"
    lab=$WORK/lab-$r
    log "$r: starting the incident lab ($SIGNED signed + $UNSIGNED unsigned children, compression $COMPRESSION)"
    start_lab "$lab"
    start_resolver "$r" "$lab"
    log "$r: replay until $(date -d @$(($(phase_ms "$lab" end) / 1000)) +%H:%M:%S)"
    "$LG" incident-client --server "$RESOLVER:$RESOLVER_PORT" --timeline "$lab/timeline.txt" \
        --out "$d/queries.csv" --clients "$CLIENTS" --rate "$RATE" --zipf "$ZIPF" \
        --new-share "$NEW_SHARE" --signed "$SIGNED" --unsigned "$UNSIGNED" --seed "$SEED" \
        >"$d/client.log" 2>&1 &
    CLIENT_PID=$!
    nta=$(phase_ms "$lab" nta)
    wait_ms=$((nta - $(now_ms)))
    ((wait_ms > 0)) && sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
    add_nta "$r"
    log "$r: NTA added for de-lab."
    wait "$CLIENT_PID" || log "$r: client exited non-zero (see $d/client.log)"
    CLIENT_PID=""
    stop_pid "$RES_PID"
    RES_PID=""
    [[ $r == kresd ]] && exec 3>&-
    wait "$LAB_PID" 2>/dev/null
    LAB_PID=""
    cp "$lab/timeline.txt" "$lab/upstream.csv" "$d/"
    cp "$lab.log" "$d/lab.log"
    cp "$WORK/$r.log" "$d/resolver.log" 2>/dev/null
    gzip -f "$d/queries.csv"
}

for r in $RESOLVERS; do
    run_one "$r"
done
fi

# --- tables, chart, notes, bounds (benches/incident-report.sh) ---------------------

incident_tables $RESOLVERS
incident_chart $RESOLVERS
incident_notes "lab, resolver and client on one machine, one resolver at a time" "$LG"

if ((SHORT)); then
    incident_check_bounds lastgood || exit 1
fi
