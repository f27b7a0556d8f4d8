#!/usr/bin/env bash
# The main job, end to end: build a busybox image locally, turn it into a bundle, run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/lading-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
lading=.venv/bin/lading

mkdir -p "$work/bundle/rootfs/bin"
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for applet in $(busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$applet"
done
(cd "$work/bundle" && "$OLDPWD/$lading" spec)
.venv/bin/python - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["process"]["terminal"] = False
config["process"]["args"] = ["sh", "-c", "echo hello from $(hostname), pid $$; uname -sr"]
json.dump(config, open(path, "w"), indent=2)
PY
"$lading" --root "$work/state" run --bundle "$work/bundle" demo
