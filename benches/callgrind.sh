#!/usr/bin/env bash
# Instructions per cache hit and per real miss, counted by callgrind (issue 20):
#
#   benches/callgrind.sh                       # builds target/callgrind/release/lastgood
#   LASTGOOD=/path/to/lastgood benches/callgrind.sh   # measure that binary, build nothing
#
# callgrind counts the instructions a process executes (user space), not
# time, so the figures repeat on a loaded machine. Only `lastgood serve`
# runs under valgrind; the lab authorities and the client run natively.
#
# 1. the lab: three `lastgood lab` processes (root, lab., example.lab. +
#    other.lab. + insecure.lab.) on ADDR_PREFIX.1-3 port LAB_PORT, zone files
#    copied with their 127.53.0.x glue rewritten to those addresses, one set
#    of keys (`lastgood lab --keygen`);
# 2. `valgrind --tool=callgrind lastgood serve` on ADDR_PREFIX.10, started
#    from the lab's root hints and trust anchor;
# 3. warm: HIT_NAMES names hN.wild.example.lab. A asked twice (the first
#    pass resolves them, the second makes sure each has its answer template);
# 4. phases, each `callgrind_control --zero`, one client run, then
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
# The client (a few lines of Python, written to the temp dir) asks one
# question at a time and waits GAP_MS after each answer before the next,
# so lastgood has always gone back to sleep when a query comes: each query
# costs one wakeup (one datagram per recvmmsg, as at moderate load), and
# the count does not depend on how fast the loaded machine lets valgrind
# run. (With dnsperf -Q, a stall put dnsperf behind its schedule; it then
# sent queries back to back, which lastgood read without sleeping: hits
# came out 10-40% cheaper in slow runs.) A phase fails if any query is
# unanswered or not NOERROR.
#
# Output in RESULTS_DIR (default target/callgrind/<date>): summary.md
# (figures of every run, top functions; with BASELINE=<an earlier
# RESULTS_DIR>, the change of each mean against it), figures.tsv (metric,
# each run's figure, mean), per run the callgrind files of
# every phase (<phase>.callgrind.out), callgrind_annotate of the N2 phases
# (<phase>.self.txt, <phase>.inclusive.txt), client outputs, logs.
#
# Environment (defaults in brackets): LASTGOOD [build], RUNS [3],
# WORKLOADS ["hit miss sig"],
# HIT_NAMES [100], HIT_N1 [1000], HIT_N2 [3000] (multiples of HIT_NAMES),
# MISS_N1 [50], MISS_N2 [150], SIG_N1 [50], SIG_N2 [150] (SIG_N1 + SIG_N2
# <= 300), GAP_MS [10], IDLE_SECS [5], TOP [15],
# ADDR_PREFIX [127.57.0], LAB_PORT [54200], RESOLVER_PORT [54201],
# CONTROL_PORT [54202], RESULTS_DIR, BASELINE, KEEP_WORK=1 keeps the temp dir,
# VALGRIND_ARGS (extra valgrind options).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
export PATH="$PATH:/usr/sbin:/sbin"

RUNS=${RUNS:-3}
# Which workloads to measure: hit (cache hits), miss (wildcard misses),
# sig (misses with distinct signatures).
WORKLOADS=${WORKLOADS:-hit miss sig}
HIT_NAMES=${HIT_NAMES:-100}
HIT_N1=${HIT_N1:-1000}
HIT_N2=${HIT_N2:-3000}
MISS_N1=${MISS_N1:-50}
MISS_N2=${MISS_N2:-150}
SIG_N1=${SIG_N1:-50}
SIG_N2=${SIG_N2:-150}
IDLE_SECS=${IDLE_SECS:-5}
# Pause after each answer, so lastgood is asleep when the next query comes.
GAP_MS=${GAP_MS:-10}
# The client's wait for one answer (valgrind can stall on a loaded machine).
ANSWER_TIMEOUT=60
TOP=${TOP:-15}
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
# A previous RESULTS_DIR to compare with (its figures.tsv).
BASELINE=${BASELINE:-}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    printf 'callgrind: %s\n' "$*" >&2
    exit 1
}

has() { [[ " $WORKLOADS " == *" $1 "* ]]; }
for w in $WORKLOADS; do
    case $w in hit | miss | sig) ;; *) die "unknown workload $w (WORKLOADS: hit miss sig)" ;; esac
done
((HIT_N1 % HIT_NAMES == 0 && HIT_N2 % HIT_NAMES == 0)) ||
    die "HIT_N1 and HIT_N2 must be multiples of HIT_NAMES ($HIT_NAMES)"
((HIT_N2 > HIT_N1 && MISS_N2 > MISS_N1 && SIG_N2 > SIG_N1)) || die "each N2 must exceed its N1"
((SIG_N1 + SIG_N2 <= SIG_HOSTS)) || die "SIG_N1 + SIG_N2 must be at most $SIG_HOSTS"
[[ -z $BASELINE || -f $BASELINE/figures.tsv ]] || die "no figures.tsv in BASELINE=$BASELINE"
for tool in valgrind callgrind_control callgrind_annotate python3 curl perl; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install valgrind python3 curl)"
done

# --- processes and cleanup ---------------------------------------------------

WORK=""
LAB_PIDS=()
RES_PID=""

# stop_pid (benches/lib.sh): up to 30 s, valgrind writes its last file
STOP_WAIT_TENTHS=300
# shellcheck source=benches/lib.sh
source "$HERE/lib.sh"

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

for ip in 1 2 3; do
    port_free "$LAB_PORT" "$ADDR_PREFIX.$ip" || die "$ADDR_PREFIX.$ip:$LAB_PORT is in use"
done
port_free "$RESOLVER_PORT" "$RESOLVER_IP" || die "$RESOLVER_IP:$RESOLVER_PORT is in use"
port_free "$CONTROL_PORT" "$RESOLVER_IP" || die "$RESOLVER_IP:$CONTROL_PORT is in use"

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

# The client: one question at a time (RD set, no EDNS, as dnsperf sends
# them), a pause after each answer.
cat >"$WORK/client.py" <<'EOF'
import socket, struct, sys, time

server, port, local, gap_ms, timeout, passes, path = sys.argv[1:8]
qtypes = {"A": 1, "NS": 2, "SOA": 6, "TXT": 16, "AAAA": 28}
questions = []
for line in open(path):
    f = line.split()
    if f:
        wire = b"".join(bytes([len(l)]) + l.encode() for l in f[0].strip(".").split("."))
        questions.append(wire + b"\0" + struct.pack(">HH", qtypes[f[1].upper()], 1))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((local, 0))
sock.settimeout(float(timeout))
sent = noerror = qid = 0
start = time.monotonic()
for _ in range(int(passes)):
    for q in questions:
        qid = (qid + 1) & 0xFFFF
        sock.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q, (server, int(port)))
        sent += 1
        while True:
            reply = sock.recv(65535)  # socket.timeout ends the run
            if len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid:
                break
        noerror += (reply[3] & 0x0F) == 0
        time.sleep(int(gap_ms) / 1000)
print("sent", sent)
print("noerror", noerror)
print("seconds", round(time.monotonic() - start, 3))
EOF

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

upstream() { # lastgood_upstream_queries_total, summed over its labels
    curl -sf "http://$RESOLVER_IP:$CONTROL_PORT/metrics" 2>/dev/null |
        awk '$1 == "lastgood_upstream_queries_total" || index($1, "lastgood_upstream_queries_total{") == 1 { s += $2 } END { printf "%d\n", s }'
}

# ask FILE PASSES OUT: every question of FILE ("name type" lines), PASSES
# times, one at a time; every answer NOERROR, or die. OUT gets
# "sent N", "noerror N", "seconds S".
ask() {
    local file=$1 passes=$2 out=$3 want
    want=$(($(wc -l <"$file") * passes))
    python3 "$WORK/client.py" "$RESOLVER_IP" "$RESOLVER_PORT" "$CLIENT_IP" "$GAP_MS" \
        "$ANSWER_TIMEOUT" "$passes" "$file" >"$out" 2>&1 || die "the client failed, see $out"
    [[ $(field "$out" sent) == "$want" && $(field "$out" noerror) == "$want" ]] ||
        die "$out: $(field "$out" noerror) NOERROR of $want asked"
}
field() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# The instruction total of a callgrind file.
total_of() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

declare -A IR UP SECS # [run.phase]

# phase RUN DIR NAME FILE PASSES: zero, ask, dump; keeps <NAME>.callgrind.out
phase() {
    local run=$1 dir=$2 name=$3 file=$4 passes=$5 before newest
    before=$(upstream)
    ctl --zero
    if [[ $file == idle ]]; then
        sleep "$IDLE_SECS"
        SECS[$run.$name]=$IDLE_SECS
    else
        ask "$file" "$passes" "$dir/$name.client.txt"
        SECS[$run.$name]=$(field "$dir/$name.client.txt" seconds)
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
# top_of FILE sum|max: the TOP costliest functions of a callgrind_annotate
# output with their share of the phase's total. With line tables a
# function is listed once per source file its code comes from (inlined
# parts): self costs are summed over those, inclusive ones (which nest)
# take the largest.
top_of() {
    perl -ne '
        BEGIN { $top = shift @ARGV; $mode = shift @ARGV }
        if (/^\s*([\d,]+)\s.*PROGRAM TOTALS/) { ($total = $1) =~ tr/,//d; next }
        next unless /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/;
        my ($n, $rest) = ($1, $2);
        $n =~ tr/,//d;
        $rest =~ s/ \[[^\]]*\]$//;
        # file:function, the first colon that is not part of "::"
        my $fn = $rest =~ /^.*?(?<!:):(?!:)(.*)$/ ? $1 : $rest;
        # Inclusive: the runtime and std frames every task runs under.
        next if $mode eq "max" && $fn =~ /^(<?tokio::runtime::|<?std::|<?core::|start_thread|clone)/;
        if ($mode eq "sum") { $sum{$fn} += $n } elsif (($sum{$fn} // 0) < $n) { $sum{$fn} = $n }
        END {
            my @f = sort { $sum{$b} <=> $sum{$a} } keys %sum;
            splice @f, $top if @f > $top;
            printf "%12d %5.1f%%  %s\n", $sum{$_}, $total ? 100 * $sum{$_} / $total : 0, $_ for @f;
        }' "$TOP" "$2" "$1"
}

declare -A FIG # [run.metric]

measure() { # RUN
    local run=$1 dir=$RESULTS/run$1
    mkdir -p "$dir"
    log "run $run: lastgood serve under callgrind"
    start_resolver "$dir"
    log "run $run: warming $HIT_NAMES names (twice)"
    ask "$WORK/hit.txt" 1 "$dir/warm1.client.txt"
    ask "$WORK/hit.txt" 1 "$dir/warm2.client.txt"

    log "run $run: phases"
    phase "$run" "$dir" idle idle 0
    FIG[$run.idle]=$(awk -v i="${IR[$run.idle]}" -v s="$IDLE_SECS" 'BEGIN { printf "%.0f\n", i / s }')
    if has hit; then
        phase "$run" "$dir" hit1 "$WORK/hit.txt" $((HIT_N1 / HIT_NAMES))
        phase "$run" "$dir" hit2 "$WORK/hit.txt" $((HIT_N2 / HIT_NAMES))
        FIG[$run.hit]=$(per "$run" hit1 hit2 "$HIT_N1" "$HIT_N2")
        log "run $run: per hit ${FIG[$run.hit]} Ir"
    fi
    if has miss; then
        phase "$run" "$dir" miss1 "$WORK/miss1.txt" 1
        phase "$run" "$dir" miss2 "$WORK/miss2.txt" 1
        FIG[$run.miss]=$(per "$run" miss1 miss2 "$MISS_N1" "$MISS_N2")
        FIG[$run.miss_up]=$(per_up "$run" miss1 miss2 "$MISS_N1" "$MISS_N2")
        log "run $run: per wildcard miss ${FIG[$run.miss]} Ir"
    fi
    if has sig; then
        phase "$run" "$dir" sig1 "$WORK/sig1.txt" 1
        phase "$run" "$dir" sig2 "$WORK/sig2.txt" 1
        FIG[$run.sig]=$(per "$run" sig1 sig2 "$SIG_N1" "$SIG_N2")
        FIG[$run.sig_up]=$(per_up "$run" sig1 sig2 "$SIG_N1" "$SIG_N2")
        log "run $run: per distinct-signature miss ${FIG[$run.sig]} Ir"
    fi
    stop_pid "$RES_PID"
    RES_PID=""
    for w in $WORKLOADS; do annotate "$dir" "${w}2"; done
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
mean() { # METRIC: over the runs
    local r
    for ((r = 1; r <= RUNS; r++)); do echo "${FIG[$r.$1]}"; done |
        awk '{ s += $1 } END { if (NR) printf "%.0f\n", s / NR }'
}

# figures.tsv: metric, each run's figure, the mean (read back by BASELINE).
METRICS=()
for w in $WORKLOADS; do METRICS+=("$w"); done
for m in "${METRICS[@]}"; do
    line=$m
    for ((r = 1; r <= RUNS; r++)); do line+=$'\t'"${FIG[$r.$m]}"; done
    printf '%s\t%s\n' "$line" "$(mean "$m")"
done >"$RESULTS/figures.tsv"

# compare: the table against BASELINE's figures.tsv (its last column, the mean).
compare() {
    local m base now
    echo "| Ir per query (mean of runs) | baseline | this | change |"
    echo "|---|---|---|---|"
    for m in "${METRICS[@]}"; do
        base=$(awk -F'\t' -v m="$m" '$1 == m { print $NF }' "$BASELINE/figures.tsv")
        now=$(mean "$m")
        [[ -n $base ]] || continue
        awk -v m="$m" -v b="$base" -v n="$now" \
            'BEGIN { printf "| %s | %d | %d | %+.1f%% |\n", m, b, n, (n - b) * 100 / b }'
    done
}
{
    echo "# callgrind: instructions per query ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "- binary: \`$LG\`"
    echo "- script's tree (what a build measures; LASTGOOD= may be another): $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "- $(valgrind --version), $(python3 --version)"
    echo "- load average (1/5/15 min): $LOAD_BEFORE before, $LOAD_AFTER after"
    echo "- one query at a time, ${GAP_MS} ms after each answer; hits: $HIT_NAMES warmed names, N1=$HIT_N1, N2=$HIT_N2;" \
        "wildcard misses N1=$MISS_N1, N2=$MISS_N2; signed-name misses N1=$SIG_N1, N2=$SIG_N2"
    echo
    header="| Ir per query |" sep="|---|"
    for ((r = 1; r <= RUNS; r++)); do header+=" run $r |" sep+="---|"; done
    echo "$header spread |"
    echo "$sep---|"
    has hit && row "cache hit (hN.wild.example.lab. A, template)" hit
    has miss && row "real miss, wildcard (unique mN.wild.example.lab. A)" miss
    has sig && row "real miss, distinct signatures (hostN.example.lab. A)" sig
    has miss && row "upstream queries per wildcard miss" miss_up
    has sig && row "upstream queries per signed-name miss" sig_up
    row "idle, Ir per second (included above in proportion to phase time)" idle
    echo
    echo "Per query = (Ir of the N2 phase - Ir of the N1 phase) / (N2 - N1)."
    if [[ -n $BASELINE ]]; then
        echo
        echo "Against \`$BASELINE\` ($(sed -n 's/^- binary: //p' "$BASELINE/summary.md" 2>/dev/null)):"
        echo
        compare
    fi
    echo
    echo "Phase totals (Ir) and client run times (s), run 1:"
    echo
    for p in idle $(for w in $WORKLOADS; do echo "${w}1 ${w}2"; done); do
        echo "- $p: ${IR[1.$p]} Ir, ${SECS[1.$p]} s, ${UP[1.$p]} upstream queries"
    done
    for w in $WORKLOADS; do
        p=${w}2
        echo
        echo "## Top $TOP functions, self, phase $p (run 1)"
        echo
        echo '```'
        top_of "$RESULTS/run1/$p.self.txt" sum
        echo '```'
        echo
        echo "## Top $TOP functions, inclusive, phase $p (run 1)"
        echo
        echo '```'
        top_of "$RESULTS/run1/$p.inclusive.txt" max
        echo '```'
    done
} >"$RESULTS/summary.md"

cat "$RESULTS/summary.md"
log "results in $RESULTS"
