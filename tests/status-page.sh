#!/usr/bin/env bash
# The status page in a real browser (issue 19): headless Chromium loads
# GET /status from a running resolver's control listener, lets the page's
# script fetch status.json and draw, and the DOM must show the failing
# zone and the NTA. Saves a screenshot (a CI artifact).
#
#   tests/status-page.sh CONTROL_URL FAILING_ZONE NTA_ZONE [SCREENSHOT]
#
# e.g. tests/status-page.sh http://127.0.0.1:8053 example.lab. lab.
# (`-` for a zone skips that check).
# Installs Debian's chromium if missing. Exits non-zero if a check fails.
set -euo pipefail

url=${1:?usage: $0 CONTROL_URL FAILING_ZONE NTA_ZONE [SCREENSHOT]}
zone=${2:?failing zone}
nta=${3:?nta zone}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shot=${4:-$repo/target/status-page.png}

if ! command -v chromium >/dev/null 2>&1; then
    echo "status-page: installing chromium (Debian)" >&2
    if [[ $(id -u) == 0 ]]; then
        apt-get install -y --no-install-recommends chromium >/dev/null
    else
        sudo apt-get install -y --no-install-recommends chromium >/dev/null
    fi
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
browse() {
    # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    # The virtual time budget lets the page's fetch and drawing finish.
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$profile" --virtual-time-budget=4000 \
        --window-size=1000,1300 "$@" 2>"$profile/chromium.log"
}

# A loaded machine may dump the DOM before the page's fetch has drawn
# anything: up to three loads, until the tables are there.
dom=
for _ in 1 2 3; do
    dom=$(browse --dump-dom "$url/status") || {
        cat "$profile/chromium.log" >&2
        echo "status-page: chromium failed on $url/status" >&2
        exit 1
    }
    grep -q 'id="tier-chart"' <<<"$dom" && break
    echo "status-page: page not drawn yet, loading again" >&2
    sleep 1
done
mkdir -p "$(dirname "$shot")"
printf '%s\n' "$dom" >"${shot%.png}.dom.html"
browse --screenshot="$shot" "$url/status" >/dev/null || true

fail=0
# section ID: the markup from the element with that id to the next heading.
section() {
    local rest=${dom#*id=\"$1\"}
    [[ $rest != "$dom" ]] || return 0
    printf '%s\n' "${rest%%<h2>*}"
}
check() {
    local what=$1 id=$2 text=$3
    # The section into a variable first: `grep -q` on a pipe may close it
    # early, and under pipefail the writer's SIGPIPE would fail the check.
    local markup
    markup=$(section "$id")
    if grep -qF -- "<td>$text</td>" <<<"$markup"; then
        echo "status-page: ok: $what $text shown in #$id"
    else
        echo "status-page: FAIL: $what $text not in #$id" >&2
        head -c 2000 <<<"$markup" >&2
        fail=1
    fi
}
[[ $zone == - ]] || check "failing zone" failing-zones "$zone"
[[ $nta == - ]] || check "NTA" ntas "$nta"
if grep -q 'id="tier-chart"' <<<"$dom" && grep -q '<rect ' <<<"$dom"; then
    echo "status-page: ok: answers-by-tier chart drawn"
else
    echo "status-page: FAIL: no chart bars in the DOM" >&2
    fail=1
fi
if [[ -s $shot ]]; then
    echo "status-page: screenshot $shot ($(stat -c %s "$shot") bytes)"
else
    echo "status-page: FAIL: no screenshot at $shot" >&2
    fail=1
fi
exit "$fail"
