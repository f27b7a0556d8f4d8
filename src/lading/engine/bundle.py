"""The OCI bundle of a container at start: config.json made from its record and host config.

It starts from ``lading spec``'s defaults (runc's) and makes the changes docker makes: docker's
default capability set, docker's default seccomp profile (engine/seccomp_default.py; what
``--security-opt`` and ``--privileged`` change: engine/security.py), no no_new_privs and no
rlimits unless asked for, the container's cgroup
under ``/lading-engine``, the files made by etcfiles bind-mounted over the init layer's
placeholders, and the user's bind mounts. root.path is the overlay mount (merged/), so the bundle
directory holds config.json only.

Open for what comes next: ``netns`` joins a network namespace made by a network backend instead
of a new empty one, and ``extra_mounts`` takes volume mounts.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lading.engine import security
from lading.engine.containers import Container
from lading.engine.create import parse_bind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# docker's default capabilities (moby oci/caps/defaults.go, as documented for `docker run`)
DEFAULT_CAPS = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
INIT_PATH = "/sbin/docker-init"
CGROUP_PARENT = "/lading-engine"  # every container's cgroup is CGROUP_PARENT/<id>
SPEC_VERSION = "1.0.2"  # nothing newer is used, and crun 1.8 (Debian 12) refuses later versions
_INIT_CANDIDATES = ("docker-init", "catatonit", "tini", "/usr/libexec/podman/catatonit")


def init_binary() -> str | None:
    """A host program to run as the container's PID 1 for ``--init`` (a minimal reaper)."""
    for name in _INIT_CANDIDATES:
        found = shutil.which(name) if not name.startswith("/") else (name if Path(name).exists() else None)
        if found:
            return found
    return None


def capabilities(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    from lading.linux.capabilities import NAMES, bounding, members

    every = [NAMES[c] for c in members(bounding()) if c < len(NAMES)]  # all the engine itself may hold
    if privileged:
        return every
    caps = set(DEFAULT_CAPS)
    for names, add in ((cap_drop, False), (cap_add, True)):
        for n in names:
            if n.upper() == "ALL":
                caps = set(every) if add else set()
            else:
                full = n.upper() if n.upper().startswith("CAP_") else f"CAP_{n.upper()}"
                (caps.add if add else caps.discard)(full)
    return [c for c in every if c in caps]


def _bind(source: str, destination: str, readonly: bool) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": source,
        "options": ["rbind", "rprivate", *(["ro"] if readonly else [])],
    }


def process_user(user: str, rootfs: Path) -> dict[str, Any]:
    """``-u USER[:GROUP]`` (of run, create or exec) as process.user, from the container's
    /etc/passwd and /etc/group; the primary group is among the groups, as docker and podman have it."""
    from lading.image.convert import resolve_user

    resolved = resolve_user(user, str(rootfs), "--user")
    resolved["additionalGids"] = sorted({resolved["gid"], *resolved.get("additionalGids", [])})
    return resolved


def config(
    c: Container, rootfs: Path, netns: str | None = None, extra_mounts: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    from lading.spec.defaults import default_config

    cc, host = c.config["Config"], c.host
    privileged, readonly = bool(host.get("Privileged")), bool(host.get("ReadonlyRootfs"))
    spec = default_config()
    spec["ociVersion"] = SPEC_VERSION
    args = [c.config["Path"], *c.config["Args"]]
    mounts = spec["mounts"]
    if host.get("Init"):
        args = [INIT_PATH, "--", *args]
        mounts.append(_bind(host["InitPath"], INIT_PATH, True))
    env = [f"HOSTNAME={cc['Hostname']}", *(["TERM=xterm"] if cc.get("Tty") else [])]
    names = {e.partition("=")[0] for e in cc["Env"]}
    env = [e for e in env if e.partition("=")[0] not in names] + list(cc["Env"])
    caps = capabilities(host.get("CapAdd") or [], host.get("CapDrop") or [], privileged)
    user = process_user(cc.get("User") or "", rootfs)
    spec["process"] = {
        "terminal": bool(cc.get("Tty")),
        "user": user,
        "args": args,
        "env": env,
        "cwd": cc.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        **({"noNewPrivileges": True} if security.no_new_privileges(host) else {}),
    }
    spec["root"] = {"path": str(rootfs), "readonly": readonly}
    spec["hostname"] = cc["Hostname"]
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts.append(_bind(str(c.dir / name), f"/etc/{name}", readonly))
    for b in host.get("Binds") or []:
        src, dst, mode = parse_bind(b)
        mounts.append(_bind(src, dst, mode == "ro"))
    mounts.extend(extra_mounts or [])
    linux = spec["linux"]
    linux["cgroupsPath"] = f"{CGROUP_PARENT}/{c.id}"
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] != "network"]
    if host.get("NetworkMode") != "host":
        namespaces.append({"type": "network", **({"path": netns} if netns else {})})
    linux["namespaces"] = namespaces
    resources: dict[str, Any] = linux["resources"]
    if host.get("Memory"):
        resources["memory"] = {"limit": host["Memory"]}
    if host.get("NanoCpus"):
        resources["cpu"] = {"quota": host["NanoCpus"] * 100000 // 10**9, "period": 100000}
    if host.get("PidsLimit"):
        resources["pids"] = {"limit": host["PidsLimit"]}
    profile = security.seccomp(host, caps)
    if profile is not None:
        linux["seccomp"] = profile
    if privileged:
        linux["devices"] = security.host_devices()
        resources["devices"] = [{"allow": True, "access": "rwm"}]
        linux["maskedPaths"], linux["readonlyPaths"] = [], []
        for m in mounts:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"]
    spec["annotations"] = dict(cc.get("Labels") or {})
    return spec
