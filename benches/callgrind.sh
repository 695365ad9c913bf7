#!/usr/bin/env bash
# Instructions per cache hit and per real miss, counted by callgrind (issue 20):
#
#   benches/callgrind.sh                       # builds target/callgrind/release/lastgood
#   LASTGOOD=/path/to/lastgood benches/callgrind.sh   # measure that binary, build nothing
#
# callgrind counts the instructions a process executes (user space), not
# time, so the figures repeat on a loaded machine. Only `lastgood serve`
# runs under valgrind; the lab authorities and dnsperf run natively.
#
# 1. the lab: three `lastgood lab` processes (root, lab., example.lab. +
#    other.lab. + insecure.lab.) on ADDR_PREFIX.1-3 port LAB_PORT, zone files
#    copied with their 127.53.0.x glue rewritten to those addresses, one set
#    of keys (`lastgood lab --keygen`);
# 2. `valgrind --tool=callgrind lastgood serve` on ADDR_PREFIX.10, started
#    from the lab's root hints and trust anchor;
# 3. warm: HIT_NAMES names hN.wild.example.lab. A asked twice (the first
#    pass resolves them, the second makes sure each has its answer template);
# 4. phases, each `callgrind_control --zero`, one dnsperf run, then
#    `callgrind_control --dump`: hits (the warmed names again, N1 then N2
#    queries), wildcard misses (unique names mN.wild.example.lab. A, asked once
#    each, N1 then N2), misses with distinct signatures (hostN.example.lab. A,
#    300 names each signed on its own: hosts 1..SIG_N1, then the next SIG_N2),
#    and an idle phase (IDLE_SECS, nothing asked);
# 5. per query = (Ir of the N2 phase - Ir of the N1 phase) / (N2 - N1), which
#    cancels what a phase costs whatever its size (waking up for the dump,
#    the first query's odd path); all of this RUNS times, the resolver
#    freshly started each time, to show the figures repeat.
#
# dnsperf keeps one query outstanding (DNSPERF_ARGS "-c 1 -q 1") at a low
# rate (HIT_QPS, MISS_QPS), so the resolver under valgrind is never
# flooded: every query is answered and lastgood is idle again before the
# next comes, so each costs a wakeup of its own (one datagram per
# recvmmsg, as at moderate load). A phase fails if any query is lost or
# not NOERROR.
#
# Output in RESULTS_DIR (default target/callgrind/<date>): summary.md
# (figures of every run, top functions), per run the callgrind files of
# every phase (<phase>.callgrind.out), callgrind_annotate of the N2 phases
# (<phase>.self.txt, <phase>.inclusive.txt), dnsperf outputs, logs.
#
# Environment (defaults in brackets): LASTGOOD [build], RUNS [2],
# HIT_NAMES [100], HIT_N1 [1000], HIT_N2 [3000] (multiples of HIT_NAMES),
# MISS_N1 [50], MISS_N2 [150], SIG_N1 [50], SIG_N2 [150] (SIG_N1 + SIG_N2
# <= 300), HIT_QPS [50], MISS_QPS [10], IDLE_SECS [5], TOP [15], DNSPERF_ARGS ["-c 1 -q 1 -t 60"],
# ADDR_PREFIX [127.57.0], LAB_PORT [54200], RESOLVER_PORT [54201],
# CONTROL_PORT [54202], RESULTS_DIR, KEEP_WORK=1 keeps the temp dir,
# VALGRIND_ARGS (extra valgrind options).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

RUNS=${RUNS:-2}
HIT_NAMES=${HIT_NAMES:-100}
HIT_N1=${HIT_N1:-1000}
HIT_N2=${HIT_N2:-3000}
MISS_N1=${MISS_N1:-50}
MISS_N2=${MISS_N2:-150}
SIG_N1=${SIG_N1:-50}
SIG_N2=${SIG_N2:-150}
IDLE_SECS=${IDLE_SECS:-5}
# Query rates: low enough that lastgood under valgrind has answered and
# gone back to sleep before the next query comes (see the header).
HIT_QPS=${HIT_QPS:-50}
MISS_QPS=${MISS_QPS:-10}
TOP=${TOP:-15}
read -r -a DNSPERF_ARGS <<<"${DNSPERF_ARGS:--c 1 -q 1 -t 60}"
read -r -a EXTRA_VALGRIND <<<"${VALGRIND_ARGS:-}"
ADDR_PREFIX=${ADDR_PREFIX:-127.57.0}
LAB_PORT=${LAB_PORT:-54200}
RESOLVER_PORT=${RESOLVER_PORT:-54201}
CONTROL_PORT=${CONTROL_PORT:-54202}
RESOLVER_IP=$ADDR_PREFIX.10
CLIENT_IP=$ADDR_PREFIX.20
# host1..host300 in example.lab.: the signed names of distinct signatures.
SIG_HOSTS=300
# Waits for a process to answer (x 0.1 s): valgrind starts slowly.
READY_TRIES=1200

RESULTS=${RESULTS_DIR:-$REPO/target/callgrind/$(date +%Y%m%d-%H%M%S)}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'callgrind: %s\n' "$*" >&2
    exit 1
}

((HIT_N1 % HIT_NAMES == 0 && HIT_N2 % HIT_NAMES == 0)) ||
    die "HIT_N1 and HIT_N2 must be multiples of HIT_NAMES ($HIT_NAMES)"
((HIT_N2 > HIT_N1 && MISS_N2 > MISS_N1 && SIG_N2 > SIG_N1)) || die "each N2 must exceed its N1"
((SIG_N1 + SIG_N2 <= SIG_HOSTS)) || die "SIG_N1 + SIG_N2 must be at most $SIG_HOSTS"
for tool in valgrind callgrind_control callgrind_annotate dnsperf curl; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install valgrind dnsperf curl)"
done

# --- processes and cleanup ---------------------------------------------------

WORK=""
LAB_PIDS=()
RES_PID=""

stop_pid() { # PID: TERM, up to 30 s (valgrind writes its last file), then KILL
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    stop_pid "$RES_PID"
    for pid in "${LAB_PIDS[@]}"; do stop_pid "$pid"; done
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

port_free() { # IP PORT: nothing listens there (UDP or TCP), nor on a wildcard address
    local addr
    while read -r addr; do
        case ${addr%:*} in "$1" | 0.0.0.0 | '*' | '[::]') return 1 ;; esac
    done < <(ss -Hlnut "sport = :$2" 2>/dev/null | awk '{ print $5 }')
    return 0
}
for ip in 1 2 3; do
    port_free "$ADDR_PREFIX.$ip" "$LAB_PORT" || die "$ADDR_PREFIX.$ip:$LAB_PORT is in use"
done
port_free "$RESOLVER_IP" "$RESOLVER_PORT" || die "$RESOLVER_IP:$RESOLVER_PORT is in use"
port_free "$RESOLVER_IP" "$CONTROL_PORT" || die "$RESOLVER_IP:$CONTROL_PORT is in use"

# --- the binary ----------------------------------------------------------------

if [[ -n ${LASTGOOD:-} ]]; then
    LG=$LASTGOOD
else
    # A release build with line tables (file:line and inlined frames in the
    # profile), in a target dir of its own so target/release is not rebuilt.
    log "cargo build --release (debug = line-tables-only) into target/callgrind"
    (cd "$REPO" && CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        cargo build --release --quiet --bin lastgood --target-dir target/callgrind) ||
        die "cargo build failed"
    LG=$REPO/target/callgrind/release/lastgood
fi
[[ -x $LG ]] || die "no binary at $LG"

mkdir -p "$RESULTS" || die "cannot create $RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-callgrind.XXXXXX")

# --- the lab -------------------------------------------------------------------

"$LG" lab --keygen "$WORK/keys" >/dev/null || die "lastgood lab --keygen failed"
mkdir -p "$WORK/zones"
for f in "${LAB_ZONES:-$REPO/zones}"/*.zone; do
    # The leaf server (127.53.0.3) also serves insecure.lab. (127.53.0.4).
    sed -e "s/\b127\.53\.0\.1\b/$ADDR_PREFIX.1/g" -e "s/\b127\.53\.0\.2\b/$ADDR_PREFIX.2/g" \
        -e "s/\b127\.53\.0\.[34]\b/$ADDR_PREFIX.3/g" "$f" >"$WORK/zones/$(basename "$f")"
done
printf '.                   3600000 IN NS a.root-servers.lab.\na.root-servers.lab. 3600000 IN A %s\n' \
    "$ADDR_PREFIX.1" >"$WORK/root.hints"

start_lab() { # IP ZONE...: one lab process serving ZONEs on IP
    local ip=$1 only=() z i log
    shift
    for z in "$@"; do only+=(--only "$z"); done
    log=$WORK/lab-$ip.log
    : >"$log"
    "$LG" lab --zones "$WORK/zones" --keys "$WORK/keys" --port "$LAB_PORT" --listen "$ip" \
        "${only[@]}" >"$log" 2>&1 &
    LAB_PIDS+=($!)
    for ((i = 0; i < READY_TRIES; i++)); do
        grep -q '^lastgood lab: port' "$log" && return 0
        kill -0 "${LAB_PIDS[-1]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    die "the lab on $ip did not start"
}
log "lab on $ADDR_PREFIX.1-3 port $LAB_PORT"
start_lab "$ADDR_PREFIX.1" .
start_lab "$ADDR_PREFIX.2" lab.
start_lab "$ADDR_PREFIX.3" example.lab. other.lab. insecure.lab.

# --- names -----------------------------------------------------------------------

awk -v n="$HIT_NAMES" 'BEGIN { for (i = 1; i <= n; i++) printf "h%d.wild.example.lab A\n", i }' \
    >"$WORK/hit.txt"
# Unique names per run and phase (each resolver starts empty anyway).
wild() { # PREFIX COUNT FILE
    awk -v p="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "%s%d.wild.example.lab A\n", p, i }' >"$3"
}
hosts() { # FIRST COUNT FILE
    awk -v a="$1" -v n="$2" 'BEGIN { for (i = a; i < a + n; i++) printf "host%d.example.lab A\n", i }' >"$3"
}
wild m1x "$MISS_N1" "$WORK/miss1.txt"
wild m2x "$MISS_N2" "$WORK/miss2.txt"
hosts 1 "$SIG_N1" "$WORK/sig1.txt"
hosts $((SIG_N1 + 1)) "$SIG_N2" "$WORK/sig2.txt"

cat >"$WORK/lastgood.toml" <<EOF
# benches/callgrind.sh: defaults but for the control plane (TCP on the
# bench's own address, no Unix socket).
control-listen = "$RESOLVER_IP:$CONTROL_PORT"
control-socket = ""
EOF

# --- the resolver under callgrind ----------------------------------------------

VG_PREFIX=""
start_resolver() { # DIR
    local dir=$1 i
    VG_PREFIX=$WORK/vgdb-$(basename "$dir")
    valgrind --tool=callgrind --vgdb=yes --vgdb-prefix="$VG_PREFIX" \
        --compress-strings=no --compress-pos=no \
        --callgrind-out-file="$dir/callgrind.out" --log-file="$dir/valgrind.log" \
        "${EXTRA_VALGRIND[@]}" \
        "$LG" serve -c "$WORK/lastgood.toml" --listen "$RESOLVER_IP:$RESOLVER_PORT" \
        --root-hints "$WORK/root.hints" --trust-anchor "$WORK/keys/root.key" \
        --upstream-port "$LAB_PORT" >"$dir/lastgood.log" 2>&1 &
    RES_PID=$!
    for ((i = 0; i < READY_TRIES; i++)); do
        if "$LG" query -s "$RESOLVER_IP:$RESOLVER_PORT" example.lab. SOA 2>/dev/null |
            grep -q '^;; status: NOERROR'; then
            return 0
        fi
        kill -0 "$RES_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -20 "$dir/lastgood.log" "$dir/valgrind.log" >&2
    die "lastgood under valgrind did not answer example.lab. SOA"
}

ctl() { # callgrind_control ARGS... on the resolver
    callgrind_control --vgdb-prefix="$VG_PREFIX" "$@" "$RES_PID" >>"$WORK/ctl.log" 2>&1 ||
        die "callgrind_control $* failed (see $WORK/ctl.log)"
}

stat_of() { # FILE FIELD: a number from dnsperf's summary
    case $2 in
        sent) sed -n 's/^ *Queries sent: *\([0-9]*\).*/\1/p' "$1" ;;
        completed) sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$1" ;;
        noerror) sed -n 's/^ *Response codes:.*NOERROR \([0-9]*\).*/\1/p' "$1" ;;
        runtime) sed -n 's/^ *Run time (s): *\([0-9.]*\).*/\1/p' "$1" ;;
    esac | head -n1
}

upstream() { # lastgood_upstream_queries_total, summed over its labels
    curl -sf "http://$RESOLVER_IP:$CONTROL_PORT/metrics" 2>/dev/null |
        awk '$1 == "lastgood_upstream_queries_total" || index($1, "lastgood_upstream_queries_total{") == 1 { s += $2 } END { printf "%d\n", s }'
}

# dnsperf FILE PASSES QPS OUT: every query answered NOERROR, or die.
ask() {
    local file=$1 passes=$2 qps=$3 out=$4 want
    want=$(($(wc -l <"$file") * passes))
    dnsperf -s "$RESOLVER_IP" -p "$RESOLVER_PORT" -a "$CLIENT_IP" -d "$file" -n "$passes" \
        -Q "$qps" "${DNSPERF_ARGS[@]}" >"$out" 2>&1 || die "dnsperf failed, see $out"
    [[ $(stat_of "$out" sent) == "$want" && $(stat_of "$out" noerror) == "$want" ]] ||
        die "$out: $(stat_of "$out" noerror) NOERROR of $want asked"
}

# The instruction total of a callgrind file.
total_of() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

declare -A IR UP SECS # [run.phase]

# phase RUN DIR NAME FILE PASSES QPS: zero, ask, dump; keeps <NAME>.callgrind.out
phase() {
    local run=$1 dir=$2 name=$3 file=$4 passes=$5 qps=$6 before newest
    before=$(upstream)
    ctl --zero
    if [[ $file == idle ]]; then
        sleep "$IDLE_SECS"
        SECS[$run.$name]=$IDLE_SECS
    else
        ask "$file" "$passes" "$qps" "$dir/$name.dnsperf.txt"
        SECS[$run.$name]=$(stat_of "$dir/$name.dnsperf.txt" runtime)
    fi
    ctl --dump="$name"
    # The dump is the newest callgrind.out.N of this process.
    newest=$(ls -t "$dir"/callgrind.out.* 2>/dev/null | head -n1)
    [[ -n $newest ]] || die "no callgrind dump for $name in $dir"
    mv "$newest" "$dir/$name.callgrind.out"
    IR[$run.$name]=$(total_of "$dir/$name.callgrind.out")
    UP[$run.$name]=$(($(upstream) - before))
    log "  $name: ${IR[$run.$name]} Ir, ${UP[$run.$name]} upstream queries, ${SECS[$run.$name]} s"
}

per() { # RUN P1 P2 N1 N2: (Ir(P2) - Ir(P1)) / (N2 - N1)
    awk -v a="${IR[$1.$2]}" -v b="${IR[$1.$3]}" -v n1="$4" -v n2="$5" \
        'BEGIN { printf "%.0f\n", (b - a) / (n2 - n1) }'
}
per_up() { # RUN P1 P2 N1 N2: upstream queries per query, the same way
    awk -v a="${UP[$1.$2]}" -v b="${UP[$1.$3]}" -v n1="$4" -v n2="$5" \
        'BEGIN { printf "%.2f\n", (b - a) / (n2 - n1) }'
}

# annotate DIR PHASE: top functions of one phase, self and inclusive.
# A dump after `--zero` records each call still in progress at the zero
# (the runtime's loops, the task being polled) as "calls=0" with the
# cost since; callgrind_annotate 3.19 adds that cost to the caller's self
# cost (one tokio frame then shows 100%), so those records are dropped
# first (the totals do not change: they are inclusive costs only).
annotate() {
    local dir=$1 p=$2
    awk '/^calls=0 / { skip = 1; next } skip { skip = 0; next } { print }' \
        "$dir/$p.callgrind.out" >"$WORK/$p.filtered.out"
    callgrind_annotate --auto=no --threshold=100 --inclusive=no "$WORK/$p.filtered.out" \
        >"$dir/$p.self.txt" 2>"$WORK/annotate.err"
    callgrind_annotate --auto=no --threshold=100 --inclusive=yes "$WORK/$p.filtered.out" \
        >"$dir/$p.inclusive.txt" 2>"$WORK/annotate.err"
    rm -f "$WORK/$p.filtered.out"
}
top_of() { # FILE: the first TOP function lines of a callgrind_annotate output
    awk -v top="$TOP" '
        /^-+$/ { dashes++; next }
        dashes >= 6 && NF > 1 && n < top { sub(/^ +/, ""); print; n++ }' "$1" |
        sed -e 's#/root/\.cargo/registry/src/[^/]*/##' -e 's#/rustc/[0-9a-f]*/##' \
            -e 's# \[[^]]*\]$##'

}

declare -A FIG # [run.metric]

measure() { # RUN
    local run=$1 dir=$RESULTS/run$1
    mkdir -p "$dir"
    log "run $run: lastgood serve under callgrind"
    start_resolver "$dir"
    log "run $run: warming $HIT_NAMES names (twice)"
    ask "$WORK/hit.txt" 1 "$MISS_QPS" "$dir/warm1.dnsperf.txt"
    ask "$WORK/hit.txt" 1 "$HIT_QPS" "$dir/warm2.dnsperf.txt"

    log "run $run: phases"
    phase "$run" "$dir" idle idle 0 0
    phase "$run" "$dir" hit1 "$WORK/hit.txt" $((HIT_N1 / HIT_NAMES)) "$HIT_QPS"
    phase "$run" "$dir" hit2 "$WORK/hit.txt" $((HIT_N2 / HIT_NAMES)) "$HIT_QPS"
    phase "$run" "$dir" miss1 "$WORK/miss1.txt" 1 "$MISS_QPS"
    phase "$run" "$dir" miss2 "$WORK/miss2.txt" 1 "$MISS_QPS"
    phase "$run" "$dir" sig1 "$WORK/sig1.txt" 1 "$MISS_QPS"
    phase "$run" "$dir" sig2 "$WORK/sig2.txt" 1 "$MISS_QPS"
    stop_pid "$RES_PID"
    RES_PID=""

    FIG[$run.hit]=$(per "$run" hit1 hit2 "$HIT_N1" "$HIT_N2")
    FIG[$run.miss]=$(per "$run" miss1 miss2 "$MISS_N1" "$MISS_N2")
    FIG[$run.sig]=$(per "$run" sig1 sig2 "$SIG_N1" "$SIG_N2")
    FIG[$run.miss_up]=$(per_up "$run" miss1 miss2 "$MISS_N1" "$MISS_N2")
    FIG[$run.sig_up]=$(per_up "$run" sig1 sig2 "$SIG_N1" "$SIG_N2")
    FIG[$run.idle]=$(awk -v i="${IR[$run.idle]}" -v s="$IDLE_SECS" 'BEGIN { printf "%.0f\n", i / s }')
    for p in hit2 miss2 sig2; do annotate "$dir" "$p"; done
    log "run $run: per hit ${FIG[$run.hit]}, per wildcard miss ${FIG[$run.miss]}, per signed-name miss ${FIG[$run.sig]} Ir"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= RUNS; r++)); do measure "$r"; done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- summary -------------------------------------------------------------------

spread() { # METRIC: (max - min) / min over the runs, in %
    local r vals=()
    for ((r = 1; r <= RUNS; r++)); do vals+=("${FIG[$r.$1]}"); done
    printf '%s\n' "${vals[@]}" | awk 'NR == 1 || $1 < lo { lo = $1 } NR == 1 || $1 > hi { hi = $1 }
        END { if (lo > 0) printf "%.2f%%\n", (hi - lo) * 100 / lo; else print "n/a" }'
}
row() { # LABEL METRIC
    local r line="| $1 |"
    for ((r = 1; r <= RUNS; r++)); do line+=" ${FIG[$r.$2]} |"; done
    echo "$line $(spread "$2") |"
}
{
    echo "# callgrind: instructions per query ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- binary: \`$LG\`"
    echo "- tree: $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "- $(valgrind --version), $(dnsperf -h 2>&1 | sed -n 's/^Version /dnsperf /p')"
    echo "- load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- dnsperf ${DNSPERF_ARGS[*]}; hits: $HIT_NAMES warmed names, N1=$HIT_N1, N2=$HIT_N2;" \
        "wildcard misses N1=$MISS_N1, N2=$MISS_N2; signed-name misses N1=$SIG_N1, N2=$SIG_N2"
    echo
    header="| Ir per query |" sep="|---|"
    for ((r = 1; r <= RUNS; r++)); do header+=" run $r |" sep+="---|"; done
    echo "$header spread |"
    echo "$sep---|"
    row "cache hit (hN.wild.example.lab. A, template)" hit
    row "real miss, wildcard (unique mN.wild.example.lab. A)" miss
    row "real miss, distinct signatures (hostN.example.lab. A)" sig
    row "upstream queries per wildcard miss" miss_up
    row "upstream queries per signed-name miss" sig_up
    row "idle, Ir per second (included above in proportion to phase time)" idle
    echo
    echo "Phase totals (Ir) and dnsperf run times (s), run 1:"
    echo
    for p in idle hit1 hit2 miss1 miss2 sig1 sig2; do
        echo "- $p: ${IR[1.$p]} Ir, ${SECS[1.$p]} s, ${UP[1.$p]} upstream queries"
    done
    for p in hit2 miss2 sig2; do
        echo
        echo "## Top $TOP functions, self, phase $p (run 1)"
        echo
        echo '```'
        top_of "$RESULTS/run1/$p.self.txt"
        echo '```'
        echo
        echo "## Top $TOP functions, inclusive, phase $p (run 1)"
        echo
        echo '```'
        top_of "$RESULTS/run1/$p.inclusive.txt"
        echo '```'
    done
} >"$RESULTS/summary.md"

cat "$RESULTS/summary.md"
log "results in $RESULTS"
