#!/usr/bin/env bash
# The main job, end to end: build a busybox image locally (umoci), import it into lading's image
# store, turn it into a bundle, and run a real container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/lading-demo.XXXXXX)
lading="$PWD/.venv/bin/lading"
trap '"$lading" --root "$work/state" delete --force demo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

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

# 2. lading: import, bundle, run.
"$lading" image --storage-root "$work/store" import "$work/layout:busybox" localhost/busybox:demo
"$lading" image --storage-root "$work/store" bundle localhost/busybox:demo "$work/bundle" -- \
  sh -c 'echo "hello from $(hostname), pid $$ in $(uname -sr)"; ls /'
"$lading" --root "$work/state" run --bundle "$work/bundle" demo
