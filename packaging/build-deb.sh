#!/usr/bin/env bash
# Build the Debian package from the tree with dpkg-deb (no cargo-deb: it
# would cost a compile of its own in CI for what fits in this script).
#
#   packaging/build-deb.sh [OUT_DIR]        -> OUT_DIR/lastgood_VERSION-1_ARCH.deb
#
# PROFILE=release (default) builds `cargo build --release`; PROFILE=debug uses
# the debug build (quick local checks). LASTGOOD_BIN=PATH packages that
# binary instead of building; DEB_COMPRESS=none|gzip|xz (default xz). Prints
# the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-target/debian}
profile=${PROFILE:-release}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
debversion="${version}-1"

if [ -n "${LASTGOOD_BIN:-}" ]; then
    bin=$LASTGOOD_BIN
else
    if [ "$profile" = release ]; then
        cargo build --release --quiet --bin lastgood >&2
    else
        cargo build --quiet --bin lastgood >&2
    fi
    bin=target/$profile/lastgood
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/lastgood-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/lastgood

install -d "$root/DEBIAN" "$root/usr/bin" "$root/etc/lastgood" \
    "$root/usr/lib/systemd/system" "$root/usr/share/man/man1" "$doc"
install -m 0755 "$bin" "$root/usr/bin/lastgood"
if [ "$profile" = release ] || [ -n "${LASTGOOD_BIN:-}" ]; then
    strip --strip-unneeded "$root/usr/bin/lastgood" 2>/dev/null || true
fi
install -m 0644 packaging/lastgood.toml "$root/etc/lastgood/lastgood.toml"
install -m 0644 packaging/lastgood.service "$root/usr/lib/systemd/system/lastgood.service"

# Manual pages from the clap definitions (hidden `lastgood man`).
"$root/usr/bin/lastgood" man --dir "$stage/man"
for page in "$stage"/man/*.1; do
    gzip -9n -c "$page" > "$root/usr/share/man/man1/$(basename "$page").gz"
done

install -m 0644 packaging/debian/copyright "$doc/copyright"
gzip -9n -c README.md > "$doc/README.md.gz"
chmod 0644 "$doc/README.md.gz"
{
    echo "lastgood ($debversion) unstable; urgency=medium"
    echo
    echo "  * Package built from the source tree (packaging/build-deb.sh)."
    echo
    echo " -- lastgood developers <lastgood@example.org>  $(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

install -m 0644 packaging/debian/conffiles "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done

# The lowest glibc symbol version the binary needs.
glibc=$(objdump -T "$root/usr/bin/lastgood" 2>/dev/null \
    | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1 || true)
depends="libc6 (>= ${glibc:-2.34}), libgcc-s1, passwd, init-system-helpers (>= 1.52)"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

cat > "$root/DEBIAN/control" <<CONTROL
Package: lastgood
Version: $debversion
Architecture: $arch
Maintainer: lastgood developers <lastgood@example.org>
Installed-Size: $size
Depends: $depends
Section: net
Priority: optional
Description: validating, caching, recursive DNS resolver that serves last good answers
 lastgood resolves from the root, validates DNSSEC and caches answers. When
 the authorities above it break (an outage, a botched key rollover) it serves
 the last answer that validated, marked stale with extended DNS errors, instead
 of SERVFAIL. Negative trust anchors, a control API with a CLI, Prometheus
 metrics and a systemd unit (Type=notify, watchdog, hardened) are included.
CONTROL

mkdir -p "$out"
deb="$out/lastgood_${debversion}_${arch}.deb"
dpkg-deb --root-owner-group "-Z${DEB_COMPRESS:-xz}" --build "$root" "$deb" >&2
echo "$deb"
