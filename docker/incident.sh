#!/usr/bin/env bash
# The .de 2026 incident timeline across containers (issue 21), in one command:
#
#   docker/incident.sh [--no-build]
#
# build (docker/build.sh unless --no-build) -> compose up the incident lab
# (`lastgood lab-incident`, the short run's scale: 400 signed + 100 unsigned
# children, compression 360), which serves and holds its timeline -> the
# lastgood resolver from the lab's root.hints and root.key -> the timeline
# starts, and the replay client (`lastgood incident-client`) -> at the
# lab's `nta` time `lastgood nta add de-lab.` in the resolver container
# (`docker exec`, as `compose exec` does) -> the client and the lab end ->
# the per-phase table (and the chart if gnuplot is there) of
# benches/incident.sh, from the same code (benches/incident-report.sh) ->
# compose down. Exits non-zero if lastgood misses the bounds of
# `benches/incident.sh --short`.
#
# Environment: the settings of benches/incident.sh (SIGNED, UNSIGNED,
# COMPRESSION, RATE, CLIENTS, ZIPF, NEW_SHARE, SEED, the bounds
# MAX_SERVFAIL_BEFORE_NTA, MIN_SEEN_ANSWERED, MIN_AFTER_NTA) with the short
# run's defaults; RESULTS_DIR (target/incident/docker-<date>/);
# LASTGOOD_INCIDENT_DNS_PORT (53560) and LASTGOOD_INCIDENT_CONTROL_PORT
# (8063), where the resolver's DNS and /metrics are published on 127.0.0.1;
# LASTGOOD_PROJECT (lastgood-incident), LASTGOOD_IMAGE (lastgood:lab).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
bin=$repo/target/x86_64-unknown-linux-gnu/release/lastgood
run_dir=$here/.run/incident

# incident_short_defaults, incident_defaults, phase_ms, the tables, chart
# and bounds: the host benchmark's own code.
# shellcheck source=benches/incident-report.sh
source "$repo/benches/incident-report.sh"
incident_short_defaults
incident_defaults
RESULTS=${RESULTS_DIR:-$repo/target/incident/docker-$(date +%Y%m%d-%H%M%S)}

export LASTGOOD_INCIDENT_DNS_PORT=${LASTGOOD_INCIDENT_DNS_PORT:-53560}
export LASTGOOD_INCIDENT_CONTROL_PORT=${LASTGOOD_INCIDENT_CONTROL_PORT:-8063}
export LASTGOOD_INCIDENT_DIR=$run_dir
export INCIDENT_SIGNED=$SIGNED INCIDENT_UNSIGNED=$UNSIGNED INCIDENT_COMPRESSION=$COMPRESSION
export INCIDENT_RATE=$RATE INCIDENT_CLIENTS=$CLIENTS INCIDENT_ZIPF=$ZIPF
export INCIDENT_NEW_SHARE=$NEW_SHARE INCIDENT_SEED=$SEED
project=${LASTGOOD_PROJECT:-lastgood-incident}
export LASTGOOD_INCIDENT_LAB=$project-lab
resolver=127.0.0.1:$LASTGOOD_INCIDENT_DNS_PORT
# Bounds, in 0.1 s steps: the lab's start (generating and signing the
# children) and the resolver's first answer.
LAB_READY_TRIES=1200
READY_TRIES=300

started=$(date +%s.%N)
elapsed() { awk -v s="$started" -v n="$(date +%s.%N)" 'BEGIN { printf "%5.1fs", n - s }'; }
log() { echo "[$(elapsed)] $*" >&2; }
die() {
    echo "incident: $*" >&2
    exit 1
}

# compose_setup (docker/lib.sh)
# shellcheck source=docker/lib.sh
source "$here/lib.sh"
compose_setup || die "neither 'docker compose' nor 'docker-compose' is available"
compose() {
    "${compose_cmd[@]}" -p "$project" -f "$here/compose.incident.yaml" "$@"
}

if [[ ${1:-} != --no-build ]]; then
    "$here/build.sh" || die "build failed"
elif ! docker image inspect "${LASTGOOD_IMAGE:-lastgood:lab}" >/dev/null 2>&1; then
    die "--no-build: image ${LASTGOOD_IMAGE:-lastgood:lab} does not exist; run docker/build.sh"
fi
[[ -x $bin ]] || die "$bin is missing; run docker/build.sh"

ok=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ((rc != 0 || ok == 0)); then
        echo "--- container logs (last lines) ---" >&2
        compose logs --no-color --tail 15 2>&1 | sed 's/^/  /' >&2
    fi
    compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The run directory, mounted at /incident: the resolver's configuration
# (the bench's, with TCP control on the container's addresses so /metrics
# can be published, and a state-dir for the control token), the lab's
# output, the client's CSV.
rm -rf "$run_dir"
mkdir -p "$run_dir/lastgood" "$RESULTS/lastgood" || die "cannot create $run_dir or $RESULTS"
{
    sed "s#@CONTROL@#0.0.0.0:8053#" "$repo/benches/incident/lastgood.toml.in"
    echo 'state-dir = "/var/lib/lastgood"'
} >"$run_dir/lastgood.toml"

compose down --volumes --remove-orphans --timeout 2 >/dev/null 2>&1
# The lab serves and writes root.hints and root.key, then holds its
# timeline until $run_dir/start exists (--start-file). The resolver and
# the client join the lab's network namespace, so compose creates them
# once the lab runs; they are started with `docker start` (a
# docker-compose 1.29 call takes seconds on a loaded machine, and the
# timeline's first phase is 10 s at compression 360).
log "lab: lab-incident, $SIGNED signed + $UNSIGNED unsigned children, compression ${COMPRESSION}x (${compose_cmd[*]} project $project)"
compose up -d lab >/dev/null 2>&1 || {
    compose up -d lab
    die "compose up lab failed"
}
for ((i = 0; i < LAB_READY_TRIES; i++)); do
    [[ -s $run_dir/lab/root.hints ]] && break
    sleep 0.1
done
[[ -s $run_dir/lab/root.hints ]] || die "the incident lab did not start within $((LAB_READY_TRIES / 10))s"
compose up --no-start --no-deps resolver client >/dev/null 2>&1 || {
    compose up --no-start --no-deps resolver client
    die "compose up --no-start resolver client failed"
}
lab_id=$(compose ps -q lab)
resolver_id=$(compose ps -q resolver)
client_id=$(compose ps -q client)
[[ -n $lab_id && -n $resolver_id && -n $client_id ]] || die "compose did not create lab, resolver and client"

docker start "$resolver_id" >/dev/null || die "docker start resolver failed"
for ((i = 0; i < READY_TRIES; i++)); do
    "$bin" query -s "$resolver" de-lab. SOA 2>/dev/null | grep -q '^;; status: NOERROR' && break
    [[ $(docker inspect -f '{{.State.Running}}' "$resolver_id" 2>/dev/null) == true ]] || break
    sleep 0.1
done
"$bin" query -s "$resolver" de-lab. SOA 2>/dev/null | grep -q '^;; status: NOERROR' ||
    die "the resolver did not answer de-lab. SOA at $resolver (exited, or not within $((READY_TRIES / 10))s)"
log "resolver answers at $resolver (/metrics on 127.0.0.1:$LASTGOOD_INCIDENT_CONTROL_PORT)"

touch "$run_dir/start"
timeline=$run_dir/lab/timeline.txt
for ((i = 0; i < LAB_READY_TRIES; i++)); do
    [[ -s $timeline ]] && grep -q '^end ' "$timeline" && break
    sleep 0.05
done
grep -q '^end ' "$timeline" 2>/dev/null || die "the incident lab did not start its timeline"
docker start "$client_id" >/dev/null || die "docker start client failed"
log "timeline started: $(tr '\n' ' ' <"$timeline")"
log "client: $CLIENTS clients, $RATE queries/s, Zipf $ZIPF, never-seen share $NEW_SHARE; replay until $(date -d @$(($(phase_ms "$run_dir/lab" end) / 1000)) +%H:%M:%S)"

# The operator's NTA at the lab's nta time: `compose exec resolver /lastgood
# nta add` done as `docker exec` on the same container (docker-compose
# 1.29 would add its second of start-up to a phase of 5 s).
nta_ms=$(phase_ms "$run_dir/lab" nta)
wait_ms=$((nta_ms - $(date +%s%3N)))
((wait_ms > 0)) && sleep "$(awk -v m="$wait_ms" 'BEGIN { printf "%.3f", m / 1000 }')"
if docker exec "$resolver_id" /lastgood nta add de-lab. --config /incident/lastgood.toml \
    --lifetime 1h --reason "de-lab. signer broken" >/dev/null; then
    log "operator: lastgood nta add de-lab. in the resolver container ($(($(date +%s%3N) - nta_ms)) ms after the lab's nta time)"
else
    ok=0
    log "FAILED: lastgood nta add de-lab. in the resolver container"
fi

rc=$(docker wait "$client_id") || die "docker wait client failed"
((rc == 0)) || {
    ok=0
    log "FAILED: the client exited $rc"
}
docker wait "$lab_id" >/dev/null || die "docker wait lab failed"
compose logs --no-color lab >"$RESULTS/lastgood/lab.log" 2>&1
compose logs --no-color resolver >"$RESULTS/lastgood/resolver.log" 2>&1
compose logs --no-color client >"$RESULTS/lastgood/client.log" 2>&1
cp "$run_dir/lab/timeline.txt" "$run_dir/lab/upstream.csv" "$RESULTS/lastgood/" ||
    die "no timeline.txt or upstream.csv from the lab"
gzip -c "$run_dir/lastgood/queries.csv" >"$RESULTS/lastgood/queries.csv.gz" ||
    die "no queries.csv from the client"
log "replay done"

# --- the benchmark's table, chart, notes and bounds ---------------------------

incident_tables lastgood
if command -v gnuplot >/dev/null; then
    incident_chart lastgood
else
    log "no gnuplot: no chart (apt-get install gnuplot-nox)"
fi
incident_notes "lab, resolver and client in three containers of compose project $project" \
    "$bin (static, image ${LASTGOOD_IMAGE:-lastgood:lab})"
incident_check_bounds lastgood || ok=0
log "done"
((ok)) || exit 1
