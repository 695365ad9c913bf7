#!/usr/bin/env bash
# Check the shipped monitoring against a real resolver (issue 19):
#
#   monitoring/check.sh
#
# 1. promtool check rules / test rules on monitoring/rules.yml;
# 2. the Grafana dashboard is valid JSON;
# 3. a lab hierarchy and lastgood (target/debug) on loopback, a break
#    (example.lab. signed by a ZSK it does not publish) and an NTA
#    (other.lab.); /metrics scraped: `promtool check metrics` must be
#    clean, and every metric name used by the rules and the dashboard
#    must be in the scrape;
# 4. tests/status-page.sh: headless Chromium on the status page during
#    the break (screenshot target/status-page.png).
#
# Installs Debian's prometheus (promtool) if missing. Ports (loopback):
# MON_LAB_PORT (53571, on 127.53.0.1-4), MON_DNS_PORT (5371), MON_CONTROL_PORT
# (8571), MON_LAB_CONTROL_PORT (5372). Exits non-zero on any failure.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cd "$repo"

need() {
    local cmd=$1 pkg=$2
    command -v "$cmd" >/dev/null 2>&1 && return
    echo "monitoring: installing $pkg (Debian)" >&2
    if [[ $(id -u) == 0 ]]; then
        apt-get install -y --no-install-recommends "$pkg" >/dev/null
    else
        sudo apt-get install -y --no-install-recommends "$pkg" >/dev/null
    fi
}
need promtool prometheus
need python3 python3

echo "== promtool check rules"
promtool check rules monitoring/rules.yml
echo "== promtool test rules"
(cd monitoring && promtool test rules rules_test.yml)
echo "== dashboard JSON"
python3 -m json.tool monitoring/grafana-dashboard.json >/dev/null
echo "monitoring/grafana-dashboard.json: valid JSON"

# --- a real resolver ---------------------------------------------------------

cargo build --quiet --bin lastgood
bin=$repo/target/debug/lastgood
lab_port=${MON_LAB_PORT:-53571}
dns=127.0.0.1:${MON_DNS_PORT:-5371}
control=127.0.0.1:${MON_CONTROL_PORT:-8571}
labctl=127.0.0.1:${MON_LAB_CONTROL_PORT:-5372}
ttl=3
run=$(mktemp -d)
pids=()
cleanup() {
    local rc=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if ((rc != 0)); then
        echo "--- logs ---" >&2
        tail -n 20 "$run"/*.log >&2 || true
    fi
    rm -rf "$run"
    exit "$rc"
}
trap cleanup EXIT

NO_COLOR=1 "$bin" lab --out "$run" --port "$lab_port" --ttl "$ttl" --control "$labctl" \
    >"$run/lab.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    [[ -s $run/root.key ]] && grep -q 'control' "$run/lab.log" && break
    sleep 0.1
done
[[ -s $run/root.key ]] || { echo "monitoring: the lab did not start" >&2; exit 1; }
mkdir -p "$run/state"
cat >"$run/lastgood.toml" <<TOML
listen = ["$dns"]
root-hints = "$run/root.hints"
trust-anchor = "$run/root.key"
upstream-port = $lab_port
control-listen = "$control"
control-socket = "$run/control.sock"
state-dir = "$run/state"
failure-recheck = "30s"
TOML
NO_COLOR=1 "$bin" serve -c "$run/lastgood.toml" >"$run/lastgood.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    curl -sf -o /dev/null "http://$control/metrics" && break
    sleep 0.1
done
curl -sf -o /dev/null "http://$control/metrics" || { echo "monitoring: lastgood did not start" >&2; exit 1; }

ask() { "$bin" query -s "$dns" "$1" A >/dev/null 2>&1 || true; }
for i in 1 2 3 4; do ask "host$i.example.lab."; done
ask www.other.lab.
"$bin" lab-ctl "$labctl" fault example.lab. unpublished-zsk >/dev/null
sleep $((ttl + 1))
for i in 1 2 3 4; do ask "host$i.example.lab."; done
for _ in $(seq 1 50); do
    curl -sf "http://$control/status.json" | grep '"zone":"example.lab."' >/dev/null && break
    ask host1.example.lab.
    sleep 0.2
done
for i in 1 2 3 4; do ask "host$i.example.lab."; ask "never$i.example.lab."; done
"$bin" nta --control "unix:$run/control.sock" add other.lab. --lifetime 1h \
    --reason "other.lab. rollover broken" >/dev/null

# A bound reached (a CNAME chain longer than MAX_CNAME_CHAIN), so that
# lastgood_limit_hits_total has a series (limit names appear when hit).
"$bin" lab-ctl "$labctl" fault insecure.lab. cname-chain:40 >/dev/null
ask chain-0.insecure.lab.

curl -sf "http://$control/metrics" >"$run/metrics.txt"
echo "== promtool check metrics (a real scrape during the break, $(grep -vc '^#' "$run/metrics.txt") samples)"
lint=$(promtool check metrics <"$run/metrics.txt" 2>&1) || {
    echo "$lint"
    echo "monitoring: promtool check metrics failed" >&2
    exit 1
}
[[ -z $lint ]] || { echo "$lint"; echo "monitoring: promtool check metrics is not clean" >&2; exit 1; }
echo "promtool check metrics: clean"
grep -E '^lastgood_(zones_failing|failing_zone_info|nta_remaining_seconds|answers_total\{ede="9")' "$run/metrics.txt" | sed 's/^/  /'

echo "== every metric name in the rules and the dashboard is in the scrape"
names=$(grep -ohE '\b(lastgood|process)_[a-z0-9_]+' monitoring/rules.yml monitoring/grafana-dashboard.json | sort -u)
missing=0
for name in $names; do
    if grep -qE "^$name(\{| )" "$run/metrics.txt"; then
        echo "  ok  $name"
    else
        echo "  MISSING $name"
        missing=1
    fi
done
((missing == 0)) || { echo "monitoring: names above are not in a real /metrics" >&2; exit 1; }

echo "== the status page in headless Chromium"
"$repo/tests/status-page.sh" "http://$control" example.lab. other.lab.
echo "monitoring: all checks passed"
