"""A private containerd with its CRI plugin, two runtime handlers, a pause image and CNI.

What a node's containerd looks like to the kubelet, made from Debian's packages on private paths:
the handlers ``runc`` (Debian's runc) and ``lading``, each reached through the runc v2 shim's
BinaryName (a wrapper that logs every call, see tests/clients/runtimes.py); the cgroupfs driver;
a pause image built here from Debian's static catatonit and imported into the daemon's own store;
CNI from Debian's containernetworking-plugins (bridge, host-local, loopback) with a private conf
dir, bin dir, IPAM data dir and bridge name, on 10.213.0.0/24 (only libcni's result cache has a
fixed place, see CNI_CACHE). The daemon runs in a network namespace of its own
(tests/clients/containerd.py), so the bridge and the pods' veths never appear on the host, and
the pods' network namespaces are mounted under the daemon's state dir.

This machine's runtime lacks CAP_SYS_RESOURCE, so the CRI plugin may not raise oom_score_adj
(``restrict_oom_score_adj``): runc too fails the pause container without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from tests.clients.containerd import CRI_PLUGIN, Containerd
from tests.clients.image import build_oci_archive, write_image_archive
from tests.clients.runtimes import make_runtime
from tests.support import runtime_entries

PAUSE_IMAGE = "localhost/lading-test/pause:1"
CATATONIT = shutil.which("catatonit") or "/usr/bin/catatonit"
CNI_BIN = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
SUBNET = "10.213.0.0/24"
BRIDGE = "lading-cri0"
# The CNI network's name carries the test process's pid: libcni caches each attachment's result
# in CNI_CACHE (named <network>-<pod id>-<interface>) and removes it on detach, and containerd 1.6
# has no setting to move it, so a daemon checks for its own network's results only (another test
# run on the machine may have pods up); the directories are removed afterwards if it made them.
NETWORK = f"lading-cri{os.getpid()}"
CNI_CACHE = (Path("/var/lib/cni/results"), Path("/var/lib/cni"))
K8S_NAMESPACE = "k8s.io"  # where the CRI plugin keeps its containers and images
HANDLERS = ("runc", "lading")


def runtime_handler_config(handler: str, binary: Path, root: Path) -> str:
    """The containerd config for one CRI runtime handler (what docs/clients.md shows)."""
    table = f'[plugins."{CRI_PLUGIN}".containerd.runtimes.{handler}]'
    return f"""
{table}
  runtime_type = "io.containerd.runc.v2"
  [plugins."{CRI_PLUGIN}".containerd.runtimes.{handler}.options]
    BinaryName = "{binary}"
    Root = "{root}"
    SystemdCgroup = false
"""


def cri_config(sandbox_image: str, cni_bin: Path, cni_conf: Path, handlers: dict[str, tuple[Path, Path]]) -> str:
    """The CRI plugin's part of config.toml (docs/clients.md shows it with a node's paths):
    sandbox image, CNI dirs and a runtime handler per name -> (binary, state root)."""
    tables = "".join(runtime_handler_config(name, binary, root) for name, (binary, root) in handlers.items())
    return f"""
[plugins."{CRI_PLUGIN}"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."{CRI_PLUGIN}".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
  [plugins."{CRI_PLUGIN}".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
{tables}"""


def cni_network(data_dir: Path) -> dict[str, object]:
    """A bridge network on SUBNET with host-local addresses and no firewall rules (no NAT, no
    port mapping plugin: port mappings are only recorded)."""
    return {
        "cniVersion": "1.0.0",
        "name": NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": SUBNET}]],
                    "dataDir": str(data_dir),
                },
            }
        ],
    }


def _setup_cni(d: Path) -> None:
    (d / "cni" / "bin").mkdir(parents=True)
    (d / "cni" / "net.d").mkdir(parents=True)
    for plugin in CNI_PLUGINS:
        (d / "cni" / "bin" / plugin).symlink_to(CNI_BIN / plugin)
    conflist = cni_network(d / "cni" / "ipam")
    (d / "cni" / "net.d" / "10-lading-cri.conflist").write_text(json.dumps(conflist, indent=2))


def pause_image_archive(dest: Path, work: Path) -> Path:
    """A pause image: Debian's static catatonit in pause mode, and nothing else."""
    rootfs = work / "pause-rootfs"
    rootfs.mkdir(parents=True)
    shutil.copy2(CATATONIT, rootfs / "catatonit")
    return write_image_archive(dest, rootfs, PAUSE_IMAGE, {"Entrypoint": ["/catatonit", "-P"]})


class CriDaemon:
    """containerd with the CRI plugin on a private socket; close() leaves nothing behind."""

    def __init__(self, directory: Path, binaries: dict[str, Path] | None = None) -> None:
        """binaries: the executable of each handler; by default the wrappers in self.runtimes,
        which log every call (the benchmark gives lading's launcher and runc itself)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._made_cni_cache = [d for d in CNI_CACHE if not d.exists()]
        self.runtimes = {name: make_runtime(name, directory / f"runtime-{name}") for name in HANDLERS}
        daemon_dir = directory / "containerd"
        daemon_dir.mkdir()
        _setup_cni(daemon_dir)
        handlers = {name: ((binaries or {}).get(name, rt.path), rt.root) for name, rt in self.runtimes.items()}
        config = cri_config(PAUSE_IMAGE, daemon_dir / "cni" / "bin", daemon_dir / "cni" / "net.d", handlers)
        self.containerd = Containerd(daemon_dir, cri_config=config, namespace=K8S_NAMESPACE)
        self.address = self.containerd.address
        self.cgroup_parent = self.containerd.cgroup_parent
        try:
            images = directory / "images"
            images.mkdir()
            self.containerd.import_image(pause_image_archive(images / "pause.tar", images))
            self.containerd.import_image(build_oci_archive(images / "busybox.tar", images))
            shutil.rmtree(images)
        except BaseException:
            self.close()
            raise

    def close(self) -> list[str]:
        left = self.containerd.close()
        left += [f"CNI result {p}" for p in CNI_CACHE[0].glob(f"{NETWORK}-*")]
        for d in self._made_cni_cache:
            with contextlib.suppress(OSError):
                d.rmdir()
        for name, rt in self.runtimes.items():
            kept = [p.name for p in runtime_entries(rt.root / K8S_NAMESPACE)]
            if kept:
                left.append(f"{name} kept container state: {kept}")
        return left
