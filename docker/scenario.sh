#!/usr/bin/env bash
# The key-rollover story across containers, in one command:
#
#   docker/scenario.sh [--no-build]
#
# build (docker/build.sh) -> keys (lastgood lab --keygen) -> compose
# up -> warm the resolver's cache -> scrape /metrics -> break the lab.
# rollover (unpublished ZSK) on the tld container -> stale answers for
# cached names, SERVFAIL + EDE for new ones -> NTA -> answers without AD ->
# fix -> the NTA recheck lifts the NTA -> secure again -> stop the leaf
# container -> stale answers with EDE 3 + 22 -> start it -> fresh again ->
# scrape /metrics and show the counters that moved -> compose down.
#
# Prints a timeline table and exits non-zero if any step did not behave as
# expected. Environment: LASTGOOD_DNS_PORT (53530), LASTGOOD_CONTROL_PORT
# (8053), LASTGOOD_TTL (5), LASTGOOD_PROJECT (lastgood-lab), LASTGOOD_IMAGE.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
bin=$repo/target/x86_64-unknown-linux-gnu/release/lastgood
run_dir=$here/.run
keys=$run_dir/keys

export LASTGOOD_DNS_PORT=${LASTGOOD_DNS_PORT:-53530}
export LASTGOOD_CONTROL_PORT=${LASTGOOD_CONTROL_PORT:-8053}
export LASTGOOD_TTL=${LASTGOOD_TTL:-5}
export LASTGOOD_KEYS=$keys
project=${LASTGOOD_PROJECT:-lastgood-lab}
resolver=127.0.0.1:$LASTGOOD_DNS_PORT
metrics_url=http://127.0.0.1:$LASTGOOD_CONTROL_PORT/metrics
# Wait a little longer than a TTL so every cached record has expired.
wait_ttl=$((LASTGOOD_TTL + 1))

die() {
    echo "scenario: $*" >&2
    exit 1
}

if docker compose version >/dev/null 2>&1; then
    compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose_cmd=(docker-compose)
else
    die "neither 'docker compose' nor 'docker-compose' is available"
fi
compose() {
    "${compose_cmd[@]}" -p "$project" -f "$here/compose.yaml" "$@"
}

# The operator's CLI, run inside the resolver container over its local
# control socket (no token: the socket's file mode is the access control).
lastgood_ctl() {
    compose exec -T resolver /lastgood "$@"
}

started=$(date +%s.%N)
elapsed() {
    awk -v s="$started" -v n="$(date +%s.%N)" 'BEGIN { printf "%5.1fs", n - s }'
}
log() {
    echo "[$(elapsed)] $*"
}

# --- build, keys, up ---------------------------------------------------------

if [[ ${1:-} != --no-build ]]; then
    "$here/build.sh" || die "build failed"
elif ! docker image inspect "${LASTGOOD_IMAGE:-lastgood:lab}" >/dev/null 2>&1; then
    die "--no-build: image ${LASTGOOD_IMAGE:-lastgood:lab} does not exist; run docker/build.sh"
fi
[[ -x $bin ]] || die "$bin is missing; run docker/build.sh"

rm -rf "$keys"
mkdir -p "$keys"
"$bin" lab --keygen "$keys" >/dev/null || die "lastgood lab --keygen failed"
# Containers may run with a remapped root: make the testbed keys readable.
chmod 0755 "$keys"
chmod 0644 "$keys"/*

ok=1
cleanup() {
    local rc=$?
    if ((rc != 0 || ok == 0)); then
        echo
        echo "--- container logs (last lines) ---"
        compose logs --no-color --tail 15 2>&1 | sed 's/^/  /'
    fi
    compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
log "compose up: root 172.31.253.2, tld 172.31.253.3, leaf 172.31.253.4, resolver 172.31.253.10 (${compose_cmd[*]})"
compose up -d >/dev/null 2>&1 || {
    compose up -d
    die "compose up failed"
}

# Ready: each lab prints its control line once its sockets are bound; the
# control API answers once the resolver is serving. (Generous bounds: a
# loaded CI machine may start containers slowly.)
labs_ready() {
    (($(compose logs --no-color root tld leaf 2>/dev/null | grep -c 'control: udp') == 3))
}
for _ in $(seq 1 60); do
    labs_ready && curl -sf -o /dev/null "$metrics_url" && break
    sleep 0.5
done
labs_ready || die "the lab containers did not come up within 30s"
curl -sf -o /dev/null "$metrics_url" || die "the resolver's /metrics never answered at $metrics_url"
log "resolver ready; the timeline starts at 0"
setup_took=$(elapsed)
started=$(date +%s.%N)

# --- the timeline ------------------------------------------------------------

rows=()
nta_active=0

# ask LABEL NAME TIER AD [EDE...]: query the resolver, infer the tier, check
# it (and AD, and that every listed EDE code is present), add a row.
last_tier=
ask() {
    local label=$1 name=$2 want_tier=$3 want_ad=$4
    shift 4
    local out rcode flags ad ede tier verdict=ok code
    out=$("$bin" query -s "$resolver" "$name" A 2>&1)
    rcode=$(sed -n 's/^;; status: \([A-Z]*\),.*/\1/p' <<<"$out")
    flags=$(sed -n 's/^;; status: .*flags: //p' <<<"$out")
    ede=$(sed -n 's/^;; EDE: \([0-9]*\):.*/\1/p' <<<"$out" | paste -sd, -)
    ad=no
    [[ " $flags " == *" ad "* ]] && ad=yes
    local first=${ede%%,*}
    if [[ -z $rcode ]]; then
        rcode=none
        tier=error
    elif [[ $rcode == SERVFAIL ]]; then
        tier=servfail
    elif [[ $first == 3 || $first == 19 ]]; then
        tier=stale
    elif [[ $ad == yes ]]; then
        tier=fresh
    elif ((nta_active)); then
        tier=nta
    else
        tier=insecure
    fi
    [[ $tier == "$want_tier" && $ad == "$want_ad" ]] || verdict=FAIL
    for code in "$@"; do
        [[ ,$ede, == *",$code,"* ]] || verdict=FAIL
    done
    if [[ $want_tier == servfail && -z $ede ]]; then
        verdict=FAIL # a SERVFAIL must say why
    fi
    [[ $verdict == ok ]] || ok=0
    last_tier=$tier
    rows+=("$(printf '%6s | %-20s | %-8s | %-3s | %-7s | %-8s | %-4s | %s' \
        "$(elapsed)" "$name" "$rcode" "$ad" "${ede:--}" "$tier" "$verdict" "$label")")
    if [[ $rcode == none ]]; then
        rows+=("       |   $(head -c 200 <<<"$out" | tr '\n' ' ')")
    fi
}

# ask_until SECS LABEL NAME TIER AD [EDE...]: for steps that wait on a timer
# outside the script (NTA recheck, a restarted container): ask every second
# until the expectation holds or SECS pass; the last answer is the row.
ask_until() {
    local deadline=$(($(date +%s) + $1)) saved_ok tries=0 label=$2
    shift
    while :; do
        saved_ok=$ok
        tries=$((tries + 1))
        ((tries > 1)) && label="$1 (asked $tries times)"
        ask "$label" "${@:2}"
        if [[ ${rows[-1]} == *"| ok   |"* || $(date +%s) -ge $deadline ]]; then
            return
        fi
        unset 'rows[-1]'
        ok=$saved_ok
        sleep 1
    done
}

note() {
    rows+=("$(printf '%6s | %s' "$(elapsed)" "-- $*")")
    log "$*"
}

labctl() {
    local service=$1
    shift
    compose exec -T "$service" /lastgood lab-ctl 127.0.0.1:5399 "$@" >/dev/null ||
        {
            ok=0
            note "FAILED: lab-ctl on $service: $*"
        }
}

scrape() {
    curl -sf "$metrics_url" >"$1" || {
        ok=0
        note "FAILED: scraping $metrics_url"
    }
}

ask "warm the cache" host1.example.lab. fresh yes
ask "warm the cache" ns1.lab. fresh yes
ask "warm: glueless NS in example.lab." www.other.lab. fresh yes
ask "unsigned delegation" www.insecure.lab. insecure no
ask "cache hit" host1.example.lab. fresh yes
scrape "$run_dir/metrics.before"

labctl tld fault lab. unpublished-zsk
note "tld: lab. rollover breaks (data signed by a ZSK not in its DNSKEY set)"
sleep "$wait_ttl"
note "TTLs (${LASTGOOD_TTL}s) expire"
ask "cached: last answer that validated" host1.example.lab. stale yes 3
ask "cached, in the broken zone itself" ns1.lab. stale yes 3
ask "never cached: fail closed" host2.example.lab. servfail no

lastgood_ctl nta add lab. --lifetime 1h --reason "lab. rollover broken" >/dev/null ||
    {
        ok=0
        note "FAILED: lastgood nta add lab."
    }
nta_active=1
note "operator: lastgood nta add lab. (no cache flush)"
ask "never cached, under the NTA" host2.example.lab. nta no
ask "cached, under the NTA" host1.example.lab. nta no

labctl tld fault lab. none
note "tld: lab. rollover fixed; waiting for the NTA recheck (10s) to lift the NTA"
lifted=0
for _ in $(seq 1 30); do
    if ! lastgood_ctl nta list 2>/dev/null | grep -q '^lab\. '; then
        lifted=1
        break
    fi
    sleep 1
done
if ((lifted)); then
    nta_active=0
    note "NTA recheck: lab. validates again, NTA lifted"
else
    ok=0
    note "FAILED: the NTA on lab. was not lifted within 30s"
fi
ask_until "$wait_ttl" "secure again" host2.example.lab. fresh yes
ask_until "$wait_ttl" "secure again" host1.example.lab. fresh yes

compose stop --timeout 2 leaf >/dev/null 2>&1 || {
    ok=0
    note "FAILED: compose stop leaf"
}
note "docker stop leaf: example.lab., other.lab., insecure.lab. unreachable"
sleep "$wait_ttl"
ask "cached: stale after the client timer" host1.example.lab. stale yes 3 22
ask "cached: stale" host2.example.lab. stale yes 3
ask "never cached: fail closed" host3.example.lab. servfail no

compose start leaf >/dev/null 2>&1 || {
    ok=0
    note "FAILED: compose start leaf"
}
note "docker start leaf"
ask_until $((wait_ttl + 15)) "fresh again" host3.example.lab. fresh yes
ask_until "$wait_ttl" "fresh again" host1.example.lab. fresh yes
scrape "$run_dir/metrics.after"

# --- report ------------------------------------------------------------------

echo
printf '%6s | %-20s | %-8s | %-3s | %-7s | %-8s | %-4s | %s\n' \
    time name rcode AD EDE tier ok step
printf '%s\n' "-------+----------------------+----------+-----+---------+----------+------+------------------------------------"
printf '%s\n' "${rows[@]}"

echo
echo "counters that moved (/metrics before -> after):"
if [[ -s $run_dir/metrics.before && -s $run_dir/metrics.after ]]; then
    awk '
        /^#/ { next }
        { split($0, f, " "); key = f[1]; val = f[2] }
        key !~ /_total/ { next }
        FNR == NR { before[key] = val; next }
        { b = (key in before) ? before[key] : 0; if (val != b) printf "  %-72s %8s -> %s\n", key, b, val }
    ' "$run_dir/metrics.before" "$run_dir/metrics.after"
else
    echo "  (no scrape)"
fi

steps=$(printf '%s\n' "${rows[@]}" | grep -c ' | ok   | \| | FAIL | ')
good=$(printf '%s\n' "${rows[@]}" | grep -c ' | ok   | ')
echo
echo "$steps steps, $good as expected; build and start took ${setup_took// /}, the story $(elapsed | tr -d ' ')"
if ((ok)) && ((steps == good)); then
    echo "scenario: every step behaved as expected"
    exit 0
fi
ok=0
echo "scenario: SOME STEPS DID NOT BEHAVE AS EXPECTED"
exit 1
