#!/usr/bin/env bash
# Build the statically linked lastgood and the FROM-scratch image that every
# container of the compose testbed runs (default tag lastgood:lab).
#
#   docker/build.sh            # cargo build (static) + docker build
#
# Environment: LASTGOOD_IMAGE (tag), CARGO (cargo binary).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
image=${LASTGOOD_IMAGE:-lastgood:lab}
target=x86_64-unknown-linux-gnu
bin=$repo/target/$target/release/lastgood
ctx=$here/.build

cd "$repo"
echo "build: static lastgood (cargo build --release --target $target, crt-static)"
RUSTFLAGS='-C target-feature=+crt-static' "${CARGO:-cargo}" build --quiet --release \
    --target "$target" --bin lastgood

# FROM scratch has no loader and no libc: the binary must be static.
if ! file -b "$bin" | grep -Eq 'static(-pie)? linked|statically linked'; then
    echo "build: $bin is not statically linked: $(file -b "$bin")" >&2
    exit 1
fi
if ldd "$bin" >/dev/null 2>&1 && ! ldd "$bin" 2>&1 | grep -q 'statically linked'; then
    echo "build: ldd lists shared libraries for $bin" >&2
    exit 1
fi

# Build context: stripped binary, zones with the container addresses, config.
rm -rf "$ctx"
mkdir -p "$ctx/zones"
if command -v strip >/dev/null; then
    strip -o "$ctx/lastgood" "$bin"
else
    cp "$bin" "$ctx/lastgood"
fi
# The lab's 127.53.0.x servers become the compose network's addresses:
# root 172.31.253.2, lab. 172.31.253.3, example/other/insecure.lab. 172.31.253.4.
for zone in "$repo"/zones/*.zone; do
    sed -e 's/\b127\.53\.0\.1\b/172.31.253.2/g' \
        -e 's/\b127\.53\.0\.2\b/172.31.253.3/g' \
        -e 's/\b127\.53\.0\.3\b/172.31.253.4/g' \
        -e 's/\b127\.53\.0\.4\b/172.31.253.4/g' \
        "$zone" >"$ctx/zones/$(basename "$zone")"
done
if grep -l '127\.53\.' "$ctx"/zones/*.zone; then
    echo "build: loopback lab addresses left in the zone files above" >&2
    exit 1
fi
cp "$here/Dockerfile" "$here/lastgood.toml" "$here/root.hints" "$ctx/"

echo "build: docker image $image"
# (The legacy builder's deprecation notice is noise here: show output only on failure.)
if ! docker build -t "$image" "$ctx" >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    exit 1
fi
rm -f "$ctx.log"
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "build: $image is $((size / 1024)) KiB (binary $(($(stat -c %s "$ctx/lastgood") / 1024)) KiB)"
