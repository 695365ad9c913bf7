#!/usr/bin/env bash
# Soak test (issue 17): lastgood under mixed load for an hour while the lab
# switches faults every minute; records RSS, descriptors, QPS and rcodes per
# row and fails if RSS or descriptors keep growing after the warm-up.
#
#   benches/soak.sh                        # 60 minutes, every fault in turn
#   benches/soak.sh --minutes 10           # a short run
#   benches/soak.sh --mix unique --zone example.lab. --qps 2000 \
#       --faults none,slow:3000,none,none --minutes 4 --interval 10
#   benches/soak.sh --mix unique --zone other.lab. --faults deep-referral \
#       --cache-size 16777216 --minutes 2 --interval 10
#
# Not part of CI. Needs dnsperf (installed from Debian if missing). Starts
# `lastgood lab` (its UDP control socket switches the faults) and
# `lastgood serve` from target/release (built unless --binary is given, e.g.
# a build of an older commit to compare with), drives them with one dnsperf
# run per row at a fixed rate, and prints a markdown table:
#
#   minute | fault | QPS | NOERROR | NXDOMAIN | SERVFAIL | lost | RSS MiB | fds | upstream fds
#
# Options:
#   --minutes N        run length (60)
#   --interval SECS    seconds per row (60)
#   --period SECS      seconds per fault (60)
#   --faults LIST      faults in turn, comma-separated (none,drop,slow:3000,
#                      servfail,keytrap,fan-out:8,deep-referral,oversize)
#   --zone ZONE        the zone the faults are set on (other.lab.)
#   --mix soak|unique  soak: 40% unique names under *.wild.example.lab. (misses),
#                      30% cached hosts, 30% unique names in ZONE (faulted);
#                      unique: every query a new name in ZONE
#                      (under *.wild. when ZONE is example.lab.) (soak)
#   --qps N            queries per second (1000)
#   --cache-size BYTES lastgood's cache-size (67108864)
#   --warmup MINUTES   minutes before the growth check starts (10, at most
#                      half the run)
#   --binary PATH      lastgood binary to run (default: build target/release)
#   --nofile N         ulimit -n for the resolver (default: unchanged)
#   --out DIR          results directory (target/soak/<date>)
#
# The growth check: the rows after the warm-up are split in two halves; the
# run fails (exit 1) if the second half's peak RSS exceeds the first half's
# by more than 10% (at least 8 MiB), or its peak descriptors by more than 10%
# (at least 64).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")

MINUTES=60
INTERVAL=60
PERIOD=60
FAULTS="none,drop,slow:3000,servfail,keytrap,fan-out:8,deep-referral,oversize"
ZONE=other.lab.
MIX=soak
QPS=1000
CACHE_SIZE=67108864
WARMUP=10
BINARY=""
NOFILE=""
OUT=""
RESOLVER_PORT=${RESOLVER_PORT:-53710}
CONTROL_PORT=${CONTROL_PORT:-53711}
LAB_CONTROL_PORT=${LAB_CONTROL_PORT:-53712}
LAB_PORT=${LAB_PORT:-53713}

while (($#)); do
    case $1 in
        --minutes) MINUTES=$2 ;;
        --interval) INTERVAL=$2 ;;
        --period) PERIOD=$2 ;;
        --faults) FAULTS=$2 ;;
        --zone) ZONE=$2 ;;
        --mix) MIX=$2 ;;
        --qps) QPS=$2 ;;
        --cache-size) CACHE_SIZE=$2 ;;
        --warmup) WARMUP=$2 ;;
        --binary) BINARY=$2 ;;
        --nofile) NOFILE=$2 ;;
        --out) OUT=$2 ;;
        -h | --help)
            sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "soak: unknown option $1 (see --help)" >&2
            exit 2
            ;;
    esac
    shift 2
done
[[ $ZONE == *. ]] || ZONE=$ZONE.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'soak: %s\n' "$*" >&2
    exit 1
}

WORK=""
LAB_PID=""
RES_PID=""
# stop_pid (benches/lib.sh)
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$RES_PID"
    stop_pid "$LAB_PID"
    if [[ -n $WORK && -d $WORK ]]; then
        [[ -n $OUT && -d $OUT ]] && cp "$WORK"/*.log "$OUT/" 2>/dev/null
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! command -v dnsperf >/dev/null; then
    log "installing dnsperf (apt-get)"
    apt-get -o DPkg::Lock::Timeout=300 update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq dnsperf >/dev/null ||
        die "dnsperf missing"
fi

if [[ -z $BINARY ]]; then
    log "cargo build --release"
    (cd "$REPO" && cargo build --release --quiet --bin lastgood) || die "cargo build --release failed"
    BINARY=$REPO/target/release/lastgood
fi
[[ -x $BINARY ]] || die "no binary at $BINARY"

OUT=${OUT:-$REPO/target/soak/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-soak.XXXXXX")
IFS=, read -r -a FAULT_LIST <<<"$FAULTS"
ROWS=$((MINUTES * 60 / INTERVAL))
((ROWS > 0)) || die "--minutes too short for --interval"
((WARMUP * 2 > MINUTES)) && WARMUP=$((MINUTES / 2))

# --- lab and resolver ----------------------------------------------------------

"$BINARY" lab --zones "$REPO/zones" --port "$LAB_PORT" --out "$WORK/lab" \
    --control "127.0.0.1:$LAB_CONTROL_PORT" >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
for ((i = 0; i < 100; i++)); do
    grep -q '^control: udp' "$WORK/lab.log" && break
    sleep 0.1
done
grep -q '^control: udp' "$WORK/lab.log" || die "the lab did not start: $(tail -5 "$WORK/lab.log")"
labctl() { "$BINARY" lab-ctl "127.0.0.1:$LAB_CONTROL_PORT" "$@" >/dev/null || log "lab-ctl $* failed"; }

cat >"$WORK/lastgood.toml" <<EOF
control-listen = "127.0.0.1:$CONTROL_PORT"
cache-size = $CACHE_SIZE
EOF
(
    [[ -n $NOFILE ]] && ulimit -n "$NOFILE"
    exec "$BINARY" serve -c "$WORK/lastgood.toml" --listen "127.0.0.1:$RESOLVER_PORT" \
        --root-hints "$WORK/lab/root.hints" --trust-anchor "$WORK/lab/root.key" \
        --upstream-port "$LAB_PORT"
) >"$WORK/lastgood.log" 2>&1 &
RES_PID=$!
for ((i = 0; i < 100; i++)); do
    "$BINARY" query -s "127.0.0.1:$RESOLVER_PORT" example.lab. SOA 2>/dev/null |
        grep -q '^;; status: NOERROR' && break
    kill -0 "$RES_PID" 2>/dev/null || die "lastgood exited: $(tail -5 "$WORK/lastgood.log")"
    sleep 0.1
done

# --- queries -------------------------------------------------------------------

# queries ROW FILE: enough lines for one row at QPS (dnsperf stops at -l).
queries() {
    local n=$((QPS * INTERVAL + QPS)) row=$1
    awk -v n="$n" -v r="$row" -v mix="$MIX" -v zone="$ZONE" 'BEGIN {
        under = (zone == "example.lab.") ? "wild.example.lab." : zone
        for (i = 1; i <= n; i++) {
            if (mix == "unique") { printf "r%du%d.%s A\n", r, i, under; continue }
            k = i % 10
            if (k < 4) printf "r%dm%d.wild.example.lab. A\n", r, i
            else if (k < 7) printf "host%d.example.lab. A\n", i % 300 + 1
            else if (i % 100 == 7) printf "big.%s TXT\n", zone
            else printf "r%df%d.%s A\n", r, i, zone
        }
    }' >"$2"
}

rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$RES_PID/status" 2>/dev/null; }
fds() { find "/proc/$RES_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Socket descriptors (listeners, control, clients, upstream).
sockets() { find "/proc/$RES_PID/fd" -mindepth 1 -maxdepth 1 -lname 'socket:*' 2>/dev/null | wc -l; }
stat_of() { # FILE FIELD
    case $2 in
        qps) sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$1" ;;
        lost) sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$1" ;;
        NOERROR | NXDOMAIN | SERVFAIL) grep -o "$2 [0-9]*" "$1" | awk '{ print $2 }' ;;
    esac | head -n1
}
num() { [[ -n ${1:-} ]] && echo "$1" || echo 0; }

TABLE=$OUT/soak.md
{
    echo "lastgood soak: $MINUTES min, $QPS QPS, mix $MIX, faults on $ZONE every ${PERIOD}s, cache-size $CACHE_SIZE, binary $BINARY"
    echo
    echo "| minute | fault | QPS | NOERROR | NXDOMAIN | SERVFAIL | lost | RSS MiB | peak RSS MiB | fds | peak fds | sockets |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
} | tee "$TABLE"

# Enough queries outstanding to keep the rate when answers take seconds.
OUTSTANDING=$((QPS * 6 > 2000 ? QPS * 6 : 2000))
declare -a RSS_ROWS FD_ROWS
start=$(date +%s)
fault=""
for ((row = 0; row < ROWS; row++)); do
    elapsed=$((row * INTERVAL))
    want=${FAULT_LIST[$(((elapsed / PERIOD) % ${#FAULT_LIST[@]}))]}
    if [[ $want != "$fault" ]]; then
        labctl fault "$ZONE" "$want"
        fault=$want
    fi
    queries "$row" "$WORK/q.txt"
    dnsperf -s 127.0.0.1 -p "$RESOLVER_PORT" -d "$WORK/q.txt" -l "$INTERVAL" -Q "$QPS" \
        -c 8 -q "$OUTSTANDING" -t 5 >"$OUT/dnsperf-$row.txt" 2>&1 &
    perf=$!
    peak_rss=0 peak_fds=0
    while kill -0 "$perf" 2>/dev/null; do
        r=$(rss_mib) f=$(fds)
        [[ -n $r ]] && awk -v a="$r" -v b="$peak_rss" 'BEGIN { exit !(a > b) }' && peak_rss=$r
        ((f > peak_fds)) && peak_fds=$f
        sleep 2
    done
    wait "$perf"
    kill -0 "$RES_PID" 2>/dev/null || die "lastgood died in row $row: $(tail -5 "$WORK/lastgood.log")"
    d=$OUT/dnsperf-$row.txt
    r=$(rss_mib) f=$(fds) s=$(sockets)
    RSS_ROWS[row]=$peak_rss
    FD_ROWS[row]=$peak_fds
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$(awk -v e="$(($(date +%s) - start))" 'BEGIN { printf "%.1f", e / 60 }')" "$fault" \
        "$(num "$(stat_of "$d" qps)")" "$(num "$(stat_of "$d" NOERROR)")" \
        "$(num "$(stat_of "$d" NXDOMAIN)")" "$(num "$(stat_of "$d" SERVFAIL)")" \
        "$(num "$(stat_of "$d" lost)")" "$r" "$peak_rss" "$f" "$peak_fds" "$s" | tee -a "$TABLE"
done
curl -sf "http://127.0.0.1:$CONTROL_PORT/metrics" >"$OUT/metrics.txt" 2>/dev/null
grep '^lastgood_limit_hits_total' "$OUT/metrics.txt" 2>/dev/null | tee -a "$TABLE"

# --- growth check ----------------------------------------------------------------

first=$((WARMUP * 60 / INTERVAL))
post=$((ROWS - first))
if ((post < 2)); then
    log "too few rows after the warm-up for the growth check"
    exit 0
fi
mid=$((first + post / 2))
peak() { # ARRAY-NAME FROM TO: the largest value in [FROM, TO)
    local -n a=$1
    local i m=0
    for ((i = $2; i < $3; i++)); do
        awk -v x="${a[i]}" -v y="$m" 'BEGIN { exit !(x > y) }' && m=${a[i]}
    done
    echo "$m"
}
rss1=$(peak RSS_ROWS "$first" "$mid") rss2=$(peak RSS_ROWS "$mid" "$ROWS")
fd1=$(peak FD_ROWS "$first" "$mid") fd2=$(peak FD_ROWS "$mid" "$ROWS")
verdict=0
if awk -v a="$rss1" -v b="$rss2" 'BEGIN { t = a * 0.10; if (t < 8) t = 8; exit !(b > a + t) }'; then
    echo "FAIL: RSS kept growing after the warm-up: peak $rss1 MiB, then $rss2 MiB" | tee -a "$TABLE"
    verdict=1
fi
if awk -v a="$fd1" -v b="$fd2" 'BEGIN { t = a * 0.10; if (t < 64) t = 64; exit !(b > a + t) }'; then
    echo "FAIL: descriptors kept growing after the warm-up: peak $fd1, then $fd2" | tee -a "$TABLE"
    verdict=1
fi
((verdict == 0)) && echo "PASS: after the warm-up, peak RSS $rss1 -> $rss2 MiB, peak fds $fd1 -> $fd2" | tee -a "$TABLE"
log "results in $OUT"
exit "$verdict"
