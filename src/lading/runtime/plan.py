"""Everything the container's init needs, worked out and validated by the runtime before fork.

Validation happens here, in the runtime, so that a bad config fails ``create`` with a precise
message before any process, mount or state exists; the init only carries the plan out.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lading import OCI_VERSION
from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.runtime import hooks
from lading.runtime.launch import Launch

if TYPE_CHECKING:
    from lading.spec.runtime_config import Process, Spec

# runtime-spec namespace type -> /proc/PID/ns name
NS_NAMES = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}
# Sysctls that are per-namespace (as runc allows); anything else would change the host.
_IPC_SYSCTLS = {
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
}


class Plan:
    """Everything the init needs, complete before the fork and not changed after."""

    def __init__(
        self,
        spec: Spec,
        cid: str,
        bundle: str,
        fifo_path: str,
        no_pivot: bool = False,
        new_keyring: bool = True,
        preserve_fds: int = 0,
    ) -> None:
        from lading.runtime import security

        self.spec = spec
        self.cid = cid
        self.bundle = bundle
        self.fifo_path = fifo_path
        self.no_pivot = no_pivot
        self.new_keyring = new_keyring
        self.rootfs = resolve_rootfs(spec, bundle)
        self.annotations: dict[str, str] = dict(spec.annotations or {})
        self._namespaces(spec)
        self.sysctl = validate_sysctl(spec.linux.sysctl if spec.linux else None, self.new_net, self.new_uts)
        refuse_idmapped_mounts(spec)
        if spec.hostname and not self.new_uts:
            raise LadingError("config.json: $.hostname: setting the hostname needs a new uts namespace")
        if spec.process is None:
            raise LadingError("config.json: $.process: required to create a container")
        self.process: Process = spec.process
        self.hooks = _hooks(spec)
        listen_fds = listen_fds_passed()
        self.launch = Launch(
            process=spec.process,
            security=security.prepare(spec.process, spec.linux),
            keep_fds=range(3, 3 + listen_fds + preserve_fds),
            # socket activation passed on: the fds are 3.., the program is PID 1
            extra_env={"LISTEN_FDS": str(listen_fds), "LISTEN_PID": "1"} if listen_fds else {},
            allow_setgroups=True,
            bind_dev_console=True,
        )

    def _namespaces(self, spec: Spec) -> None:
        self.join: list[tuple[str, int]] = []
        self.unshare_flags = 0
        self.new_userns = False
        self.userns_path: str | None = None
        seen: set[str] = set()
        for i, n in enumerate((spec.linux.namespaces if spec.linux else None) or []):
            where = f"config.json: $.linux.namespaces[{i}]"
            seen.add(n.type)
            flag = ns.FLAGS[NS_NAMES[n.type]]
            if n.path:
                if not os.path.exists(n.path):
                    raise LadingError(f"{where}.path: {n.path}: no such file")
                if n.type == "user":
                    self.userns_path = n.path
                elif not ns.same_namespace(n.path, NS_NAMES[n.type]):
                    self.join.append((n.path, flag))
            elif n.type == "user":
                self.new_userns = True
            else:
                self.unshare_flags |= flag
        if "mount" not in seen:
            raise LadingError("config.json: $.linux.namespaces: a mount namespace is required")
        self.new_uts = bool(self.unshare_flags & ns.CLONE_NEWUTS)
        self.new_net = bool(self.unshare_flags & ns.CLONE_NEWNET)
        linux = spec.linux
        self.time_offsets = ""
        if linux and linux.time_offsets:
            if not self.unshare_flags & ns.CLONE_NEWTIME:
                raise LadingError("config.json: $.linux.timeOffsets: needs a new time namespace")
            self.time_offsets = "".join(
                f"{clock} {off.secs} {off.nanosecs}\n" for clock, off in linux.time_offsets.items()
            )
        if self.new_userns and not (linux and linux.uid_mappings and linux.gid_mappings):
            raise LadingError("config.json: $.linux.uidMappings: a new user namespace needs uid and gid mappings")

    def state_json(self, status: str, pid: int | None) -> str:
        """The container state as hooks get it on stdin (state-schema.json)."""
        return hooks.state_json(OCI_VERSION, self.cid, status, pid, self.bundle, self.annotations)


def _hooks(spec: Spec) -> dict[str, list[dict[str, Any]]]:
    import msgspec

    if spec.hooks is None:
        return {}
    raw: dict[str, list[dict[str, Any]]] = msgspec.to_builtins(spec.hooks)
    return raw


def listen_fds_passed() -> int:
    """Socket-activation fds (LISTEN_FDS) are passed on to the container, as runc does."""
    try:
        return max(0, int(os.environ.get("LISTEN_FDS", "0")))
    except ValueError:
        return 0


def resolve_rootfs(spec: Spec, bundle: str) -> str:
    if not spec.root.path:
        raise LadingError("config.json: $.root.path: required")
    path = os.path.join(bundle, spec.root.path)
    if not os.path.isdir(path):
        raise LadingError(f"config.json: $.root.path: {path}: no such directory")
    return os.path.realpath(path)


def validate_sysctl(sysctl: dict[str, str] | None, new_net: bool, new_uts: bool) -> dict[str, str]:
    for key in sysctl or {}:
        where = f"config.json: $.linux.sysctl[{key!r}]"
        if "/" in key or ".." in key:
            raise LadingError(f"{where}: invalid sysctl name")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            continue
        if key.startswith("net."):
            if not new_net:
                raise LadingError(f"{where}: needs a new network namespace")
            continue
        if key in ("kernel.hostname", "kernel.domainname"):
            if not new_uts:
                raise LadingError(f"{where}: needs a new uts namespace")
            continue
        raise LadingError(f"{where}: not a namespaced sysctl, it would change the host")
    return dict(sysctl or {})


def refuse_idmapped_mounts(spec: Spec) -> None:
    """Id-mapped mounts are not implemented: refuse them rather than mount without the mapping
    (config.md: such a mount MUST have the idmapping applied). `lading features` says so too."""
    for i, entry in enumerate(spec.mounts or []):
        options = set(entry.options or [])
        if entry.uid_mappings is not None or options & {"idmap", "ridmap"}:
            raise LadingError(
                f"config.json: $.mounts[{i}]: id-mapped mounts (idmap, ridmap, uidMappings) are not supported"
            )
