#!/usr/bin/env bash
# Install everything lading and its tests need on a fresh Debian 12 machine (as root), then run a
# real container end to end. Pass --no-demo to skip the container.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  python3 python3-venv            # the interpreter lading runs on
  busybox-static                  # the rootfs of the demo and test containers
  libseccomp2                     # seccomp filters, loaded through ctypes
  iproute2 uidmap                 # network namespaces and id maps in tests
  procps                          # the host ps that `lading ps` runs for its table form
  qemu-user-static                # runs the aarch64 exec trampoline in its test
  runc crun                       # the reference runtimes the benchmarks compare against
  podman containerd skopeo umoci  # real clients and image tools driven by the tests
  netavark aardvark-dns           # podman's network backend (what the tests' podman picks); named, not left to podman's Recommends
  catatonit                       # `lading container run --init`'s PID 1, and the CRI tests' pause process
  docker-registry apache2-utils   # a local registry (and htpasswd) for pull tests
  containernetworking-plugins     # CNI bridge, host-local and loopback for the CRI tests' pods
  zstd                            # zstd-compressed image layers (a streaming filter)
  hyperfine time                  # benchmark timing and peak memory
  docker.io                       # bench/engine.py's third engine (its own dockerd on private sockets),
                                  # and the docker CLI for the Docker API; never started as a service
  gcc libc6-dev                   # builds the static clone3 probe of the seccomp tests
)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  # No package may start a service on this host (docker.io would start dockerd, which makes a
  # docker0 bridge and firewall rules): policy-rc.d answering 101 forbids it during the install,
  # and is removed afterwards only if it was made here.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1
  fi
  # With recommends: podman's (fuse-overlayfs, slirp4netns, catatonit) are what the tests were run with.
  status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null || status=$?
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  [ "$status" -eq 0 ] || exit "$status"
fi

# Debian's own interpreter (the python3 package above: built with PGO and LTO, its C modules such
# as _json, fcntl and select built in), not whichever python3 comes first on PATH: every runtime
# verb is a new process, and its start-up is most of the verb's time.
if [ ! -x .venv/bin/python ]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
# The commit `lading --version` names (runc's "commit:" line), fixed now: no git call at run time.
git describe --dirty --long --always > src/lading/COMMIT 2>/dev/null || rm -f src/lading/COMMIT
# Not a link to pip's .venv/bin/lading: a launcher that starts Python with -IS (no site processing),
# since podman and containerd start the runtime once per verb (see lading/cli/launcher.py).
.venv/bin/python -m lading.cli.launcher /usr/local/bin/lading

[ "${1:-}" = "--no-demo" ] && exit 0
exec bash scripts/demo.sh
