#!/usr/bin/env bash
# The fleet variant's Redis image (default tag lastgood-redis:fleet), FROM
# scratch: the host's Debian redis-server binary and the shared libraries
# ldd lists for it (installed from Debian if missing). Nothing is pulled.
#
#   docker/build-redis.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${LASTGOOD_REDIS_IMAGE:-lastgood-redis:fleet}
ctx=$here/.run/redis-image # ignored, like the keys

if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
fi
bin=$(readlink -f "$(command -v redis-server)")
rm -rf "$ctx"
mkdir -p "$ctx/root"
cp "$bin" "$ctx/root/redis-server"
# Every library the loader would map, and the loader itself, at their paths.
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
        cp -L --parents "$lib" "$ctx/root/"
    done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu
ENTRYPOINT ["/redis-server"]
DOCKERFILE
if ! docker build -t "$image" "$ctx" >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    exit 1
fi
rm -f "$ctx.log"
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "build: $image is $((size / 1024)) KiB ($(redis-server --version | awk '{ print $3 }'))"
