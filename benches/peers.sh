#!/usr/bin/env bash
# lastgood side by side with the best peers (issue 20):
#
#   benches/peers.sh                      # full run, about 17 minutes (20 with base)
#   QUICK=1 benches/peers.sh              # every cell once, short runs (~3 minutes)
#   LASTGOOD_BASE=old/lastgood benches/peers.sh   # adds a "lastgood (base)" column
#
# Authorities: three NSD processes on 127.56.0.1-3 port 53 serve zones signed
# here by BIND's dnssec-signzone, as tests/interop/run.sh builds them: the
# root (ECDSA P-256, NSEC), lab. (RSASHA256, NSEC3), example.lab. (ECDSA
# P-256, NSEC, with the wildcard *.wild.example.lab.) and miss.lab. (ECDSA
# P-256, NSEC): MISS_NAMES generated names mNNNNNNN.miss.lab. plus 10,000
# hNNNNNNN.miss.lab., each an A record with its own RRSIG, delegated from
# lab. with a DS. The signed miss.lab. is kept in ZONE_CACHE, keyed by its
# size, so only the first run signs it.
#
# Resolvers (Debian packages, installed if missing; configs in
# benches/peers/*.in): Unbound with 1 and with 2 threads, PowerDNS Recursor
# with 1 and 2 threads, Knot Resolver (one kresd), lastgood (release build
# of this tree, or LASTGOOD=path) and, with LASTGOOD_BASE=path, a second
# lastgood column. All validate from the lab's root DS, have CACHE_MIB of
# cache, no synthesis from cached NSEC where it can be turned off (kresd 5
# cannot), QNAME minimisation as each does by default.
#
# Workloads, dnsperf DNSPERF_ARGS (-c 4 -T 1 -q 100), each resolver freshly
# started where a cold cache is needed:
#   1. cache hits, max QPS over WARM_NAMES warmed hNNNNNNN.miss.lab.
#   2. the same names at LAT_QPS (20k): p50/p99 latency, resolver CPU
#      (cores, and microseconds per answer; utime+stime of all its threads
#      from /proc/PID/stat over the run)
#   3. real misses, wildcard: unique wNNNNNNNN.wild.example.lab., max QPS, CPU
#   4. real misses, distinct signatures: mNNNNNNN.miss.lab., max QPS, CPU
#   5. real misses at MISS_LAT_QPS (2k): p50/p99/max latency, distinct names
# RUNS runs (3); in each run every workload is measured on every resolver in
# turn, the order rotated from run to run. The miss names are split into
# one slice per run (workload 5 takes the first part of a slice, workload 4
# the rest): a name is asked once per resolver, the same names of every
# resolver in a run. Prints a markdown table of medians and min-max, the
# best peer per row and lastgood's ratio to it, and keeps it with every raw
# dnsperf output in RESULTS_DIR (default target/peers/<date>).
#
# Environment (defaults in brackets): RUNS [3], HIT_SECS [10], LAT_SECS [10],
# MISS_SECS [10], MISS_LAT_SECS [10], LAT_QPS [20000], MISS_LAT_QPS [2000],
# WARM_NAMES [1000], MISS_NAMES [300000], MISS_ALG [ECDSAP256SHA256],
# CACHE_MIB [1024], DNSPERF_ARGS ["-c 4 -T 1 -q 100"], RESOLVERS [unbound1
# unbound2 pdns1 pdns2 kresd lastgood] (+ base with LASTGOOD_BASE), NICE
# [-10], RESOLVER_PORT [54100], CONTROL_PORT [54101], ZONE_CACHE
# [target/peers/zones], RESULTS_DIR, KEEP_WORK=1, QUICK=1 (RUNS=1, 3 s per
# workload), REPORT_ONLY=1 (the table again from RESULTS_DIR's values.tsv).
# See benches/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

if [[ ${QUICK:-0} == 1 ]]; then
    : "${RUNS:=1}" "${HIT_SECS:=3}" "${LAT_SECS:=3}" "${MISS_SECS:=3}" "${MISS_LAT_SECS:=3}"
fi
RUNS=${RUNS:-3}
HIT_SECS=${HIT_SECS:-10}
LAT_SECS=${LAT_SECS:-10}
MISS_SECS=${MISS_SECS:-10}
MISS_LAT_SECS=${MISS_LAT_SECS:-10}
LAT_QPS=${LAT_QPS:-20000}
MISS_LAT_QPS=${MISS_LAT_QPS:-2000}
WARM_NAMES=${WARM_NAMES:-1000}
MISS_NAMES=${MISS_NAMES:-300000}
MISS_ALG=${MISS_ALG:-ECDSAP256SHA256}
CACHE_MIB=${CACHE_MIB:-1024}
# The issue's settings: 4 sockets (SO_REUSEPORT spreads them over a
# resolver's threads), one dnsperf thread (the other core is the
# resolver's), 100 queries in flight.
read -r -a DNSPERF_ARGS <<<"${DNSPERF_ARGS:--c 4 -T 1 -q 100}"
DEFAULT_RESOLVERS="unbound1 unbound2 pdns1 pdns2 kresd lastgood"
[[ -n ${LASTGOOD_BASE:-} ]] && DEFAULT_RESOLVERS+=" base"
read -r -a COLS <<<"${RESOLVERS:-$DEFAULT_RESOLVERS}"
NICE=${NICE:--10}
RESOLVER_PORT=${RESOLVER_PORT:-54100}
CONTROL_PORT=${CONTROL_PORT:-54101}
ZONE_CACHE=${ZONE_CACHE:-$REPO/target/peers/zones}
RESULTS=${RESULTS_DIR:-$REPO/target/peers/$(date +%Y%m%d-%H%M%S)}

# Peers ask servers learned from root hints and glue on port 53 only.
NSD_PORT=53
ROOT_IP=127.56.0.1
LAB_IP=127.56.0.2
LEAF_IP=127.56.0.3 # example.lab. and miss.lab.
RESOLVER=127.0.0.1
# hNNNNNNN.miss.lab. names in the zone (WARM_NAMES of them are warmed).
HIT_ZONE_NAMES=10000
# Unique wildcard names written per run: enough for MISS_SECS at 30k QPS
# (kresd answers them from its cache once it holds the wildcard's NSEC).
WILD_RATE=30000
# Re-sign a cached miss.lab. older than this (its signatures last 30 days).
ZONE_MAX_AGE_DAYS=20
# dnsperf's -t: a lost query counts as this slow in the percentiles.
TIMEOUT_S=5
# Bounds on waiting: a resolver's start (x 0.1 s), NSD's start (s; the
# miss zone is large).
READY_TRIES=300
NSD_READY_SECS=300
# dnsperf gets this many seconds beyond its -l before the run is called hung.
DNSPERF_GRACE=30

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'peers: %s\n' "$*" >&2
    exit 1
}

# --- processes and cleanup ---------------------------------------------------

WORK=""
KRES_CACHE=""
RES_PID=""
RES_COL=""
declare -A NSD_PID=()

# stop_pid (benches/lib.sh)
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

cleanup() {
    local rc=$? name pids
    trap - EXIT INT TERM
    # A dnsperf still running is a child of this shell.
    pids=$(jobs -p)
    for p in $pids; do
        [[ $p == "$RES_PID" ]] || kill "$p" 2>/dev/null
    done
    stop_pid "$RES_PID"
    for name in "${!NSD_PID[@]}"; do stop_pid "${NSD_PID[$name]}"; done
    [[ -n $KRES_CACHE && -d $KRES_CACHE ]] && rm -rf "$KRES_CACHE"
    if [[ -n $WORK && -d $WORK ]]; then
        # Kept for a look after a failure, not after an interrupt.
        if [[ ${KEEP_WORK:-0} == 1 || ($rc -ne 0 && $rc -ne 130 && $rc -ne 143) ]]; then
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

# --- names of the columns ------------------------------------------------------

col_label() { # COL
    case $1 in
        unbound1) echo "Unbound $(ver unbound) 1 thread" ;;
        unbound2) echo "Unbound $(ver unbound) 2 threads" ;;
        pdns1) echo "PowerDNS Rec $(ver pdns) 1 thread" ;;
        pdns2) echo "PowerDNS Rec $(ver pdns) 2 threads" ;;
        kresd) echo "Knot Res $(ver kresd)" ;;
        lastgood) echo "lastgood" ;;
        base) echo "lastgood (base)" ;;
        *) echo "$1" ;;
    esac
}
is_peer() { [[ $1 != lastgood && $1 != base ]]; }

declare -A VERSION=()
ver() { # unbound|pdns|kresd: the installed version, cached
    if [[ -z ${VERSION[$1]:-} ]]; then
        case $1 in
            unbound) VERSION[$1]=$(unbound -V 2>/dev/null | sed -n 's/^Version //p') ;;
            pdns) VERSION[$1]=$(pdns_recursor --version 2>&1 | sed -n 's/.*PowerDNS Recursor \([0-9.]*\).*/\1/p' | head -1) ;;
            kresd) VERSION[$1]=$(kresd -V 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p') ;;
        esac
        VERSION[$1]=${VERSION[$1]:-?}
    fi
    echo "${VERSION[$1]}"
}

# --- the table (also REPORT_ONLY=1) --------------------------------------------
#
# values.tsv: RUN COL METRIC VALUE, one line per measurement. A row of the
# table is a metric: per column the median of its runs and the min-max, then
# the best peer (highest for QPS, lowest otherwise; kresd is left out of
# the wildcard rows because it synthesises) and lastgood's median over the
# best peer's.

# METRIC|label|better (high, low, or none: no best peer)|decimals|exclude-kresd
ROWS=(
    "hit_qps|1. cache hits, max QPS ($WARM_NAMES names)|high|0|"
    "hit_cores|1. cache hits, max QPS: resolver CPU (cores)|none|2|"
    "lat_p50|2. cache hits at $LAT_QPS QPS: p50 (ms)|low|3|"
    "lat_p99|2. cache hits at $LAT_QPS QPS: p99 (ms)|low|3|"
    "lat_cores|2. cache hits at $LAT_QPS QPS: resolver CPU (cores)|low|2|"
    "lat_us|2. cache hits at $LAT_QPS QPS: CPU per answer (µs)|low|1|"
    "wild_qps|3. real misses, wildcard: max QPS|high|0|x"
    "wild_cores|3. real misses, wildcard: resolver CPU (cores)|none|2|x"
    "wild_us|3. real misses, wildcard: CPU per miss (µs)|low|1|x"
    "wild_upq|3. real misses, wildcard: queries to the authorities per miss|none|2|x"
    "miss_qps|4. real misses, distinct signatures: max QPS|high|0|"
    "miss_cores|4. real misses, distinct signatures: resolver CPU (cores)|none|2|"
    "miss_us|4. real misses, distinct signatures: CPU per miss (µs)|low|1|"
    "miss_upq|4. real misses, distinct signatures: queries to the authorities per miss|none|2|"
    "mlat_p50|5. real misses at $MISS_LAT_QPS QPS: p50 (ms)|low|3|"
    "mlat_p99|5. real misses at $MISS_LAT_QPS QPS: p99 (ms)|low|3|"
    "mlat_max|5. real misses at $MISS_LAT_QPS QPS: max (ms)|low|3|"
)

# stats VALUES-FILE COL METRIC DECIMALS: "median|min|max" formatted, or "-"
stats() {
    awk -F'\t' -v c="$2" -v m="$3" '$2 == c && $3 == m && $4 ~ /^[0-9.]+$/ { print $4 }' "$1" | sort -g |
        awk -v d="$4" '
            { v[NR] = $1 }
            END {
                if (NR == 0) { print "-"; exit }
                med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                f = "%." d "f"
                fmt = f "|" f "|" f "|%d\n"
                printf fmt, med, v[1], v[NR], NR
            }'
}

table() { # VALUES-FILE: prints the markdown table
    local values=$1 row metric label better dec nokres c s med lo hi n cell best best_col lg base_med
    local header="| workload |" rule="|---|"
    for c in "${COLS[@]}"; do
        header+=" $(col_label "$c") |"
        rule+="---|"
    done
    header+=" best peer | lastgood / best peer |"
    rule+="---|---|"
    if [[ " ${COLS[*]} " == *" base "* ]]; then
        header+=" lastgood / base |"
        rule+="---|"
    fi
    echo "$header"
    echo "$rule"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r metric label better dec nokres <<<"$row"
        local line="| $label |"
        best="" best_col="" lg="" base_med=""
        for c in "${COLS[@]}"; do
            s=$(stats "$values" "$c" "$metric" "$dec")
            if [[ $s == - ]]; then
                line+=" - |"
                continue
            fi
            IFS='|' read -r med lo hi n <<<"$s"
            if ((n > 1)); then cell="$med ($lo–$hi)"; else cell=$med; fi
            if [[ $c == kresd && -n $nokres ]]; then
                cell+=" (synthesised)"
            elif is_peer "$c" && [[ $better != none ]]; then
                if [[ -z $best ]] || awk -v a="$med" -v b="$best" -v h="$better" \
                    'BEGIN { exit !(h == "high" ? a > b : a < b) }'; then
                    best=$med best_col=$c
                fi
            fi
            [[ $c == lastgood ]] && lg=$med
            [[ $c == base ]] && base_med=$med
            line+=" $cell |"
        done
        line+=" ${best_col:+$(col_label "$best_col")} | $(ratio "$lg" "$best") |"
        if [[ " ${COLS[*]} " == *" base "* ]]; then line+=" $(ratio "$lg" "$base_med") |"; fi
        echo "$line"
    done
}

ratio() { # A B: A/B, two decimals, or -
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
}

notes() { # VALUES-FILE: lost queries and errors, per column and workload (all runs)
    local c w lost bad line
    echo
    echo "Lost queries and answers other than NOERROR, summed over the runs (a lost query"
    echo "counts as ${TIMEOUT_S} s in the latency rows; workloads: hit, lat, wild, miss, mlat):"
    echo
    for c in "${COLS[@]}"; do
        line=""
        for w in hit lat wild miss mlat; do
            lost=$(awk -F'\t' -v c="$c" -v m="${w}_lost" '$2 == c && $3 == m { s += $4 } END { print s + 0 }' "$1")
            bad=$(awk -F'\t' -v c="$c" -v m="${w}_notnoerror" '$2 == c && $3 == m { s += $4 } END { print s + 0 }' "$1")
            ((lost + bad > 0)) && line+=" $w: $lost lost, $bad not NOERROR;"
        done
        echo "- $(col_label "$c"):${line:- none}"
    done
    echo
    echo "Queries the authorities received during the cache-hit runs (workloads 1 and 2; should be 0):"
    echo
    for c in "${COLS[@]}"; do
        echo "- $(col_label "$c"): $(awk -F'\t' -v c="$c" '$2 == c && ($3 == "hit_upstream" || $3 == "lat_upstream") { s += $4; n++ }
            END { if (n) print s; else print "n/a" }' "$1")"
    done
}

if [[ ${REPORT_ONLY:-0} == 1 ]]; then
    [[ -n ${RESULTS_DIR:-} && -s $RESULTS_DIR/values.tsv ]] || die "REPORT_ONLY=1 needs RESULTS_DIR of a run"
    table "$RESULTS_DIR/values.tsv"
    notes "$RESULTS_DIR/values.tsv"
    exit 0
fi

# --- tools, ports, build -------------------------------------------------------

install_tools() {
    local missing=() c
    command -v dnsperf >/dev/null || missing+=(dnsperf)
    command -v nsd >/dev/null || missing+=(nsd)
    command -v dnssec-signzone >/dev/null || missing+=(bind9-utils)
    command -v dig >/dev/null || missing+=(bind9-dnsutils)
    for c in "${COLS[@]}"; do
        case $c in
            unbound*) command -v unbound >/dev/null || missing+=(unbound) ;;
            pdns*) command -v pdns_recursor >/dev/null || missing+=(pdns-recursor) ;;
            kresd) command -v kresd >/dev/null || missing+=(knot-resolver) ;;
        esac
    done
    ((${#missing[@]} == 0)) && return 0
    read -r -a missing <<<"$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
    log "installing ${missing[*]} (apt-get)"
    apt_install "${missing[@]}"
    for c in dnsperf nsd dnssec-signzone dig; do
        command -v "$c" >/dev/null || die "$c still missing after apt-get"
    done
}

for c in "${COLS[@]}"; do
    case $c in unbound1 | unbound2 | pdns1 | pdns2 | kresd | lastgood | base) ;; *) die "unknown resolver $c" ;; esac
done
[[ " ${COLS[*]} " == *" base "* && -z ${LASTGOOD_BASE:-} ]] && die "column base needs LASTGOOD_BASE=path"
((RUNS >= 1)) || die "RUNS must be at least 1"
((WARM_NAMES <= HIT_ZONE_NAMES)) || die "WARM_NAMES is at most $HIT_ZONE_NAMES"
((MISS_NAMES >= 100000)) || die "MISS_NAMES must be at least 100000"
# Each run's slice of the miss names: workload 5 first, workload 4 the rest.
SLICE=$((MISS_NAMES / RUNS))
MLAT_NAMES=$((MISS_LAT_QPS * MISS_LAT_SECS))
MISS_RUN_NAMES=$((SLICE - MLAT_NAMES))
((MISS_RUN_NAMES >= 10000)) ||
    die "MISS_NAMES=$MISS_NAMES leaves $MISS_RUN_NAMES names per run for workload 4 (RUNS=$RUNS, $MLAT_NAMES for workload 5): raise MISS_NAMES"

install_tools
port_free "$NSD_PORT" "$ROOT_IP" "$LAB_IP" "$LEAF_IP" ||
    die "port $NSD_PORT is in use on 127.56.0.1-3: $(ss -Hlnutp "sport = :$NSD_PORT" | head -3)"
for p in "$RESOLVER_PORT" "$CONTROL_PORT"; do
    port_free "$p" || die "port $p is in use: $(ss -Hlnutp "sport = :$p" | head -3)"
done

if [[ -n ${LASTGOOD:-} ]]; then
    LG=$LASTGOOD
else
    log "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
    LG=$REPO/target/release/lastgood
fi
[[ -x $LG ]] || die "no lastgood binary at $LG"
if [[ " ${COLS[*]} " == *" base "* ]]; then
    [[ -x $LASTGOOD_BASE ]] || die "no lastgood binary at LASTGOOD_BASE=$LASTGOOD_BASE"
fi

mkdir -p "$RESULTS" "$ZONE_CACHE" || die "cannot create $RESULTS or $ZONE_CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-peers.XXXXXX")
if [[ -d /dev/shm && -w /dev/shm ]]; then
    KRES_CACHE=$(mktemp -d /dev/shm/lastgood-peers-kresd.XXXXXX)
else
    KRES_CACHE=$WORK/kresd-cache
    mkdir -p "$KRES_CACHE"
fi
ZONES=$WORK/zones
mkdir -p "$ZONES" "$WORK/keys" "$WORK/ds"

# --- zones, keys, signing (as tests/interop/run.sh) ------------------------------

# Data TTL: a day, so no hit expires during a run; SOA minimum an hour.
TTL=86400
SOA="3600 600 86400 3600"

keygen() { # DIR ZONE ALG [KSK]: prints the key's base name (DIR/K...)
    local dir=$1 zone=$2 alg=$3 ksk=${4:-} bits=() base
    if [[ $alg == RSASHA256 ]]; then
        if [[ -n $ksk ]]; then bits=(-b 2048); else bits=(-b 1024); fi
    fi
    base=$(dnssec-keygen -q -K "$dir" -a "$alg" "${bits[@]}" ${ksk:+-f KSK} -n ZONE "$zone") ||
        die "dnssec-keygen $zone $alg"
    printf '%s/%s\n' "$dir" "$base"
}

sign() { # DIR ZONE INPUT OUT KSK ZSK [dnssec-signzone args...]: keys appended to INPUT
    local dir=$1 zone=$2 input=$3 out=$4 ksk=$5 zsk=$6
    shift 6
    cat "$ksk.key" "$zsk.key" >>"$input"
    (cd "$dir" && dnssec-signzone -q -d "$WORK/ds" "$@" -o "$zone" -k "$ksk.key" -f "$out" \
        "$input" "$zsk.key") >"$dir/signzone.log" 2>&1 ||
        { cat "$dir/signzone.log" >&2; die "dnssec-signzone $zone"; }
}

# miss.lab.: MISS_NAMES mNNNNNNN and HIT_ZONE_NAMES hNNNNNNN, each an A
# record. Kept signed in ZONE_CACHE/miss-SIZE-ALG/ (zone, keys, dsset) and
# signed again only when missing or older than ZONE_MAX_AGE_DAYS.
MISS_DIR=$ZONE_CACHE/miss-$MISS_NAMES-$MISS_ALG-$LEAF_IP
SIGN_SECS="cached"
miss_zone() {
    if [[ -s $MISS_DIR/miss.lab.signed && -s $MISS_DIR/dsset-miss.lab. ]] &&
        [[ -z $(find "$MISS_DIR/miss.lab.signed" -mtime +"$ZONE_MAX_AGE_DAYS" 2>/dev/null) ]]; then
        log "miss.lab.: signed zone from $MISS_DIR"
        SIGN_SECS="cached ($(cat "$MISS_DIR/sign-seconds" 2>/dev/null || echo '?') s when signed)"
        return 0
    fi
    log "miss.lab.: generating $MISS_NAMES + $HIT_ZONE_NAMES names, signing ($MISS_ALG, NSEC)"
    rm -rf "$MISS_DIR.tmp"
    mkdir -p "$MISS_DIR.tmp"
    local ksk zsk t0
    {
        echo "\$TTL $TTL"
        printf 'miss.lab. IN SOA ns1.miss.lab. hostmaster.miss.lab. 1 %s\n' "$SOA"
        printf 'miss.lab. IN NS ns1.miss.lab.\n'
        printf 'ns1.miss.lab. IN A %s\n' "$LEAF_IP"
        awk -v m="$MISS_NAMES" -v h="$HIT_ZONE_NAMES" 'BEGIN {
            for (i = 0; i < m; i++) printf "m%07d IN A 127.57.%d.%d\n", i, int(i / 250) % 250, i % 250 + 1
            for (i = 0; i < h; i++) printf "h%07d IN A 127.58.%d.%d\n", i, int(i / 250) % 250, i % 250 + 1
        }'
    } >"$MISS_DIR.tmp/miss.lab.zone"
    ksk=$(keygen "$MISS_DIR.tmp" miss.lab. "$MISS_ALG" ksk)
    zsk=$(keygen "$MISS_DIR.tmp" miss.lab. "$MISS_ALG")
    cat "$ksk.key" "$zsk.key" >>"$MISS_DIR.tmp/miss.lab.zone"
    t0=$(date +%s)
    (cd "$MISS_DIR.tmp" && dnssec-signzone -q -d . -o miss.lab. -k "$ksk.key" -f miss.lab.signed \
        miss.lab.zone "$zsk.key") >"$MISS_DIR.tmp/signzone.log" 2>&1 ||
        { cat "$MISS_DIR.tmp/signzone.log" >&2; die "dnssec-signzone miss.lab."; }
    SIGN_SECS=$(($(date +%s) - t0))
    echo "$SIGN_SECS" >"$MISS_DIR.tmp/sign-seconds"
    rm -f "$MISS_DIR.tmp/miss.lab.zone"
    rm -rf "$MISS_DIR"
    mv "$MISS_DIR.tmp" "$MISS_DIR"
    log "miss.lab.: signed in $SIGN_SECS s ($(du -m "$MISS_DIR/miss.lab.signed" | cut -f1) MiB)"
    SIGN_SECS="$SIGN_SECS s (signed in this run)"
}

write_zones() {
    cat >"$ZONES/root.zone" <<EOF
\$TTL $TTL
.                       IN SOA a.root-servers.lab. hostmaster.lab. 1 $SOA
.                       IN NS  a.root-servers.lab.
lab.                    IN NS  ns1.lab.
ns1.lab.                IN A   $LAB_IP
a.root-servers.lab.     IN A   $ROOT_IP
EOF
    cat >"$ZONES/lab.zone" <<EOF
\$TTL $TTL
lab.                    IN SOA ns1.lab. hostmaster.lab. 1 $SOA
lab.                    IN NS  ns1.lab.
ns1.lab.                IN A   $LAB_IP
a.root-servers.lab.     IN A   $ROOT_IP
www.lab.                IN A   127.56.1.1
example.lab.            IN NS  ns1.example.lab.
ns1.example.lab.        IN A   $LEAF_IP
miss.lab.               IN NS  ns1.miss.lab.
ns1.miss.lab.           IN A   $LEAF_IP
EOF
    cat "$MISS_DIR/dsset-miss.lab." >>"$ZONES/lab.zone"
    cat >"$ZONES/example.lab.zone" <<EOF
\$TTL $TTL
example.lab.            IN SOA ns1.example.lab. hostmaster.example.lab. 1 $SOA
example.lab.            IN NS  ns1.example.lab.
ns1.example.lab.        IN A   $LEAF_IP
www.example.lab.        IN A   127.56.2.1
*.wild.example.lab.     IN A   127.56.2.99
EOF
}

miss_zone
log "signing root, lab. (NSEC3) and example.lab. with dnssec-signzone"
write_zones
sign "$ZONES" example.lab. "$ZONES/example.lab.zone" example.lab.signed \
    "$(keygen "$WORK/keys" example.lab. ECDSAP256SHA256 ksk)" "$(keygen "$WORK/keys" example.lab. ECDSAP256SHA256)"
cat "$WORK/ds/dsset-example.lab." >>"$ZONES/lab.zone"
sign "$ZONES" lab. "$ZONES/lab.zone" lab.signed \
    "$(keygen "$WORK/keys" lab. RSASHA256 ksk)" "$(keygen "$WORK/keys" lab. RSASHA256)" -3 - -H 0
cat "$WORK/ds/dsset-lab." >>"$ZONES/root.zone"
sign "$ZONES" . "$ZONES/root.zone" root.signed \
    "$(keygen "$WORK/keys" . ECDSAP256SHA256 ksk)" "$(keygen "$WORK/keys" . ECDSAP256SHA256)"
# The trust anchor: the root's DS as dnssec-signzone wrote it.
cp "$WORK/ds/dsset-." "$ZONES/root.ds"
cat >"$ZONES/root.hints" <<EOF
.                       3600000 IN NS a.root-servers.lab.
a.root-servers.lab.     3600000 IN A  $ROOT_IP
EOF

# --- NSD -------------------------------------------------------------------------

nsd_conf() { # NAME IP ZONE=FILE...
    local name=$1 ip=$2 z
    shift 2
    mkdir -p "$WORK/nsd-$name"
    {
        cat <<EOF
server:
    ip-address: $ip
    port: $NSD_PORT
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$ZONES"
    database: ""
    pidfile: "$WORK/nsd-$name/nsd.pid"
    xfrdfile: "$WORK/nsd-$name/xfrd.state"
    zonelistfile: "$WORK/nsd-$name/zone.list"
    logfile: "$WORK/nsd-$name/nsd.log"
    server-count: 1
    verbosity: 1
    # No response rate limiting: NSD's default (200/s per client prefix,
    # counting every answer from one wildcard as one name) would drop or
    # truncate the wildcard workload.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
# nsd-control over a Unix socket (no keys): the query counters.
remote-control:
    control-enable: yes
    control-interface: "$WORK/nsd-$name/ctl.sock"
EOF
        for z in "$@"; do
            printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n' "${z%%=*}" "${z#*=}"
        done
    } >"$WORK/nsd-$name/nsd.conf"
    nsd-checkconf "$WORK/nsd-$name/nsd.conf" || die "nsd-checkconf nsd-$name"
}

wait_soa() { # IP ZONE SECS: an authoritative SOA within SECS
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        if dig +norec +time=1 +tries=1 @"$1" -p "$NSD_PORT" "$2" SOA 2>/dev/null |
            grep -q 'flags: qr aa'; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

start_nsd() { # NAME IP ZONE...: waits for each zone's SOA
    local name=$1 ip=$2 z t0=$SECONDS
    shift 2
    nsd -d -c "$WORK/nsd-$name/nsd.conf" >>"$WORK/nsd-$name/stdout.log" 2>&1 &
    NSD_PID[$name]=$!
    for z in "$@"; do
        wait_soa "$ip" "$z" "$NSD_READY_SECS" ||
            { cat "$WORK/nsd-$name/nsd.log" >&2; die "nsd $name did not answer $z SOA"; }
    done
    log "nsd $name on $ip:$NSD_PORT up in $((SECONDS - t0)) s"
}

# Measured processes (NSD, resolvers, dnsperf) run at NICE, above other work
# on the shared machine: everything started from here on inherits it.
if [[ $NICE != 0 ]]; then
    renice -n "$NICE" -p $$ >/dev/null 2>&1 || log "renice $NICE failed: running at normal priority"
fi

nsd_conf root "$ROOT_IP" ".=root.signed"
nsd_conf lab "$LAB_IP" "lab.=lab.signed"
nsd_conf leaf "$LEAF_IP" "example.lab.=example.lab.signed" "miss.lab.=$MISS_DIR/miss.lab.signed"
start_nsd root "$ROOT_IP" .
start_nsd lab "$LAB_IP" lab.
start_nsd leaf "$LEAF_IP" example.lab. miss.lab.

nsd_queries() { # queries received by the three NSDs since they started
    local name n total=0
    for name in root lab leaf; do
        n=$(nsd-control -c "$WORK/nsd-$name/nsd.conf" stats_noreset 2>/dev/null |
            sed -n 's/^num\.queries=\([0-9]*\)$/\1/p')
        [[ -n $n ]] || return 0
        total=$((total + n))
    done
    echo "$total"
}
[[ -n $(nsd_queries) ]] || log "nsd-control stats unavailable: no upstream query counts"

# --- names (generated here, same for every resolver) ---------------------------

NAMES=$WORK/names
mkdir -p "$NAMES"
awk -v n="$WARM_NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "h%07d.miss.lab A\n", i }' >"$NAMES/hit.txt"
for ((run = 1; run <= RUNS; run++)); do
    # Wildcard: unique per run (each resolver is restarted before: cold).
    awk -v r="$run" -v n=$((MISS_SECS * WILD_RATE)) \
        'BEGIN { for (i = 0; i < n; i++) printf "w%d%07d.wild.example.lab A\n", r, i }' >"$NAMES/wild-$run.txt"
    # Distinct signatures: this run's slice of miss.lab., workload 5 first.
    awk -v s=$(((run - 1) * SLICE)) -v n="$MLAT_NAMES" \
        'BEGIN { for (i = s; i < s + n; i++) printf "m%07d.miss.lab A\n", i }' >"$NAMES/mlat-$run.txt"
    awk -v s=$(((run - 1) * SLICE + MLAT_NAMES)) -v n="$MISS_RUN_NAMES" \
        'BEGIN { for (i = s; i < s + n; i++) printf "m%07d.miss.lab A\n", i }' >"$NAMES/miss-$run.txt"
done

# --- resolvers -------------------------------------------------------------------

fill() { # TEMPLATE OUT [THREADS]: the placeholders of benches/peers/*.in
    sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$RESOLVER_PORT#g" -e "s#@ZONES@#$ZONES#g" \
        -e "s#@THREADS@#${3:-1}#g" -e "s#@CONTROL@#127.0.0.1:$CONTROL_PORT#g" \
        -e "s#@CACHE_MIB@#$CACHE_MIB#g" -e "s#@CACHE_BYTES@#$((CACHE_MIB << 20))#g" \
        -e "s#@MSG_CACHE@#$((CACHE_MIB / 3))#g" -e "s#@RRSET_CACHE@#$((CACHE_MIB - CACHE_MIB / 3))#g" \
        -e "s#@CACHE_DIR@#$KRES_CACHE#g" "$HERE/peers/$1" >"$2"
}

# The root's DS for PowerDNS (Lua), from the same file the others read.
awk '{ for (i = 1; i <= NF; i++) if ($i == "DS") {
        d = ""; for (j = i + 4; j <= NF; j++) d = d $j
        printf "clearTA(\".\")\naddTA(\".\", \"%s %s %s %s\")\n", $(i + 1), $(i + 2), $(i + 3), d
    } }' "$ZONES/root.ds" >"$WORK/recursor.lua"
[[ -s $WORK/recursor.lua ]] || die "no DS in $ZONES/root.ds"

start_resolver() { # COL
    local c=$1 i bin
    case $c in
        unbound1 | unbound2)
            fill unbound.conf.in "$WORK/unbound.conf" "${c#unbound}"
            unbound -d -c "$WORK/unbound.conf" >"$WORK/$c.log" 2>&1 &
            ;;
        pdns1 | pdns2)
            fill recursor.conf.in "$WORK/recursor.conf" "${c#pdns}"
            pdns_recursor --config-dir="$WORK" >"$WORK/$c.log" 2>&1 &
            ;;
        kresd)
            mkdir -p "$WORK/kresd"
            rm -f "$KRES_CACHE"/*.mdb
            fill kresd.conf.in "$WORK/kresd/config"
            kresd -n -c config "$WORK/kresd" </dev/null >"$WORK/$c.log" 2>&1 &
            ;;
        lastgood | base)
            bin=$LG
            [[ $c == base ]] && bin=$LASTGOOD_BASE
            fill lastgood.toml.in "$WORK/lastgood.toml"
            "$bin" serve -c "$WORK/lastgood.toml" --listen "$RESOLVER:$RESOLVER_PORT" \
                --root-hints "$ZONES/root.hints" --trust-anchor "$ZONES/root.ds" \
                --upstream-port "$NSD_PORT" >"$WORK/$c.log" 2>&1 &
            ;;
    esac
    RES_PID=$! RES_COL=$c
    for ((i = 0; i < READY_TRIES; i++)); do
        if dig +time=1 +tries=1 @"$RESOLVER" -p "$RESOLVER_PORT" miss.lab. SOA 2>/dev/null |
            grep -q 'status: NOERROR'; then
            return 0
        fi
        kill -0 "$RES_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$WORK/$c.log" >&2
    die "$c did not answer miss.lab. SOA (log: $WORK/$c.log)"
}

stop_resolver() { # DIR PHASE: keeps the resolver's log and /proc status (threads, RSS) in DIR
    cp "/proc/$RES_PID/status" "$1/proc-status-$2.txt" 2>/dev/null
    stop_pid "$RES_PID"
    cp "$WORK/$RES_COL.log" "$1/resolver-$2.log" 2>/dev/null
    RES_PID="" RES_COL=""
}

# check_ad NAME...: each must be NOERROR with AD (validated) or we stop.
check_ad() {
    local n out
    for n in "$@"; do
        out=$(dig +time=5 +tries=1 @"$RESOLVER" -p "$RESOLVER_PORT" "$n" A 2>&1)
        if ! grep -q 'status: NOERROR' <<<"$out" || ! grep -Eq '^;; flags:[a-z ]* ad[ ;]' <<<"$out"; then
            printf '%s\n' "$out" >&2
            tail -20 "$WORK/$RES_COL.log" >&2
            die "$RES_COL: $n is not NOERROR with AD: not measuring a resolver that does not validate"
        fi
    done
}

# --- dnsperf, CPU, percentiles -------------------------------------------------

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # PID: utime + stime of the process, all its threads
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null
}

stat_of() { # FILE FIELD: a number from dnsperf's summary
    case $2 in
        qps) sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$1" ;;
        completed) sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1" ;;
        lost) sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1" ;;
        noerror) sed -n 's/^ *Response codes:.*NOERROR \([0-9]*\).*/\1/p' "$1" ;;
    esac | head -n1
}
num() { if [[ -n $1 ]]; then echo "$1"; else echo 0; fi; }

# run_dnsperf OUT SECS ARGS...: dnsperf against the resolver under test; sets
# CPU_S (resolver CPU seconds over the run), WALL_S and UPSTREAM (queries
# the NSDs received over the run, empty if unknown). Stops the script if
# the resolver died or dnsperf hung.
CPU_S=0 WALL_S=0 UPSTREAM=""
run_dnsperf() {
    local out=$1 secs=$2 t0 t1 c0 c1 q0 q1
    shift 2
    q0=$(nsd_queries)
    c0=$(cpu_ticks "$RES_PID")
    t0=$(date +%s%N)
    # In the background, so that INT/TERM reach the trap at once.
    timeout $((secs + DNSPERF_GRACE)) dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -t "$TIMEOUT_S" "$@" \
        >"$out" 2>&1 &
    wait $! || log "dnsperf exited non-zero, see $out"
    t1=$(date +%s%N)
    c1=$(cpu_ticks "$RES_PID")
    q1=$(nsd_queries)
    UPSTREAM=""
    [[ -n $q0 && -n $q1 ]] && UPSTREAM=$((q1 - q0))
    [[ -n $c0 && -n $c1 ]] || die "$RES_COL died during $(basename "$out") (log: $WORK/$RES_COL.log)"
    CPU_S=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN { printf "%.3f", (b - a) / t }')
    WALL_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}

RUN=0
put() { # METRIC VALUE: one measurement of the resolver under test
    printf '%s\t%s\t%s\t%s\n' "$RUN" "$RES_COL" "$1" "$2" >>"$RESULTS/values.tsv"
}

# record PREFIX FILE: QPS, cores, CPU per answer, lost, not-NOERROR
record() {
    local p=$1 f=$2 answered lost noerr
    answered=$(num "$(stat_of "$f" completed)")
    lost=$(num "$(stat_of "$f" lost)")
    noerr=$(num "$(stat_of "$f" noerror)")
    put "${p}_qps" "$(stat_of "$f" qps)"
    put "${p}_cores" "$(awk -v c="$CPU_S" -v w="$WALL_S" 'BEGIN { printf "%.3f", c / w }')"
    put "${p}_us" "$(awk -v c="$CPU_S" -v n="$answered" 'BEGIN { if (n > 0) printf "%.2f", c * 1e6 / n }')"
    put "${p}_lost" "$lost"
    if [[ -n $UPSTREAM ]]; then
        put "${p}_upq" "$(awk -v q="$UPSTREAM" -v n="$answered" 'BEGIN { if (n > 0) printf "%.3f", q / n }')"
        put "${p}_upstream" "$UPSTREAM"
    fi
    put "${p}_notnoerror" "$((answered - noerr))"
    if ((100 * (lost + answered - noerr) > answered + lost)); then
        log "WARNING: $RES_COL: $lost lost and $((answered - noerr)) not NOERROR of $((answered + lost)) in $f"
    fi
    printf '%s\tcpu_s=%s wall_s=%s upstream=%s\n' "$p" "$CPU_S" "$WALL_S" "$UPSTREAM" >>"${f%.txt}.cpu"
}

# latencies PREFIX FILE: p50, p99, max (ms) over every query sent, a lost
# query counting as TIMEOUT_S; keeps the sorted latencies, drops the
# per-query lines.
latencies() {
    local p=$1 f=$2 lost v
    lost=$(num "$(stat_of "$f" lost)")
    awk '/^> / { print $NF }' "$f" | sort -g | gzip >"${f%.txt}.sorted.gz"
    read -r -a v <<<"$(zcat "${f%.txt}.sorted.gz" | awk -v lost="$lost" -v to="$TIMEOUT_S" '
        { v[NR] = $1 }
        END {
            for (i = 1; i <= lost; i++) v[NR + i] = to
            n = NR + lost
            if (n == 0) { print "- - -"; exit }
            split("0.50 0.99", ps, " ")
            for (k = 1; k <= 2; k++) {
                r = int(ps[k] * n + 0.999999); if (r < 1) r = 1
                printf "%.3f ", v[r] * 1000
            }
            printf "%.3f\n", v[n] * 1000
        }')"
    put "${p}_p50" "${v[0]}"
    put "${p}_p99" "${v[1]}"
    [[ $p == mlat ]] && put "${p}_max" "${v[2]}"
    grep -v '^> ' "$f" >"${f%.txt}.summary.txt"
    rm -f "$f"
}

# --- the workloads -----------------------------------------------------------------

# 1 and 2: warm WARM_NAMES names (all NOERROR), max QPS, then LAT_QPS.
phase_hits() {
    local d=$1 f
    start_resolver "$RES_NEXT"
    check_ad h0000000.miss.lab. www.example.lab.
    run_dnsperf "$d/warm.txt" 60 -d "$NAMES/hit.txt" -n 1 -q 20
    [[ $(stat_of "$d/warm.txt" noerror) == "$WARM_NAMES" ]] ||
        die "$RES_COL: warming: $(stat_of "$d/warm.txt" noerror) of $WARM_NAMES NOERROR (see $d/warm.txt)"
    check_ad "h$(printf '%07d' $((WARM_NAMES - 1))).miss.lab."
    log "$RES_COL: 1. cache hits, max QPS (${HIT_SECS}s)"
    f=$d/hit.txt
    run_dnsperf "$f" "$HIT_SECS" -d "$NAMES/hit.txt" -l "$HIT_SECS" "${DNSPERF_ARGS[@]}"
    record hit "$f"
    log "$RES_COL: 2. cache hits at $LAT_QPS QPS (${LAT_SECS}s)"
    f=$d/latency.txt
    run_dnsperf "$f" "$LAT_SECS" -d "$NAMES/hit.txt" -l "$LAT_SECS" -Q "$LAT_QPS" "${DNSPERF_ARGS[@]}" -v
    record lat "$f"
    latencies lat "$f"
    stop_resolver "$d" "$PHASE"
}

# 3: unique names under the signed wildcard, each asked once.
phase_wild() {
    local d=$1 f=$1/wild.txt
    start_resolver "$RES_NEXT"
    check_ad "p$RUN$(printf '%07d' 0).wild.example.lab." h0000000.miss.lab.
    log "$RES_COL: 3. real misses, wildcard (${MISS_SECS}s)"
    run_dnsperf "$f" "$MISS_SECS" -d "$NAMES/wild-$RUN.txt" -n 1 -l "$MISS_SECS" "${DNSPERF_ARGS[@]}"
    record wild "$f"
    stop_resolver "$d" "$PHASE"
}

# 4: this run's miss.lab. names, each asked once (the file may end first).
phase_miss() {
    local d=$1 f=$1/miss.txt
    start_resolver "$RES_NEXT"
    check_ad h0000000.miss.lab.
    log "$RES_COL: 4. real misses, distinct signatures (${MISS_SECS}s or $MISS_RUN_NAMES names)"
    run_dnsperf "$f" "$MISS_SECS" -d "$NAMES/miss-$RUN.txt" -n 1 -l "$MISS_SECS" "${DNSPERF_ARGS[@]}"
    record miss "$f"
    stop_resolver "$d" "$PHASE"
}

# 5: the first part of this run's slice at MISS_LAT_QPS.
phase_mlat() {
    local d=$1 f=$1/miss-latency.txt
    start_resolver "$RES_NEXT"
    check_ad h0000000.miss.lab.
    log "$RES_COL: 5. real misses at $MISS_LAT_QPS QPS (${MISS_LAT_SECS}s)"
    run_dnsperf "$f" "$MISS_LAT_SECS" -d "$NAMES/mlat-$RUN.txt" -n 1 -l "$MISS_LAT_SECS" -Q "$MISS_LAT_QPS" \
        "${DNSPERF_ARGS[@]}" -v
    record mlat "$f"
    latencies mlat "$f"
    stop_resolver "$d" "$PHASE"
}

# --- run ---------------------------------------------------------------------------

top_procs() { # the busiest processes over 1 s (>= 5 % of a core)
    top -b -n 2 -d 1 -w 200 2>/dev/null | awk '/^top -/ { n++ } n == 2 && /^ *[0-9]+ / && $9 + 0 >= 5 {
        printf "  %5s%% %s\n", $9, $12 }' | head -8
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$SECONDS
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "tree: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- src crates 2>/dev/null || echo ' + uncommitted changes')"
    echo "lastgood: $LG ($("$LG" --version 2>/dev/null | head -1))${LASTGOOD:+, given by LASTGOOD: not built from the tree}"
    [[ -n ${LASTGOOD_BASE:-} ]] && echo "lastgood (base): $LASTGOOD_BASE ($("$LASTGOOD_BASE" --version 2>/dev/null | head -1))"
    echo "unbound $(ver unbound), pdns_recursor $(ver pdns), kresd $(ver kresd), nsd $(nsd -v 2>&1 | sed -n 's/^NSD version //p'), $(dnssec-signzone -V 2>&1 | head -1), dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
    echo "runs: $RUNS; seconds: hits $HIT_SECS, hits at $LAT_QPS QPS $LAT_SECS, misses $MISS_SECS, misses at $MISS_LAT_QPS QPS $MISS_LAT_SECS; dnsperf ${DNSPERF_ARGS[*]} -t $TIMEOUT_S"
    echo "miss.lab.: $MISS_NAMES names ($MISS_ALG, NSEC), $SLICE per run ($MLAT_NAMES for workload 5, $MISS_RUN_NAMES for workload 4); signing: $SIGN_SECS"
    echo "cache: $CACHE_MIB MiB per resolver"
    echo "cpus: $(nproc), load average before: $LOAD_BEFORE; measured at nice $(ps -o ni= -p $$ | tr -d ' ')"
    echo "busiest processes before (>= 5% cpu over 1 s):"
    top_procs
} >"$RESULTS/env.txt"
cat "$RESULTS/env.txt" >&2
: >"$RESULTS/values.tsv"

for ((RUN = 1; RUN <= RUNS; RUN++)); do
    # The order of the resolvers turns by one each run.
    order=()
    for ((i = 0; i < ${#COLS[@]}; i++)); do
        order+=("${COLS[$(((i + RUN - 1) % ${#COLS[@]}))]}")
    done
    log "run $RUN of $RUNS: ${order[*]}"
    for phase in hits wild miss mlat; do
        PHASE=$phase
        for RES_NEXT in "${order[@]}"; do
            d=$RESULTS/run$RUN/$RES_NEXT
            mkdir -p "$d"
            "phase_$phase" "$d"
        done
    done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "load average after: $LOAD_AFTER"
    echo "busiest processes after (>= 5% cpu over 1 s):"
    top_procs
} >>"$RESULTS/env.txt"
cp "$WORK"/unbound.conf "$WORK"/recursor.conf "$WORK"/kresd/config "$WORK"/lastgood.toml "$RESULTS/" 2>/dev/null
table "$RESULTS/values.tsv" >"$RESULTS/table.md"
{
    notes "$RESULTS/values.tsv"
    echo
    echo "Conditions: $(nproc) cores shared by dnsperf, NSD and the resolver under test, one"
    echo "resolver at a time, $RUNS run(s), medians (min-max); load average before $LOAD_BEFORE,"
    echo "after $LOAD_AFTER. Knot Resolver 5 cannot turn off synthesis from its cached wildcard"
    echo "and NSEC (RFC 8198): its wildcard rows are not real misses and are left out of the best"
    echo "peer. Whole run: $((SECONDS - STARTED)) s."
} >"$RESULTS/notes.md"

echo
cat "$RESULTS/env.txt"
echo
cat "$RESULTS/table.md" "$RESULTS/notes.md"
echo
echo "results: $RESULTS"
echo "elapsed: $((SECONDS / 60)) min $((SECONDS % 60)) s (runs $((SECONDS - STARTED)) s, setup $STARTED s)"
