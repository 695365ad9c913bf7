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
# the break and the NTA: never-seen names, NEW_SHARE of them, and children
# first asked after the break have no last good answer and can only fail
# before the NTA; together about 14 % in the short run), MIN_SEEN_ANSWERED [0.99] (names seen before the break
# answered with their data, fresh or stale, between break and NTA),
# MIN_AFTER_NTA [0.99] (answered with correct data after the NTA), and no
# answer may carry data other than the child's (`wrong`).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

SHORT=0
[[ ${1:-} == --short ]] && SHORT=1
if ((SHORT)); then
    : "${RESOLVERS:=lastgood}" "${COMPRESSION:=360}" "${SIGNED:=400}" "${UNSIGNED:=100}"
    : "${RATE:=100}" "${PROFILE:=debug}"
fi
RESOLVERS=${RESOLVERS:-lastgood unbound}
COMPRESSION=${COMPRESSION:-60}
SIGNED=${SIGNED:-2000}
UNSIGNED=${UNSIGNED:-500}
RATE=${RATE:-200}
CLIENTS=${CLIENTS:-4}
ZIPF=${ZIPF:-1.0}
NEW_SHARE=${NEW_SHARE:-0.05}
SEED=${SEED:-1}
PROFILE=${PROFILE:-release}
RESOLVER_PORT=${RESOLVER_PORT:-53800}
CONTROL_PORT=${CONTROL_PORT:-53801}
MAX_SERVFAIL_BEFORE_NTA=${MAX_SERVFAIL_BEFORE_NTA:-0.25}
MIN_SEEN_ANSWERED=${MIN_SEEN_ANSWERED:-0.99}
MIN_AFTER_NTA=${MIN_AFTER_NTA:-0.99}
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

# stop_pid (benches/lib.sh)
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

phase_ms() { awk -v p="$2" '$1 == p { print $2 }' "$1/timeline.txt"; }

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

# --- tables ------------------------------------------------------------------------
#
# Phases: before = [start, break), break = [break, nta), nta = [nta, fix),
# fixed = [fix, end). Shares are of all queries sent in the phase; `seen`
# restricts to names asked before the break. Upstream: queries received by
# the three TLD instances during the phase, per client query.

summarise() { # NAME: writes RESULTS/NAME/summary.txt, prints the table rows
    local d=$RESULTS/$1 p c ok st sf to wr sn sa upq p99 seen
    zcat "$d/queries.csv.gz" | awk -F, -v tl="$d/timeline.txt" -v up="$d/upstream.csv" -v r="$1" '
        BEGIN {
            while ((getline line < tl) > 0) { split(line, a, " "); T[a[1]] = a[2] }
            n = 0
            while ((getline line < up) > 0) {
                if (line ~ /^unix_ms/) continue
                split(line, a, ","); n++; UT[n] = a[1]; UQ[n] = a[3]
            }
            split("before break nta fixed", P, " ")
            S["before"] = T["start"]; E["before"] = T["break"]
            S["break"] = T["break"]; E["break"] = T["nta"]
            S["nta"] = T["nta"]; E["nta"] = T["fix"]
            S["fixed"] = T["fix"]; E["fixed"] = T["end"]
        }
        function tld_at(t,   i) { for (i = n; i >= 1; i--) if (UT[i] <= t) return UQ[i]; return 0 }
        NR > 1 {
            t = $1; p = ""
            for (k = 1; k <= 4; k++) if (t >= S[P[k]] && t < E[P[k]]) p = P[k]
            if (p == "") next
            N[p]++; O[p, $10]++
            if ($5 == 1 && $4 == "www") { SN[p]++; if ($10 == "ok" || $10 == "stale") SA[p]++ }
            print p, $9 > LAT
        }
        END {
            for (k = 1; k <= 4; k++) {
                p = P[k]
                printf "%s %s %d %d %d %d %d %d %d %d %d\n", r, p, N[p], O[p, "ok"], O[p, "stale"], \
                    O[p, "servfail"], O[p, "timeout"], O[p, "wrong"], SN[p], SA[p], tld_at(E[p]) - tld_at(S[p])
            }
        }' LAT="$d/latency.txt" >"$d/summary.txt"
    while read -r _ p c ok st sf to wr sn sa upq; do
        p99=$(awk -v p="$p" '$1 == p { print $2 }' "$d/latency.txt" | sort -g |
            awk '{ v[NR] = $1 } END { i = int(0.99 * NR + 0.999999); if (i < 1) i = 1; if (NR) printf "%.1f", v[i]; else print "-" }')
        awk -v r="$1" -v p="$p" -v c="$c" -v ok="$ok" -v st="$st" -v sf="$sf" -v to="$to" -v wr="$wr" \
            -v sn="$sn" -v sa="$sa" -v upq="$upq" -v p99="$p99" 'BEGIN {
            split("before:before the break,break:break before NTA,nta:after NTA,fixed:after fix", L, ",")
            for (i in L) { split(L[i], kv, ":"); NAME[kv[1]] = kv[2] }
            if (c == 0) { printf "| %s | %s | 0 | - | - | - | - | - | - | - | - |\n", r, NAME[p]; exit }
            seen = sn > 0 ? sprintf("%.2f%% of %d", 100 * sa / sn, sn) : "-"
            printf "| %s | %s | %d | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %s | %s | %.3f |\n", \
                r, NAME[p], c, 100 * ok / c, 100 * st / c, 100 * sf / c, 100 * to / c, 100 * wr / c, seen, p99, upq / c
        }'
    done <"$d/summary.txt"
    gzip -f "$d/latency.txt"
}

{
    echo "| resolver | phase | queries | NOERROR correct (fresh) | stale (EDE 3/19) | SERVFAIL | unanswered | other/wrong | seen-before-break names answered with data | p99 latency (ms) | TLD queries per client query |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for r in $RESOLVERS; do
        summarise "$r"
    done
} >"$RESULTS/table.md"

# --- chart -------------------------------------------------------------------------
#
# Per resolver: outcome shares per BIN real seconds (stacked), x in incident
# minutes since the break; the lab's broken share of the TLD's signed
# RRsets as a line; break, NTA and fix marked.

BIN_MS=$((300000 / COMPRESSION)) # 5 incident minutes
for r in $RESOLVERS; do
    d=$RESULTS/$r
    brk=$(phase_ms "$d" break)
    zcat "$d/queries.csv.gz" | awk -F, -v b="$brk" -v e="$(phase_ms "$d" end)" -v bin="$BIN_MS" -v c="$COMPRESSION" '
        NR > 1 && $1 < e { k = int(($1 - b) / bin) - ($1 < b ? 1 : 0); N[k]++; O[k, $10]++; if (k < lo) lo = k; if (k > hi) hi = k }
        END {
            for (k = lo; k <= hi; k++) if (N[k] > 0) {
                x = (k + 0.5) * bin / 1000 * c / 60
                ok = O[k, "ok"] / N[k]; st = ok + O[k, "stale"] / N[k]; sf = st + O[k, "servfail"] / N[k]
                to = sf + O[k, "timeout"] / N[k]
                printf "%.2f %.4f %.4f %.4f %.4f 1\n", x, ok, st, sf, to
            }
        }' >"$d/chart.dat"
    awk -F, -v b="$brk" -v c="$COMPRESSION" 'NR > 1 { printf "%.2f %s\n", ($1 - b) / 1000 * c / 60, $5 }' \
        "$d/upstream.csv" >"$d/broken.dat"
done
minutes_after_break() { # DIR PHASE
    awk -v a="$(phase_ms "$1" "$2")" -v b="$(phase_ms "$1" break)" -v c="$COMPRESSION" \
        'BEGIN { printf "%.1f", (a - b) / 1000 * c / 60 }'
}
set -- $RESOLVERS
first=$RESULTS/$1
NTA_X=$(minutes_after_break "$first" nta)
FIX_X=$(minutes_after_break "$first" fix)
STALE_X=$(minutes_after_break "$first" stale_instance_end)
PANELS=$#
{
    echo "set terminal pngcairo size 1200,$((330 * PANELS + 60)) font 'sans,10'"
    echo "set output '$RESULTS/incident.png'"
    echo "set multiplot layout $PANELS,1 title 'de-lab. signer break replayed ($SIGNED signed + $UNSIGNED unsigned children, ${RATE} q/s, Zipf $ZIPF, compression ${COMPRESSION}x)'"
    echo "set xlabel 'incident minutes since the break'"
    echo "set ylabel 'share of client queries'"
    echo "set yrange [0:1.05]"
    echo "set key outside right"
    echo "set style fill solid 0.8 noborder"
    for x in 0 "$NTA_X" "$FIX_X" "$STALE_X"; do
        echo "set arrow from $x, graph 0 to $x, graph 1 nohead dt 2 lc rgb 'black'"
    done
    echo "set label 'break' at 0, graph 0.04 left offset 0.5,0 front"
    echo "set label 'NTA' at $NTA_X, graph 0.04 left offset 0.5,0 front"
    echo "set label 'fix' at $FIX_X, graph 0.04 left offset 0.5,0 front"
    echo "set label 'ns3 re-signs' at $STALE_X, graph 0.04 left offset 0.5,0 front"
    for r in $RESOLVERS; do
        d=$RESULTS/$r
        echo "set title '$r'"
        echo "plot '$d/chart.dat' using 1:(0):2 with filledcurves lc rgb '#2ca02c' title 'NOERROR correct', \\"
        echo "  '' using 1:2:3 with filledcurves lc rgb '#1f77b4' title 'stale', \\"
        echo "  '' using 1:3:4 with filledcurves lc rgb '#d62728' title 'SERVFAIL', \\"
        echo "  '' using 1:4:5 with filledcurves lc rgb '#ff7f0e' title 'unanswered', \\"
        echo "  '' using 1:5:6 with filledcurves lc rgb '#7f7f7f' title 'other', \\"
        echo "  '$d/broken.dat' using 1:2 with lines lw 2 lc rgb 'black' title 'broken share of TLD RRsets (ns1, ns2)'"
    done
    echo "unset multiplot"
} >"$RESULTS/incident.gp"
gnuplot "$RESULTS/incident.gp" || log "gnuplot failed (see $RESULTS/incident.gp)"

{
    echo
    echo "Conditions: $(nproc) cores; lab, resolver and client on one machine, one resolver at a"
    echo "time; $SIGNED signed + $UNSIGNED unsigned children, compression ${COMPRESSION}x, $CLIENTS clients,"
    echo "$RATE queries/s offered, Zipf s=$ZIPF, never-seen share $NEW_SHARE, seed $SEED, lastgood"
    echo "binary $LG; load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$RESULTS/notes.md"
cat "$RESULTS/table.md" "$RESULTS/notes.md"
echo "chart: $RESULTS/incident.png"
echo "results: $RESULTS"

# --- the short run's bounds (CI) ---------------------------------------------------

if ((SHORT)); then
    read -r _ _ c _ _ sf _ _ sn sa _ < <(awk '$2 == "break"' "$RESULTS/lastgood/summary.txt")
    read -r _ _ c2 ok2 st2 _ < <(awk '$2 == "nta"' "$RESULTS/lastgood/summary.txt")
    fail=0
    awk -v s="$sf" -v c="$c" -v m="$MAX_SERVFAIL_BEFORE_NTA" 'BEGIN { exit !(c > 0 && s / c <= m) }' ||
        { log "FAIL: lastgood SERVFAIL share between break and NTA $sf/$c > $MAX_SERVFAIL_BEFORE_NTA"; fail=1; }
    awk -v a="$sa" -v n="$sn" -v m="$MIN_SEEN_ANSWERED" 'BEGIN { exit !(n > 0 && a / n >= m) }' ||
        { log "FAIL: lastgood answered $sa of $sn seen names between break and NTA (< $MIN_SEEN_ANSWERED)"; fail=1; }
    awk -v a="$((ok2 + st2))" -v n="$c2" -v m="$MIN_AFTER_NTA" 'BEGIN { exit !(n > 0 && a / n >= m) }' ||
        { log "FAIL: lastgood answered $((ok2 + st2)) of $c2 after the NTA (< $MIN_AFTER_NTA)"; fail=1; }
    wrong=$(awk '{ s += $8 } END { print s + 0 }' "$RESULTS/lastgood/summary.txt")
    ((wrong == 0)) || { log "FAIL: lastgood gave $wrong answers with data other than the child's"; fail=1; }
    ((fail)) && exit 1
    log "short run: lastgood within bounds"
fi
