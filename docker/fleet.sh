#!/usr/bin/env bash
# The fleet variant of the testbed (issue 18), in one command:
#
#   docker/fleet.sh [--no-build]
#
# build (docker/build.sh unless --no-build, docker/build-redis.sh) -> keys
# -> compose up with compose.fleet.yaml: root, tld, leaf, one Redis (FROM
# scratch, the host's redis-server), resolvers A and B sharing it -> A
# alone resolves a name -> the lab. rollover breaks -> B, which never asked
# for it, answers it stale (EDE 3) from what A validated; a name nobody
# resolved is SERVFAIL -> an NTA added on A -> B answers under it, without
# a flush -> compose down. Prints a timeline and exits non-zero if a step
# misbehaves. Environment: LASTGOOD_DNS_PORT (53530), LASTGOOD_B_DNS_PORT
# (53531), LASTGOOD_CONTROL_PORT (8053), LASTGOOD_B_CONTROL_PORT (8054),
# LASTGOOD_TTL (5), LASTGOOD_PROJECT (lastgood-fleet).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
bin=$repo/target/x86_64-unknown-linux-gnu/release/lastgood
keys=$here/.run/fleet-keys

export LASTGOOD_DNS_PORT=${LASTGOOD_DNS_PORT:-53530}
export LASTGOOD_B_DNS_PORT=${LASTGOOD_B_DNS_PORT:-53531}
export LASTGOOD_CONTROL_PORT=${LASTGOOD_CONTROL_PORT:-8053}
export LASTGOOD_B_CONTROL_PORT=${LASTGOOD_B_CONTROL_PORT:-8054}
export LASTGOOD_TTL=${LASTGOOD_TTL:-5}
export LASTGOOD_KEYS=$keys
project=${LASTGOOD_PROJECT:-lastgood-fleet}
a=127.0.0.1:$LASTGOOD_DNS_PORT
b=127.0.0.1:$LASTGOOD_B_DNS_PORT
wait_ttl=$((LASTGOOD_TTL + 1))

die() { echo "fleet: $*" >&2; exit 1; }

# compose_setup (docker/lib.sh)
# shellcheck source=docker/lib.sh
source "$here/lib.sh"
compose_setup || die "neither 'docker compose' nor 'docker-compose' is available"
compose() {
    "${compose_cmd[@]}" -p "$project" -f "$here/compose.yaml" -f "$here/compose.fleet.yaml" "$@"
}

started=$(date +%s.%N)
elapsed() { awk -v s="$started" -v n="$(date +%s.%N)" 'BEGIN { printf "%5.1fs", n - s }'; }
log() { echo "[$(elapsed)] $*"; }

if [[ ${1:-} != --no-build ]]; then
    "$here/build.sh" || die "build failed"
fi
[[ -x $bin ]] || die "$bin is missing; run docker/build.sh"
"$here/build-redis.sh" || die "redis image build failed"

rm -rf "$keys"
mkdir -p "$keys"
"$bin" lab --keygen "$keys" >/dev/null || die "lastgood lab --keygen failed"
chmod 0755 "$keys"
chmod 0644 "$keys"/*

ok=1
cleanup() {
    local rc=$?
    if ((rc != 0 || ok == 0)); then
        echo "--- container logs (last lines) ---"
        compose logs --no-color --tail 15 2>&1 | sed 's/^/  /'
    fi
    compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
log "compose up: root, tld, leaf, redis 172.31.253.20, resolver A .10 ($a), resolver B .11 ($b)"
compose up -d >/dev/null 2>&1 || {
    compose up -d
    die "compose up failed"
}
redis_up() { # CONTROL_PORT: lastgood_redis_up is 1
    curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null | grep '^lastgood_redis_up 1' >/dev/null
}
for _ in $(seq 1 60); do
    labs=$(compose logs --no-color root tld leaf 2>/dev/null | grep -c 'control: udp')
    ((labs == 3)) && redis_up "$LASTGOOD_CONTROL_PORT" && redis_up "$LASTGOOD_B_CONTROL_PORT" && break
    sleep 0.5
done
redis_up "$LASTGOOD_CONTROL_PORT" || die "resolver A never reported lastgood_redis_up 1"
redis_up "$LASTGOOD_B_CONTROL_PORT" || die "resolver B never reported lastgood_redis_up 1"
log "both resolvers up, Redis up on both; the timeline starts at 0"
started=$(date +%s.%N)

rows=()
# ask LABEL SERVER NAME RCODE AD [EDE]: one query, checked, one row.
ask() {
    local label=$1 server=$2 name=$3 want_rcode=$4 want_ad=$5 want_ede=${6:-} out rcode flags ede ad verdict=ok
    out=$("$bin" query -s "$server" "$name" A 2>&1)
    rcode=$(sed -n 's/^;; status: \([A-Z]*\),.*/\1/p' <<<"$out")
    flags=$(sed -n 's/^;; status: .*flags: //p' <<<"$out")
    ede=$(sed -n 's/^;; EDE: \([0-9]*\):.*/\1/p' <<<"$out" | paste -sd, -)
    ad=no
    [[ " $flags " == *" ad "* ]] && ad=yes
    [[ $rcode == "$want_rcode" && $ad == "$want_ad" ]] || verdict=FAIL
    [[ -z $want_ede || ${ede%%,*} == "$want_ede" ]] || verdict=FAIL
    [[ $verdict == ok ]] || ok=0
    local who=A
    [[ $server == "$b" ]] && who=B
    rows+=("$(printf '%6s | %s | %-20s | %-8s | %-3s | %-7s | %-4s | %s' \
        "$(elapsed)" "$who" "$name" "${rcode:-none}" "$ad" "${ede:--}" "$verdict" "$label")")
}
note() { rows+=("$(printf '%6s | %s' "$(elapsed)" "-- $*")"); log "$*"; }

ask "only A resolves it" "$a" host4.example.lab. NOERROR yes
sleep 1 # A's writer pipelines it to Redis
labctl() { compose exec -T tld /lastgood lab-ctl 127.0.0.1:5399 "$@" >/dev/null || { ok=0; note "FAILED: lab-ctl $*"; }; }
labctl fault lab. unpublished-zsk
note "tld: lab. rollover breaks (data signed by a ZSK not in its DNSKEY set)"
sleep "$wait_ttl"
note "TTLs (${LASTGOOD_TTL}s) expire"
ask "B never asked: stale from A's answer" "$b" host4.example.lab. NOERROR yes 3
ask "nobody resolved it: fail closed" "$b" host5.example.lab. SERVFAIL no
compose exec -T resolver /lastgood nta add lab. --lifetime 1h --reason "lab. rollover broken" >/dev/null ||
    { ok=0; note "FAILED: nta add on A"; }
note "operator on A: lastgood nta add lab. (no flush anywhere)"
for _ in $(seq 1 20); do
    compose exec -T resolver-b /lastgood nta list 2>/dev/null | grep -q '^lab\. ' && break
    sleep 0.5
done
ask "B, under A's NTA" "$b" host5.example.lab. NOERROR no
redis_entries=$(curl -sf "http://127.0.0.1:$LASTGOOD_CONTROL_PORT/metrics" | awk '$1 == "lastgood_redis_entries_written_total" { print $2 }')
b_reads=$(curl -sf "http://127.0.0.1:$LASTGOOD_B_CONTROL_PORT/metrics" | awk '$1 == "lastgood_redis_reads_total{result=\"hit\"}" { print $2 }')

echo
printf '%6s | %s | %-20s | %-8s | %-3s | %-7s | %-4s | %s\n' time R name rcode AD EDE ok step
printf '%s\n' "-------+---+----------------------+----------+-----+---------+------+-----------------------------------"
printf '%s\n' "${rows[@]}"
echo
echo "A wrote ${redis_entries:-0} entries to Redis; B read ${b_reads:-0} from it"
if ((ok)); then
    echo "fleet: every step behaved as expected"
    exit 0
fi
echo "fleet: SOME STEPS DID NOT BEHAVE AS EXPECTED"
exit 1
