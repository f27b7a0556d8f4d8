#!/usr/bin/env bash
# The main job, end to end: build a busybox image locally (umoci), import it into lading's image
# store, and run a real container from it with the engine (`lading container run`).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/lading-demo.XXXXXX)
lading="$PWD/.venv/bin/lading"
engine=("$lading" container --storage-root "$work/store" --run-root "$work/run")
trap '"${engine[@]}" rm -f demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# 1. An OCI image with one layer: a static busybox and its applets.
umoci init --layout "$work/layout"
umoci new --image "$work/layout:busybox"
umoci unpack --image "$work/layout:busybox" "$work/build" >/dev/null
mkdir -p "$work/build/rootfs/bin" "$work/build/rootfs/etc"
cp "$(command -v busybox)" "$work/build/rootfs/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/build/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$work/build/rootfs/etc/passwd"
umoci repack --image "$work/layout:busybox" "$work/build"
umoci config --image "$work/layout:busybox" --config.cmd sh --config.env PATH=/bin

# 2. The engine: import the image, then run a container from it (overlay layers, a monitor,
#    docker's flags); --rm leaves nothing behind but the image.
"$lading" image --storage-root "$work/store" import "$work/layout:busybox" localhost/busybox:demo
"${engine[@]}" run --rm --name demo \
  localhost/busybox:demo sh -c 'echo "hello from $(hostname), pid $$ in $(uname -sr)"; ls /'
