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
# A real Prometheus (the host's Debian `prometheus`, installed if missing)
# scrapes the resolver every second through the whole story, which ends
# with PromQL results from its HTTP API (answers by tier over time); during
# the break headless Chromium checks the status page (tests/status-page.sh,
# screenshot target/status-page-scenario.png).
#
# Prints a timeline table and exits non-zero if any step did not behave as
# expected. Environment: LASTGOOD_DNS_PORT (53530), LASTGOOD_CONTROL_PORT
# (8053), LASTGOOD_TTL (5), LASTGOOD_PROJECT (lastgood-lab), LASTGOOD_IMAGE,
# LASTGOOD_PROM_PORT (9590, the host Prometheus on 127.0.0.1).
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

# compose_setup (docker/lib.sh)
# shellcheck source=docker/lib.sh
source "$here/lib.sh"
compose_setup || die "neither 'docker compose' nor 'docker-compose' is available"
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
prom_pid=
cleanup() {
    local rc=$?
    [[ -n $prom_pid ]] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
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
# --- Prometheus on the host, scraping the published /metrics ----------------

prom_port=${LASTGOOD_PROM_PORT:-9590}
prom_url=http://127.0.0.1:$prom_port
if ! command -v prometheus >/dev/null 2>&1; then
    log "installing Debian's prometheus"
    apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 ||
        sudo apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 ||
        die "prometheus is missing and could not be installed"
fi
command -v python3 >/dev/null 2>&1 || die "python3 is needed to print the PromQL results"
rm -rf "$run_dir/prometheus"
mkdir -p "$run_dir/prometheus"
cat >"$run_dir/prometheus/prometheus.yml" <<PROM
# Written by docker/scenario.sh: scrape every second for the short story.
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $repo/monitoring/rules.yml
scrape_configs:
  - job_name: lastgood
    static_configs:
      - targets: ["127.0.0.1:$LASTGOOD_CONTROL_PORT"]
        labels:
          instance: compose-resolver
PROM
prometheus --config.file="$run_dir/prometheus/prometheus.yml" \
    --storage.tsdb.path="$run_dir/prometheus/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn \
    >"$run_dir/prometheus/prometheus.log" 2>&1 &
prom_pid=$!
promql() { # promql ENDPOINT PARAM...: GET the HTTP API, JSON out
    local endpoint=$1
    shift
    local args=()
    for p in "$@"; do args+=(--data-urlencode "$p"); done
    curl -sfG "$prom_url/api/v1/$endpoint" "${args[@]}"
}
for _ in $(seq 1 60); do
    promql query 'query=up{job="lastgood"}' 2>/dev/null | grep -q '"value":\[[0-9.]*,"1"\]' && break
    sleep 0.5
done
promql query 'query=up{job="lastgood"}' 2>/dev/null | grep -q '"value":\[[0-9.]*,"1"\]' ||
    die "Prometheus at $prom_url did not scrape $metrics_url (see $run_dir/prometheus/prometheus.log)"
log "prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}') on $prom_url scrapes $metrics_url every second"

log "resolver ready; the timeline starts at 0"
setup_took=$(elapsed)
started=$(date +%s.%N)
story_start=$(date +%s)

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

# The status page in a real browser while the zone fails (before the NTA
# clears its window), then with the NTA.
status_page() {
    local out=$run_dir/status-page-$(basename "${3%.png}").out
    if "$repo/tests/status-page.sh" "http://127.0.0.1:$LASTGOOD_CONTROL_PORT" "$@" \
        >"$out" 2>&1; then
        note "status page (headless Chromium): $(grep -c ': ok:' "$out") checks ok ($3)"
    else
        ok=0
        note "FAILED: status page: $(grep FAIL "$out" | head -2 | tr '\n' ' ') (see $out)"
    fi
}
failing=$(curl -sf "http://127.0.0.1:$LASTGOOD_CONTROL_PORT/status.json" |
    python3 -c 'import json,sys; print(" ".join(z["zone"] for z in json.load(sys.stdin)["failing_zones"]))')
note "status.json: failing zones: ${failing:-none}"
first=${failing%% *}
status_page "${first:--}" - "$repo/target/status-page-break.png"

lastgood_ctl nta add lab. --lifetime 1h --reason "lab. rollover broken" >/dev/null ||
    {
        ok=0
        note "FAILED: lastgood nta add lab."
    }
nta_active=1
note "operator: lastgood nta add lab. (no cache flush)"
ask "never cached, under the NTA" host2.example.lab. nta no
ask "cached, under the NTA" host1.example.lab. nta no
# Under the NTA the zone's window may reopen (unvalidated resolutions still
# see the broken chain) and close again (its probe is answered): only the
# NTA is checked here. monitoring/check.sh checks a failing zone and an NTA
# on one page.
status_page - lab. "$repo/target/status-page-scenario.png"

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

# --- PromQL results from the host's Prometheus --------------------------------

sleep 2 # the last scrape
story_end=$(date +%s)
echo
echo "PromQL (Prometheus $prom_url, scraped every 1s), answers by tier over the story:"
echo "  query_range: sum by (tier) (lastgood_answers_total), step 5s, per-step increase shown"
promql query_range 'query=sum by (tier) (lastgood_answers_total{job="lastgood"})' \
    "start=$story_start" "end=$((story_end + 4))" step=5 >"$run_dir/promql-tiers.json" ||
    {
        ok=0
        echo "  FAILED: query_range"
    }
python3 - "$run_dir/promql-tiers.json" "$story_start" <<'PY' || ok=0
import json, sys
doc = json.load(open(sys.argv[1]))
start = int(sys.argv[2])
series = {r["metric"].get("tier", "?"): {int(float(t)): int(float(v)) for t, v in r["values"]}
          for r in doc["data"]["result"]}
order = [t for t in ("fresh", "stale", "nta", "servfail", "local") if t in series]
times = sorted({t for s in series.values() for t in s})
print("  %6s | %s" % ("t", " | ".join("%8s" % t for t in order)))
prev = {t: 0 for t in order}
for ts in times:
    cells = []
    for t in order:
        v = series[t].get(ts, prev[t])
        cells.append("%8s" % ("+%d" % (v - prev[t]) if v != prev[t] else "."))
        prev[t] = v
    print("  %5ds | %s" % (ts - start, " | ".join(cells)))
print("  totals | " + " | ".join("%8d" % prev[t] for t in order))
need = {"fresh", "stale", "nta", "servfail"}
missing = need - {t for t in order if prev[t] > 0}
if missing:
    print("  FAILED: tiers never seen by Prometheus: %s" % ", ".join(sorted(missing)))
    sys.exit(1)
PY
range=$((story_end - story_start + 1))
for q in "max by (cause) (max_over_time(lastgood_zones_failing[${range}s])) > 0" \
    "max by (zone, cause, ede) (max_over_time(lastgood_failing_zone_info[${range}s]))" \
    "max by (zone) (max_over_time(lastgood_nta_remaining_seconds[${range}s]))" \
    "sum by (outcome, ede) (lastgood_validation_total{outcome=~\"bogus|nta\"}) > 0"; do
    echo "  query: $q"
    promql query "query=$q" "time=$story_end" |
        python3 -c 'import json,sys
r = json.load(sys.stdin)["data"]["result"]
for s in r: print("    %s => %s" % ({k: v for k, v in s["metric"].items() if k not in ("job", "instance")}, s["value"][1]))
print("    (no series)") if not r else None' || ok=0
done

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
