#!/usr/bin/env bash
# The fleet tier under load (issue 18 part B):
#
#   benches/fleet.sh
#
# Builds lastgood (cargo build --release), starts the lab on LAB_PORT and a
# redis-server of its own (Unix socket in a temp dir; installs dnsperf and
# redis-server from Debian if missing), then:
#
#   1. cache-hit max QPS, Redis off vs on: ROUNDS alternating runs (off, on,
#      off, on, ...), each a fresh lastgood, WARM_NAMES names warmed, then
#      `dnsperf -l HIT_SECS` over them (load.sh's phase 1 settings);
#   2. Redis stopped mid-load: one lastgood with Redis, dnsperf at LOAD_QPS
#      for PERIOD seconds four times over names half warmed (hits) and half
#      never asked (misses, which read Redis first): Redis up; hung
#      (SIGSTOP one second into the run); killed (SIGKILL one second in);
#      restarted. Per period: p50/p99 latency (dnsperf -v), queries lost,
#      answers other than NOERROR, VmRSS at its end.
#
# Prints markdown tables; raw outputs stay in RESULTS_DIR
# (target/fleet/<date>). Environment: HIT_SECS [10], WARM_NAMES [1000],
# ROUNDS [4], LOAD_QPS [1000], PERIOD [10], LAB_PORT [53810],
# RESOLVER_PORT [53811], NICE [-10], DNSPERF_ARGS ["-c 8 -T 1 -q 200"].
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

HIT_SECS=${HIT_SECS:-10}
WARM_NAMES=${WARM_NAMES:-1000}
ROUNDS=${ROUNDS:-4}
LOAD_QPS=${LOAD_QPS:-1000}
PERIOD=${PERIOD:-10}
LAB_PORT=${LAB_PORT:-53810}
RESOLVER_PORT=${RESOLVER_PORT:-53811}
NICE=${NICE:--10}
read -r -a DNSPERF_ARGS <<<"${DNSPERF_ARGS:--c 8 -T 1 -q 200}"
RESOLVER=127.0.0.1
READY_TRIES=100 # x 0.1 s

die() { echo "fleet.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

for tool in dnsperf redis-server; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        pkg=$tool
        [[ $tool == redis-server ]] && pkg=redis-server
        apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null || die "cannot install $pkg"
    fi
done

cd "$REPO" || die "no repo"
# LG=path uses that binary (e.g. docker/build.sh's static one) instead of
# building target/release/lastgood.
if [[ -z ${LG:-} ]]; then
    cargo build --release --quiet || die "cargo build --release failed"
    LG="$REPO/target/release/lastgood"
fi
RESULTS_DIR=${RESULTS_DIR:-$REPO/target/fleet/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
WORK=$(mktemp -d)
LAB_PID="" RES_PID="" REDIS_PID=""

if ss -lnu 2>/dev/null | grep -qE ":($LAB_PORT|$RESOLVER_PORT)\b"; then
    die "something listens on UDP port $LAB_PORT or $RESOLVER_PORT"
fi
stop_pid() { [[ -n ${1:-} ]] && { kill -CONT "$1" 2>/dev/null; kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }; }
cleanup() {
    stop_pid "$RES_PID"
    stop_pid "$REDIS_PID"
    stop_pid "$LAB_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT

run() { nice -n "$NICE" "$@"; }

"$LG" lab --keygen "$WORK/keys" >/dev/null || die "lab --keygen"
nice -n "$NICE" "$LG" lab --zones "$REPO/zones" --port "$LAB_PORT" --keys "$WORK/keys" --out "$WORK/lab" \
    >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for ((i = 0; i < READY_TRIES; i++)); do
    [[ -s $WORK/lab/root.hints ]] && break
    sleep 0.1
done
[[ -s $WORK/lab/root.hints ]] || { cat "$WORK/lab.log" >&2; die "the lab did not start"; }
sleep 0.5

start_redis() {
    rm -f "$WORK/redis.sock"
    nice -n "$NICE" redis-server --port 0 --unixsocket "$WORK/redis.sock" --unixsocketperm 700 \
        --save "" --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        [[ -S $WORK/redis.sock ]] && return 0
        sleep 0.1
    done
    die "redis-server did not start"
}

start_resolver() { # on|off
    {
        echo 'cache-size = 67108864'
        echo 'control-listen = ""'
        echo "control-socket = \"$WORK/control-$1.sock\""
        [[ $1 == on ]] && echo "redis-url = \"redis+unix://$WORK/redis.sock\""
    } >"$WORK/lastgood-$1.toml"
    nice -n "$NICE" "$LG" serve -c "$WORK/lastgood-$1.toml" --listen "$RESOLVER:$RESOLVER_PORT" \
        --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
        --upstream-port "$LAB_PORT" >"$WORK/lastgood-$1.log" 2>&1 &
    RES_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        kill -0 "$RES_PID" 2>/dev/null || break
        if "$LG" query -s "$RESOLVER:$RESOLVER_PORT" example.lab. SOA 2>/dev/null |
            grep -q '^;; status: NOERROR'; then
            return 0
        fi
        sleep 0.1
    done
    tail "$WORK/lastgood-$1.log" >&2
    die "lastgood did not answer"
}

names() { # PREFIX N FILE
    awk -v p="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "%s%d.wild.example.lab A\n", p, i }' >"$3"
}
stat_of() { # FILE WHAT: dnsperf summary numbers
    case $2 in
        qps) awk '/Queries per second:/ { print $4 }' "$1" ;;
        lost) awk '/Queries lost:/ { print $3 }' "$1" ;;
        sent) awk '/Queries sent:/ { print $3 }' "$1" ;;
        noerror) awk '/Response codes:/ { for (i = 3; i <= NF; i++) if ($i == "NOERROR") print $(i + 1) }' "$1" ;;
        completed) awk '/Queries completed:/ { print $3 }' "$1" ;;
    esac
}
percentiles() { # FILE: p50 p99 in ms over answers
    awk '/^> / { print $NF }' "$1" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "n/a n/a"; exit }
        a = int(0.5 * NR + 0.999999); b = int(0.99 * NR + 0.999999)
        printf "%.3f %.3f\n", v[a] * 1000, v[b] * 1000 }'
}
rss_mib() { # of the lastgood serving now (found by its config file)
    local pid
    pid=$(pgrep -f -- "serve -c $WORK/lastgood-" | head -1)
    [[ -n $pid ]] && awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"
}

names h "$WARM_NAMES" "$WORK/warm.txt"
start_redis

# --- 1. cache-hit QPS, Redis off vs on -----------------------------------------
declare -a QPS_OFF QPS_ON
for ((r = 1; r <= ROUNDS; r++)); do
    mode=off
    ((r % 2 == 0)) && mode=on
    start_resolver "$mode"
    run dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/warm.txt" -n 1 "${DNSPERF_ARGS[@]}" \
        >"$RESULTS_DIR/warm-$r-$mode.txt" 2>&1
    run dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/warm.txt" -l "$HIT_SECS" \
        "${DNSPERF_ARGS[@]}" >"$RESULTS_DIR/hit-$r-$mode.txt" 2>&1
    q=$(stat_of "$RESULTS_DIR/hit-$r-$mode.txt" qps)
    log "round $r redis $mode: $q QPS"
    if [[ $mode == on ]]; then QPS_ON+=("$q"); else QPS_OFF+=("$q"); fi
    stop_pid "$RES_PID"
    RES_PID=""
done

# --- 2. Redis stopped mid-load ---------------------------------------------------
# "off" first: the same load on a resolver without Redis, the baseline.
declare -a ROWS
for period in off up hung killed restarted; do
    if [[ $period == off || $period == up ]]; then
        stop_pid "$RES_PID"
        mode=off
        [[ $period == up ]] && mode=on
        start_resolver "$mode"
        run dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/warm.txt" -n 1 \
            "${DNSPERF_ARGS[@]}" >"$RESULTS_DIR/warm-load-$period.txt" 2>&1
        [[ $period == up ]] && rss_before=$(rss_mib)
    fi
    # Half hits, half names never asked (each asked once).
    n=$((LOAD_QPS * PERIOD))
    names "m-$period-" "$((n / 2))" "$WORK/miss.txt"
    paste -d '\n' "$WORK/warm.txt" "$WORK/miss.txt" | awk 'NF' | head -n "$n" >"$WORK/mix-$period.txt"
    nice -n "$NICE" dnsperf -s "$RESOLVER" -p "$RESOLVER_PORT" -d "$WORK/mix-$period.txt" -n 1 \
        -Q "$LOAD_QPS" -l "$PERIOD" -t 5 -v "${DNSPERF_ARGS[@]}" >"$RESULTS_DIR/load-$period.txt" 2>&1 &
    perf=$!
    sleep 1
    case $period in
        hung) kill -STOP "$REDIS_PID" ;;
        killed) kill -CONT "$REDIS_PID"; kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null; REDIS_PID="" ;;
        restarted) start_redis ;;
    esac
    wait "$perf"
    f="$RESULTS_DIR/load-$period.txt"
    read -r p50 p99 <<<"$(percentiles "$f")"
    sent=$(stat_of "$f" sent)
    lost=$(stat_of "$f" lost)
    noerr=$(stat_of "$f" noerror)
    done_=$(stat_of "$f" completed)
    ROWS+=("| $period | $sent | ${lost:-0} | $(( ${done_:-0} - ${noerr:-0} )) | $p50 | $p99 | $(rss_mib) |")
    [[ $period == off ]] && curl -s --unix-socket "$WORK/control-off.sock" http://localhost/metrics \
        >"$RESULTS_DIR/metrics-off.txt" 2>/dev/null
done
"$LG" status --json --control "unix:$WORK/control-on.sock" >"$RESULTS_DIR/status.json" 2>&1
curl -s --unix-socket "$WORK/control-on.sock" http://localhost/metrics >"$RESULTS_DIR/metrics.txt" 2>&1

{
    echo "### Cache-hit max QPS ($WARM_NAMES names, ${HIT_SECS}s each, alternating)"
    echo
    echo "| redis | runs (QPS) | mean |"
    echo "|---|---|---|"
    mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { if (NR) printf "%.0f", s / NR }'; }
    echo "| off | ${QPS_OFF[*]} | $(mean "${QPS_OFF[@]}") |"
    echo "| on | ${QPS_ON[*]} | $(mean "${QPS_ON[@]}") |"
    echo
    echo "### Redis stopped mid-load ($LOAD_QPS QPS, half hits half misses, ${PERIOD}s per period; RSS before: $rss_before MiB)"
    echo
    echo "| redis (off: no redis-url, baseline) | queries | lost | not NOERROR | p50 ms | p99 ms | RSS MiB at end |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$RESULTS_DIR/results.md"
cp "$WORK"/lastgood-*.log "$WORK/redis.log" "$RESULTS_DIR/" 2>/dev/null
echo "results: $RESULTS_DIR" >&2
