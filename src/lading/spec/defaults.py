"""The starter config.json that `lading spec` writes: runc's defaults, so bundles move between the two.

It follows current runc rather than the older runc 1.1: no ambient capabilities (they would hand
the three default capabilities to any non-root user), and /sys/devices/virtual/tpm masked. As runc,
it adds a cgroup namespace only on a host with cgroup v2 alone: on a v1 or hybrid host a container
without one sees its own cgroup paths, and clients that want one add it themselves. The rootless
variant makes the same changes as `runc spec --rootless`: a user namespace mapping only the
caller's uid and gid, no network namespace, /sys bind-mounted instead of a new sysfs, no
uid=/gid= mount options, and no cgroup resources.

Plain dicts, not models: `lading spec` only writes JSON and should not pay for importing msgspec.
"""

from __future__ import annotations

import os

from lading import OCI_VERSION

TYPE_CHECKING = False  # `typing` costs milliseconds that `lading spec` need not pay
if TYPE_CHECKING:
    from typing import Any

_CAPABILITIES = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
_NAMESPACES = ["pid", "network", "ipc", "uts", "mount"]
_MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/tpm",
]
_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _mounts() -> list[dict[str, Any]]:
    def mount(destination: str, type: str, source: str, *options: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"destination": destination, "type": type, "source": source}
        if options:
            entry["options"] = list(options)
        return entry

    return [
        mount("/proc", "proc", "proc"),
        mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ),
        mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
        mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
    ]


def _cgroup_v2_only() -> bool:
    """runc's test: /sys/fs/cgroup itself is a cgroup2 mount (the last one mounted there wins)."""
    fstype = ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 8 and fields[4] == "/sys/fs/cgroup" and "-" in fields[6:]:
                fstype = fields[fields.index("-", 6) + 1]
    return fstype == "cgroup2"


def default_config(rootless: bool = False, args: list[str] | None = None) -> dict[str, Any]:
    """runc's example config.json (keys in the order runc writes them), with ``args`` if given."""
    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": list(args) if args else ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(_CAPABILITIES),
                "effective": list(_CAPABILITIES),
                "permitted": list(_CAPABILITIES),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "lading",
        "mounts": _mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in _NAMESPACES + (["cgroup"] if _cgroup_v2_only() else [])],
            "maskedPaths": list(_MASKED_PATHS),
            "readonlyPaths": list(_READONLY_PATHS),
        },
    }
    if rootless:
        _make_rootless(config)
    return config


def _make_rootless(config: dict[str, Any]) -> None:
    linux = config["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    config["linux"] = {
        "uidMappings": [{"containerID": 0, "hostID": os.geteuid(), "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": os.getegid(), "size": 1}],
        "namespaces": [*namespaces, {"type": "user"}],
        "maskedPaths": linux["maskedPaths"],
        "readonlyPaths": linux["readonlyPaths"],
    }
    for i, mount in enumerate(config["mounts"]):
        if mount["destination"] == "/sys":
            config["mounts"][i] = {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        elif "options" in mount:
            mount["options"] = [o for o in mount["options"] if not o.startswith(("uid=", "gid="))]
