#!/usr/bin/env bash
# Side-by-side load comparison of lastgood and Unbound (issue 6):
#
#   benches/load.sh
#
# The quick lastgood-vs-Unbound check on the lab's own authorities, with
# the stale and RSS phases. The comparison with every peer (Unbound 1 and 2
# threads, PowerDNS Recursor, Knot Resolver) on NSD-served, BIND-signed
# zones, a miss per distinct signature and medians of several runs is
# benches/peers.sh (issue 20).
#
# Installs dnsperf and unbound from Debian if missing, builds lastgood from
# the current tree (cargo build --release), starts the lab authorities
# (`lastgood lab`, signed root / lab. / example.lab. on 127.53.0.1-4 port 53)
# and measures, one resolver at a time, with the same dnsperf settings:
#
#   1. cache-hit max QPS over WARM_NAMES warmed names (*.wild.example.lab.)
#   2. p50 / p99 latency at a fixed LAT_QPS over the same names (dnsperf -v)
#   3. real-miss QPS: unique names under the wildcard, each asked once
#   4. stale answers during an outage: short-TTL lab, warm, `fault
#      example.lab. drop`, wait past the TTL, ask the expired names
#   5. VmRSS / VmHWM after a unique-name flood (64 MiB cache in both)
#
# Prints a markdown table (metric | lastgood | Unbound | ratio) and keeps it
# with every raw dnsperf output in RESULTS_DIR. See benches/README.md.
#
# Environment (defaults in brackets): HIT_SECS [15], LAT_SECS [10],
# LAT_QPS [20000], MISS_SECS [15], FLOOD_SECS [60], FLOOD_MIN [100000],
# WARM_NAMES [1000], STALE_TTL [5], STALE_NAMES [500], STALE_QPS [100],
# DNSPERF_ARGS ["-c 8 -T 1 -q 200"], NICE [-10], RESOLVER_PORT [53700],
# CONTROL_PORT [53701], LAB_CONTROL_PORT [53702], RESULTS_DIR
# [target/load/<date>], KEEP_WORK=1 keeps the temp dir.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

HIT_SECS=${HIT_SECS:-15}
LAT_SECS=${LAT_SECS:-10}
LAT_QPS=${LAT_QPS:-20000}
MISS_SECS=${MISS_SECS:-15}
FLOOD_SECS=${FLOOD_SECS:-60}
FLOOD_MIN=${FLOOD_MIN:-100000}
WARM_NAMES=${WARM_NAMES:-1000}
STALE_TTL=${STALE_TTL:-5}
STALE_NAMES=${STALE_NAMES:-500}
STALE_QPS=${STALE_QPS:-100}
# 8 sockets (so SO_REUSEPORT spreads them over both resolvers' workers),
# one dnsperf thread, 200 queries in flight: the most QPS from both
# resolvers on this 2-core machine with ~0 lost (tried -c 1..32, -T 1..2,
# -q 100..1000).
read -r -a DNSPERF_ARGS <<<"${DNSPERF_ARGS:--c 8 -T 1 -q 200}"
# Priority of everything measured (lab, resolvers, dnsperf), set after the build.
NICE=${NICE:--10}
RESOLVER_PORT=${RESOLVER_PORT:-53700}
CONTROL_PORT=${CONTROL_PORT:-53701}
LAB_CONTROL_PORT=${LAB_CONTROL_PORT:-53702}
# Unbound learns the lab's servers from root hints and glue and always asks
# them on port 53, so the lab listens there (on its own 127.53.0.x).
LAB_PORT=53
LEAF_IP=127.53.0.3 # example.lab. and other.lab.
RESOLVER=127.0.0.1
THREADS=2
# Bounds: waits for a process to come up, and the longest dnsperf run.
READY_TRIES=100 # x 0.1 s
FLOOD_CAP_SECS=$((FLOOD_SECS * 3))

RESULTS=${RESULTS_DIR:-$REPO/target/load/$(date +%Y%m%d-%H%M%S)}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'load: %s\n' "$*" >&2
    exit 1
}

# --- processes and cleanup ---------------------------------------------------

WORK=""
LAB_PID=""
RES_PID=""
CHAIN=""

# stop_pid (benches/lib.sh)
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$RES_PID"
    stop_pid "$LAB_PID"
    # Any dnsperf still running is a child of this shell.
    local pids
    pids=$(jobs -p)
    [[ -n $pids ]] && kill $pids 2>/dev/null
    if [[ -n $CHAIN ]]; then
        iptables -w -D INPUT -j "$CHAIN" 2>/dev/null
        iptables -w -F "$CHAIN" 2>/dev/null
        iptables -w -X "$CHAIN" 2>/dev/null
    fi
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

# --- tools, ports, build -----------------------------------------------------

install_tools() {
    local missing=()
    command -v dnsperf >/dev/null || missing+=(dnsperf)
    command -v unbound >/dev/null || missing+=(unbound)
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]} (apt-get)"
    apt_install "${missing[@]}"
    command -v dnsperf >/dev/null && command -v unbound >/dev/null ||
        die "dnsperf or unbound still missing"
}

install_tools
# The lab takes port 53 on 127.53.0.1-4 only: another lab on other addresses
# (127.54.0.x) does not stop this one.
port_free "$LAB_PORT" 127.53.0.1 127.53.0.2 127.53.0.3 127.53.0.4 ||
    die "port $LAB_PORT is in use: $(ss -Hlnutp "sport = :$LAB_PORT" | head -3)"
for p in "$RESOLVER_PORT" "$CONTROL_PORT" "$LAB_CONTROL_PORT"; do
    port_free "$p" || die "port $p is in use: $(ss -Hlnutp "sport = :$p" | head -3)"
done

log "cargo build --release"
(cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
LG=$REPO/target/release/lastgood
[[ -x $LG ]] || die "no binary at $LG"

# Measure at a higher priority than other work on the shared machine
# (compiles, fuzzers): every process started from here on inherits it.
if [[ $NICE != 0 ]]; then
    renice -n "$NICE" -p $$ >/dev/null 2>&1 || log "renice $NICE failed: running at normal priority"
fi

mkdir -p "$RESULTS" || die "cannot create $RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-load.XXXXXX")

# --- name lists (generated here, never committed) ------------------------------
#
# *.wild.example.lab. is a signed wildcard: every name below it exists and
# is validated (RRSIG with the wildcard's label count plus an NSEC proof),
# and each name is cached on its own (Unbound's aggressive NSEC is off).

names() { # PREFIX COUNT FILE
    awk -v p="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "%s%d.wild.example.lab A\n", p, i }' >"$3"
}
names h "$WARM_NAMES" "$WORK/hit.txt"
names s "$STALE_NAMES" "$WORK/stale.txt"
# Enough unique names that no run reaches the end of its file: 200k/s.
names m $((MISS_SECS * 200000)) "$WORK/miss.txt"
names f "$FLOOD_MIN" "$WORK/flood1.txt"
names g $((FLOOD_SECS * 200000)) "$WORK/flood2.txt"

# --- upstream counters (packets into the lab, counted by the kernel) ----------

CHAIN=LGLOAD$$
if iptables -w -N "$CHAIN" 2>/dev/null; then
    iptables -w -A "$CHAIN" -d "$LEAF_IP/32" -p udp --dport "$LAB_PORT" &&
        iptables -w -A "$CHAIN" -d 127.53.0.0/24 -p udp --dport "$LAB_PORT" &&
        iptables -w -A "$CHAIN" -d 127.53.0.0/24 -p tcp --dport "$LAB_PORT" --syn &&
        iptables -w -I INPUT 1 -j "$CHAIN" || {
        log "iptables counters unavailable: upstream query counts will be n/a"
        iptables -w -F "$CHAIN" 2>/dev/null
        iptables -w -X "$CHAIN" 2>/dev/null
        CHAIN=""
    }
else
    log "iptables unavailable: upstream query counts will be n/a"
    CHAIN=""
fi
counters_zero() { [[ -n $CHAIN ]] && iptables -w -Z "$CHAIN" >/dev/null 2>&1; }
counters() { # prints: leaf-udp all-udp all-tcp-syn (packets)
    if [[ -z $CHAIN ]]; then
        echo "n/a n/a n/a"
        return
    fi
    iptables -w -nvx -L "$CHAIN" 2>/dev/null | awk 'NR > 2 { printf "%s ", $1 } END { print "" }'
}

# --- lab ---------------------------------------------------------------------

"$LG" lab --keygen "$WORK/keys" >/dev/null || die "lastgood lab --keygen failed"

start_lab() { # [TTL]: the lab with the same keys every time
    local ttl=() i
    [[ -n ${1:-} ]] && ttl=(--ttl "$1")
    stop_pid "$LAB_PID"
    LAB_PID=""
    "$LG" lab --zones "$REPO/zones" --port "$LAB_PORT" --keys "$WORK/keys" --out "$WORK/lab" \
        --control "127.0.0.1:$LAB_CONTROL_PORT" "${ttl[@]}" >"$WORK/lab.log" 2>&1 &
    LAB_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        grep -q '^control: udp' "$WORK/lab.log" && return 0
        kill -0 "$LAB_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$WORK/lab.log" >&2
    die "the lab did not start"
}

labctl() { "$LG" lab-ctl "127.0.0.1:$LAB_CONTROL_PORT" "$@" >/dev/null || die "lab-ctl $*"; }

# --- resolvers -----------------------------------------------------------------

sed "s#@CONTROL@#127.0.0.1:$CONTROL_PORT#" "$HERE/load/lastgood.toml.in" >"$WORK/lastgood.toml"
# Issue 18: STORE=on gives lastgood a state-dir, so its last-good store
# (state-dir/cache.redb) is on; emptied at each start of the resolver.
STORE=${STORE:-off}
if [[ $STORE == on ]]; then
    mkdir -p "$WORK/state"
    printf 'state-dir = "%s"\n' "$WORK/state" >>"$WORK/lastgood.toml"
fi
# Issue 18 part B: REDIS=on gives lastgood the fleet tier (`redis-url`) on a
# redis-server of this script's own (Unix socket in the work dir; installed
# from Debian if missing), emptied at each start of the resolver.
REDIS=${REDIS:-off}
if [[ $REDIS == on ]]; then
    command -v redis-server >/dev/null 2>&1 || apt-get install -y -qq redis-server >/dev/null ||
        die "cannot install redis-server"
    redis-server --port 0 --unixsocket "$WORK/redis.sock" --unixsocketperm 700 --save "" \
        --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    for ((i = 0; i < READY_TRIES; i++)); do
        [[ -S $WORK/redis.sock ]] && break
        sleep 0.1
    done
    [[ -S $WORK/redis.sock ]] || die "redis-server did not start"
    printf 'redis-url = "redis+unix://%s"\n' "$WORK/redis.sock" >>"$WORK/lastgood.toml"
fi
sed -e "s#@WORK@#$WORK#g" -e "s#@PORT@#$RESOLVER_PORT#" -e "s#@THREADS@#$THREADS#" \
    "$HERE/load/unbound.conf.in" >"$WORK/unbound.conf"

start_resolver() { # lastgood|unbound
    local i
    case $1 in
        lastgood)
            rm -f "$WORK/state/cache.redb"
            [[ $REDIS == on ]] && redis-cli -s "$WORK/redis.sock" FLUSHALL >/dev/null
            "$LG" serve -c "$WORK/lastgood.toml" --listen "$RESOLVER:$RESOLVER_PORT" \
                --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
                --upstream-port "$LAB_PORT" >"$WORK/lastgood.log" 2>&1 &
            ;;
        unbound)
            unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 &
            ;;
    esac
    RES_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        if "$LG" query -s "$RESOLVER:$RESOLVER_PORT" example.lab. SOA 2>/dev/null |
            grep -q '^;; status: NOERROR'; then
            return 0
        fi
        kill -0 "$RES_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$WORK/$1.log" >&2
    die "$1 did not answer example.lab. SOA"
}

stop_resolver() {
    stop_pid "$RES_PID"
    RES_PID=""
}

# --- dnsperf and its output ----------------------------------------------------

perf() { # OUT ARGS...: dnsperf against the resolver, raw output kept
    local out=$1
    shift
    dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" "$@" >"$out" 2>&1 ||
        log "dnsperf exited non-zero, see $out"
}
stat_of() { # FILE FIELD: a number from dnsperf's summary
    case $2 in
        qps) sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$1" ;;
        sent) sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$1" ;;
        completed) sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1" ;;
        lost) sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1" ;;
        runtime) sed -n 's/^ *Run time (s): *\([0-9.]*\).*/\1/p' "$1" ;;
        noerror) sed -n 's/^ *Response codes:.*NOERROR \([0-9]*\).*/\1/p' "$1" ;;
    esac | head -n1
}
num() { local v=$1; [[ -n $v ]] && echo "$v" || echo 0; }

# percentiles FILE: "p50 p99" in ms over every query sent; a lost query
# counts as slower than any answer ("lost" if the percentile falls on one).
percentiles() {
    local lost
    lost=$(num "$(stat_of "$1" lost)")
    awk '/^> / { print $NF }' "$1" | sort -g | awk -v lost="$lost" '
        { v[NR] = $1 }
        END {
            n = NR + lost
            if (n == 0) { print "n/a n/a"; exit }
            split("0.50 0.99", ps, " ")
            for (k = 1; k <= 2; k++) {
                r = int(ps[k] * n + 0.999999); if (r < 1) r = 1
                if (r > NR) out = out "lost "
                else out = out sprintf("%.3f ", v[r] * 1000)
            }
            print out
        }'
}

# warm FILE OUT: ask every name once; all must be NOERROR.
warm() {
    local want
    want=$(wc -l <"$1")
    perf "$2" -d "$1" -n 1 -q 20 -t 5
    [[ $(stat_of "$2" noerror) == "$want" ]] ||
        die "warming with $1: $(stat_of "$2" noerror) of $want NOERROR (see $2)"
}

rss_of() { # PID: "VmRSS VmHWM" in MiB
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { printf "%.1f %.1f\n", r / 1024, h / 1024 }' \
        "/proc/$1/status"
}

metric_sum() { # NAME: sum of a lastgood counter over its labels
    curl -sf "http://127.0.0.1:$CONTROL_PORT/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

declare -A R # R[resolver.metric]

store_metric() { # NAME: one lastgood sample, integer
    curl -sf "http://127.0.0.1:$CONTROL_PORT/metrics" | awk -v n="$1" '$1 == n { printf "%d", $2 }'
}

measure() { # lastgood|unbound: phases 1, 2, 3 and 5 on a long-TTL lab
    local r=$1 d=$RESULTS/$1 t0 rest c
    mkdir -p "$d"
    start_resolver "$r"
    log "$r: warming $WARM_NAMES names"
    warm "$WORK/hit.txt" "$d/warm.txt"
    read -r "R[$r.rss0]" _ <<<"$(rss_of "$RES_PID")"

    log "$r: cache-hit max QPS (${HIT_SECS}s, ${DNSPERF_ARGS[*]})"
    perf "$d/hit.txt" -d "$WORK/hit.txt" -l "$HIT_SECS" "${DNSPERF_ARGS[@]}"
    R[$r.hit_qps]=$(stat_of "$d/hit.txt" qps)
    R[$r.hit_lost]=$(stat_of "$d/hit.txt" lost)

    log "$r: latency at $LAT_QPS QPS (${LAT_SECS}s)"
    perf "$d/latency.txt" -d "$WORK/hit.txt" -l "$LAT_SECS" -Q "$LAT_QPS" "${DNSPERF_ARGS[@]}" -v
    read -r "R[$r.lat_p50]" "R[$r.lat_p99]" <<<"$(percentiles "$d/latency.txt")"
    R[$r.lat_qps]=$(stat_of "$d/latency.txt" qps)
    R[$r.lat_lost]=$(stat_of "$d/latency.txt" lost)
    # Keep the summary, not 200k per-query lines.
    grep -v '^> ' "$d/latency.txt" >"$d/latency.summary.txt"
    awk '/^> / { print $NF }' "$d/latency.txt" | sort -g | gzip >"$d/latency.sorted.gz"
    rm -f "$d/latency.txt"

    log "$r: real misses (${MISS_SECS}s, unique names)"
    counters_zero
    perf "$d/miss.txt" -d "$WORK/miss.txt" -n 1 -l "$MISS_SECS" "${DNSPERF_ARGS[@]}"
    read -r -a c <<<"$(counters)"
    R[$r.miss_up]=$(awk -v u="${c[1]:-}" -v t="${c[2]:-}" 'BEGIN { if (u == "" || u == "n/a") print "n/a"; else print u + t }')
    R[$r.miss_qps]=$(stat_of "$d/miss.txt" qps)
    R[$r.miss_sent]=$(num "$(stat_of "$d/miss.txt" sent)")
    R[$r.miss_noerror]=$(num "$(stat_of "$d/miss.txt" noerror)")

    log "$r: unique-name flood (>= $FLOOD_MIN names, ~${FLOOD_SECS}s)"
    if [[ $r == lastgood ]]; then
        R[store_w0]=$(store_metric lastgood_store_writes_total)
    fi
    t0=$SECONDS
    perf "$d/flood1.txt" -d "$WORK/flood1.txt" -n 1 -l "$FLOOD_CAP_SECS" "${DNSPERF_ARGS[@]}"
    rest=$((FLOOD_SECS - (SECONDS - t0)))
    if ((rest > 0)); then
        perf "$d/flood2.txt" -d "$WORK/flood2.txt" -n 1 -l "$rest" "${DNSPERF_ARGS[@]}"
    fi
    local f1 f2
    f1=$(num "$(stat_of "$d/flood1.txt" sent)")
    f2=$(num "$(stat_of "$d/flood2.txt" sent 2>/dev/null)")
    R[$r.flood_names]=$((${R[$r.miss_sent]} + f1 + f2))
    R[$r.flood_secs]=$((SECONDS - t0))
    kill -0 "$RES_PID" 2>/dev/null || die "$r died during the flood (see $WORK/$r.log)"
    read -r "R[$r.rss]" "R[$r.hwm]" <<<"$(rss_of "$RES_PID")"
    cp "/proc/$RES_PID/status" "$d/proc-status.txt"
    # The cache's size as each resolver counts it.
    if [[ $r == lastgood ]]; then
        curl -sf "http://127.0.0.1:$CONTROL_PORT/metrics" >"$d/metrics.txt"
        R[$r.cache_mib]=$(awk '$1 == "lastgood_cache_bytes" { printf "%.1f", $2 / 1048576 }' "$d/metrics.txt")
        R[$r.cache_entries]=$(awk '$1 == "lastgood_cache_entries" { printf "%d", $2 }' "$d/metrics.txt")
        if [[ $STORE == on ]]; then
            R[store_w1]=$(store_metric lastgood_store_writes_total)
            R[store_dropped]=$(awk '/^lastgood_store_write_dropped_total/ { s += $2 } END { printf "%d", s }' "$d/metrics.txt")
            R[store_entries]=$(store_metric lastgood_store_entries)
            R[store_mib]=$(awk '$1 == "lastgood_store_bytes" { printf "%.1f", $2 / 1048576 }' "$d/metrics.txt")
            R[store_file_mib]=$(du -m "$WORK/state/cache.redb" | cut -f1)
        fi
    else
        # Switched on only now: per-query extended counters would slow its hit path.
        unbound-control -c "$WORK/unbound.conf" set_option extended-statistics: yes >/dev/null 2>&1
        unbound-control -c "$WORK/unbound.conf" stats_noreset >"$d/unbound-stats.txt" 2>&1
        R[$r.cache_mib]=$(awk -F= '$1 == "mem.cache.rrset" || $1 == "mem.cache.message" { s += $2 }
            END { if (s > 0) printf "%.1f", s / 1048576 }' "$d/unbound-stats.txt")
        R[$r.cache_entries]=$(awk -F= '$1 == "msg.cache.count" || $1 == "rrset.cache.count" { s += $2; n++ }
            END { if (n) printf "%d", s }' "$d/unbound-stats.txt")
    fi
    R[$r.cache_mib]=${R[$r.cache_mib]:-n/a}
    R[$r.cache_entries]=${R[$r.cache_entries]:-n/a}
    stop_resolver
}

stale() { # lastgood|unbound: phase 4 on a short-TTL lab started afresh
    local r=$1 d=$RESULTS/$1 c before after
    mkdir -p "$d"
    start_lab "$STALE_TTL"
    start_resolver "$r"
    log "$r: stale: warming $STALE_NAMES names (TTL ${STALE_TTL}s), then example.lab. drops"
    warm "$WORK/stale.txt" "$d/stale-warm.txt"
    labctl fault example.lab. drop
    sleep $((STALE_TTL + 2))
    counters_zero
    before=$(metric_sum lastgood_upstream_queries_total)
    perf "$d/stale.txt" -d "$WORK/stale.txt" -n 1 -Q "$STALE_QPS" -q 500 -t 5 -v
    read -r -a c <<<"$(counters)"
    after=$(metric_sum lastgood_upstream_queries_total)
    # One answer as a client sees it (TTL, EDE), for the record.
    "$LG" query -s "$RESOLVER:$RESOLVER_PORT" s1.wild.example.lab. A >"$d/stale-sample.txt" 2>&1
    read -r "R[$r.stale_p50]" "R[$r.stale_p99]" <<<"$(percentiles "$d/stale.txt")"
    R[$r.stale_noerror]=$(num "$(stat_of "$d/stale.txt" noerror)")
    R[$r.stale_sent]=$(num "$(stat_of "$d/stale.txt" sent)")
    R[$r.up_leaf]=${c[0]:-n/a}
    R[$r.up_all]=$(awk -v u="${c[1]:-}" -v t="${c[2]:-}" 'BEGIN { if (u == "" || u == "n/a") print "n/a"; else print u + t }')
    if [[ $r == lastgood ]]; then
        R[$r.up_metric]=$((after - before))
    else
        R[$r.up_metric]="n/a"
    fi
    stop_resolver
    stop_pid "$LAB_PID"
    LAB_PID=""
}

# --- run -----------------------------------------------------------------------

# What else is using the CPU: a 1 s sample of the busiest processes.
top_procs() {
    top -b -n 2 -d 1 -w 200 2>/dev/null | awk '/^top -/ { n++ } n == 2 && /^ *[0-9]+ / && $9 + 0 >= 5 {
        printf "  %5s%% %s\n", $9, $12 }' | head -8
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$SECONDS
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "tree: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/')"
    echo "lastgood: $("$LG" --version 2>/dev/null | head -1)"
    echo "unbound: $(unbound -V 2>/dev/null | sed -n 's/^Version //p')"
    echo "dnsperf: $(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
    echo "cpus: $(nproc), load average before: $LOAD_BEFORE; measured at nice $(ps -o ni= -p $$ | tr -d ' ')"
    echo "busiest processes before (>= 5% cpu over 1 s):"
    top_procs
} >"$RESULTS/env.txt"

start_lab
unbound-checkconf "$WORK/unbound.conf" >/dev/null || die "unbound-checkconf failed"
for r in lastgood unbound; do
    measure "$r"
done
for r in lastgood unbound; do
    stale "$r"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "load average after: $LOAD_AFTER"
    echo "busiest processes after (>= 5% cpu over 1 s):"
    top_procs
} >>"$RESULTS/env.txt"
cp "$WORK/unbound.conf" "$WORK/lastgood.toml" "$RESULTS/"

# --- table ---------------------------------------------------------------------

ratio() { # A B: A/B with two decimals, or n/a
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) {
            r = a / b; if (r < 0.01) printf "%.4f", r; else printf "%.3g", r }
        else print "n/a" }'
}
fmt0() { awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.0f", a; else print (a == "" ? "n/a" : a) }'; }
pct() { # PART WHOLE: percent, one decimal
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'
}
per() { # A B: A/B with two decimals
    awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9]+$/ && b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'
}
row() { # METRIC LASTGOOD UNBOUND [RATIO]
    printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "${4-$(ratio "$2" "$3")}"
}

L=lastgood U=unbound
{
    echo "| metric | lastgood | Unbound | ratio lastgood/Unbound |"
    echo "|---|---|---|---|"
    row "1. cache-hit max QPS ($WARM_NAMES names, ${HIT_SECS}s)" "$(fmt0 "${R[$L.hit_qps]}")" "$(fmt0 "${R[$U.hit_qps]}")"
    row "2. p50 latency at $LAT_QPS QPS (ms)" "${R[$L.lat_p50]}" "${R[$U.lat_p50]}"
    row "2. p99 latency at $LAT_QPS QPS (ms)" "${R[$L.lat_p99]}" "${R[$U.lat_p99]}"
    row "2. achieved QPS / lost" "$(fmt0 "${R[$L.lat_qps]}") / ${R[$L.lat_lost]}" "$(fmt0 "${R[$U.lat_qps]}") / ${R[$U.lat_lost]}" "-"
    row "3. real-miss QPS (unique names, ${MISS_SECS}s)" "$(fmt0 "${R[$L.miss_qps]}")" "$(fmt0 "${R[$U.miss_qps]}")"
    row "3. misses answered NOERROR" "$(pct "${R[$L.miss_noerror]}" "${R[$L.miss_sent]}") of ${R[$L.miss_sent]}" \
        "$(pct "${R[$U.miss_noerror]}" "${R[$U.miss_sent]}") of ${R[$U.miss_sent]}" "-"
    row "3. upstream queries per miss (all lab servers)" "$(per "${R[$L.miss_up]}" "${R[$L.miss_sent]}")" \
        "$(per "${R[$U.miss_up]}" "${R[$U.miss_sent]}")"
    row "4. stale p50 latency, leaf down (ms)" "${R[$L.stale_p50]}" "${R[$U.stale_p50]}"
    row "4. stale p99 latency, leaf down (ms)" "${R[$L.stale_p99]}" "${R[$U.stale_p99]}"
    row "4. stale answers (NOERROR) of expired names asked" "${R[$L.stale_noerror]} / ${R[$L.stale_sent]}" \
        "${R[$U.stale_noerror]} / ${R[$U.stale_sent]}" "-"
    row "4. upstream UDP queries to the dead leaf per client query" "$(per "${R[$L.up_leaf]}" "${R[$L.stale_sent]}")" \
        "$(per "${R[$U.up_leaf]}" "${R[$U.stale_sent]}")"
    row "4. upstream queries to any lab server per client query" "$(per "${R[$L.up_all]}" "${R[$L.stale_sent]}")" \
        "$(per "${R[$U.up_all]}" "${R[$U.stale_sent]}")"
    row "5. VmRSS after warming 1000 names (MiB, baseline)" "${R[$L.rss0]}" "${R[$U.rss0]}"
    row "5. VmRSS after unique-name flood (MiB, 64 MiB cache)" "${R[$L.rss]}" "${R[$U.rss]}"
    row "5. VmHWM (peak RSS, MiB)" "${R[$L.hwm]}" "${R[$U.hwm]}"
    row "5. cache size as the resolver counts it (MiB)" "${R[$L.cache_mib]}" "${R[$U.cache_mib]}"
    row "5. cache entries (lastgood: answers; Unbound: messages + RRsets)" "${R[$L.cache_entries]}" \
        "${R[$U.cache_entries]}" "-"
    row "5. unique names asked (misses + flood) / flood seconds" "${R[$L.flood_names]} / ${R[$L.flood_secs]}" \
        "${R[$U.flood_names]} / ${R[$U.flood_secs]}" "-"
} >"$RESULTS/table.md"

{
    echo
    echo "Conditions: $(nproc) cores shared by dnsperf and the resolver under test; one resolver"
    echo "running at a time; lab authorities (lastgood lab) on 127.53.0.1-4:$LAB_PORT, same keys"
    echo "and zones for both; dnsperf ${DNSPERF_ARGS[*]} (warm-up -q 20); load average before"
    echo "$LOAD_BEFORE, after $LOAD_AFTER. Latencies count lost queries as slower than any answer."
    echo "lastgood's own upstream counter during the outage: ${R[$L.up_metric]} queries"
    echo "(lastgood_upstream_queries_total). Whole run: $((SECONDS - STARTED)) s."
    if [[ $STORE == on ]]; then
        echo "lastgood's last-good store was on (STORE=on). During the phase 5 flood it wrote"
        echo "$(( ${R[store_w1]:-0} - ${R[store_w0]:-0} )) entries in ${R[lastgood.flood_secs]} s"
        echo "($(per "$(( ${R[store_w1]:-0} - ${R[store_w0]:-0} ))" "${R[lastgood.flood_secs]}") entries/s);"
        echo "entries not written over the whole run (queue full, no chain): ${R[store_dropped]:-n/a}; after"
        echo "the flood it held ${R[store_entries]:-n/a} entries, ${R[store_mib]:-n/a} MiB live, file ${R[store_file_mib]:-n/a} MiB."
    else
        echo "lastgood's last-good store was off (no state-dir; STORE=on turns it on)."
    fi
    if [[ $REDIS == on ]]; then
        echo "lastgood's fleet tier was on (REDIS=on: redis-url on a local redis-server)."
    fi
} >"$RESULTS/notes.md"

echo
cat "$RESULTS/env.txt"
echo
cat "$RESULTS/table.md" "$RESULTS/notes.md"
echo
echo "results: $RESULTS"
