#!/usr/bin/env bash
# Build the Debian package and check it (called from .ci/run):
# - its file list and control fields (dpkg-deb -c / -I), the conffile;
# - lintian, when installed (not installed by CI: too heavy for what it adds);
# - the unit: the settings issue 19 asks for, `systemd-analyze verify`
#   (pointed at the extracted binary) and the offline security score;
# - a throwaway root (dpkg -x): the installed binary checks the installed
#   sample configuration, then serves from a copy of it (ports and paths moved
#   to a temp dir), answers `status` on its control socket, and stops on TERM.
#
#   packaging/check-deb.sh [OUT_DIR]     (PROFILE, LASTGOOD_BIN: see build-deb.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "check-deb: FAIL: $*" >&2
    exit 1
}

# systemd-analyze (Debian's systemd package) verifies the unit; idempotent.
if ! command -v systemd-analyze >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq systemd >/dev/null) \
        || echo "check-deb: could not install systemd; unit verify skipped" >&2
fi

deb=$(packaging/build-deb.sh "${1:-target/debian}")
echo "== dpkg-deb -I $deb"
dpkg-deb -I "$deb"
echo "== dpkg-deb -c $deb"
list=$(dpkg-deb -c "$deb")
echo "$list"

for f in ./usr/bin/lastgood ./etc/lastgood/lastgood.toml \
    ./usr/lib/systemd/system/lastgood.service ./usr/share/man/man1/lastgood.1.gz \
    ./usr/share/man/man1/lastgood-serve.1.gz ./usr/share/man/man1/lastgood-check-config.1.gz \
    ./usr/share/doc/lastgood/copyright ./usr/share/doc/lastgood/changelog.Debian.gz; do
    grep -q " $f\$" <<<"$list" || fail "$f missing from the package"
done
[ "$(dpkg-deb -f "$deb" Package)" = lastgood ] || fail "Package field"
dpkg-deb -f "$deb" Depends | grep -q '^libc6 (>= ' || fail "Depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/lastgood/lastgood.toml \
    || fail "/etc/lastgood/lastgood.toml is not a conffile"

if command -v lintian >/dev/null 2>&1; then
    echo "== lintian"
    # Errors fail the check; warnings are shown.
    lintian --tag-display-limit 0 "$deb" | tee "$(dirname "$deb")/lintian.txt" || true
    if grep -q '^E: ' "$(dirname "$deb")/lintian.txt"; then
        fail "lintian errors"
    fi
else
    echo "== lintian: not installed, skipped"
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-root.XXXXXX")
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$root"' EXIT
dpkg -x "$deb" "$root"
bin=$root/usr/bin/lastgood
unit=$root/usr/lib/systemd/system/lastgood.service

echo "== unit"
for setting in Type=notify WatchdogSec= AmbientCapabilities=CAP_NET_BIND_SERVICE \
    User=lastgood StateDirectory=lastgood RuntimeDirectory=lastgood ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes RestrictAddressFamilies=; do
    grep -q "^$setting" "$unit" || fail "unit lacks $setting"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$root/verify"
    sed "s|/usr/bin/lastgood|$bin|g" "$unit" > "$root/verify/lastgood.service"
    systemd-analyze verify --man=no "$root/verify/lastgood.service"
    echo "systemd-analyze verify: ok"
    systemd-analyze security --offline=true --man=no "$root/verify/lastgood.service" 2>&1 \
        | grep 'Overall exposure' || true
else
    echo "systemd-analyze: not installed, verify skipped"
fi

echo "== the installed binary on the installed configuration"
"$bin" --version
"$bin" check-config "$root/etc/lastgood/lastgood.toml"
zcat "$root/usr/share/man/man1/lastgood-serve.1.gz" | grep -q -- 'log\\-level' \
    || fail "lastgood-serve(1) does not document --log-level"

echo "== serve from the installed configuration (moved to a temp dir)"
port=$((20000 + RANDOM % 20000))
run=$root/run-test
mkdir -p "$run/state"
sed -e "s|^listen = .*|listen = [\"127.0.0.1:$port\"]|" \
    -e "s|^state-dir = .*|state-dir = \"$run/state\"|" \
    -e "s|^control-socket = .*|control-socket = \"$run/control.sock\"|" \
    -e 's|^control-listen = .*|control-listen = ""|' \
    "$root/etc/lastgood/lastgood.toml" > "$run/lastgood.toml"
"$bin" check-config "$run/lastgood.toml"
"$bin" serve --config "$run/lastgood.toml" 2> "$run/serve.log" &
pid=$!
ok=
for _ in $(seq 1 100); do
    if "$bin" status --json --config "$run/lastgood.toml" > "$run/status.json" 2>/dev/null; then
        ok=1
        break
    fi
    sleep 0.1
done
[ -n "$ok" ] || { cat "$run/serve.log" >&2; fail "serve did not answer status"; }
grep -q "\"127.0.0.1:$port\"" "$run/status.json" || fail "status: $(cat "$run/status.json")"
kill -TERM "$pid"
wait "$pid" || fail "serve exited non-zero after TERM: $(cat "$run/serve.log")"
pid=
grep 'lastgood started' "$run/serve.log"
if grep -q $'\e' "$run/serve.log"; then
    fail "ANSI escapes in a log written to a file"
fi
echo "check-deb: ok ($deb)"
