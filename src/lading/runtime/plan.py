"""Everything the container's init needs, worked out and validated by the runtime before fork.

Validation happens here, in the runtime, so that a bad config fails ``create`` with a precise
message before any process, mount or state exists; the init only carries the plan out.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

from lading import OCI_VERSION
from lading.errors import LadingError
from lading.linux import namespaces as ns
from lading.linux.files import exists
from lading.linux.paths import isdir, join, realpath
from lading.linux.userns import IdRange, in_user_namespace, setgroups_allowed, setgroups_denied
from lading.record import Record
from lading.runtime import hooks, process
from lading.runtime.launch import Launch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
    """Everything the init needs, complete before the fork and not changed after (the fds create
    opens for it, the console and id-mapped trees, go to init.child_main beside it)."""

    def __init__(
        self,
        spec: Spec,
        cid: str,
        bundle: str,
        fifo_path: str,
        no_pivot: bool = False,
        new_keyring: bool = True,
        preserve_fds: int = 0,
        seccomp_cache: str | None = None,
    ) -> None:
        from lading.runtime import process_attrs, security

        self.spec = spec
        self.cid = cid
        self.bundle = bundle
        self.fifo_path = fifo_path
        self.no_pivot = no_pivot
        self.new_keyring = new_keyring
        self.rootfs = resolve_rootfs(spec, bundle)
        self.annotations: dict[str, str] = dict(spec.annotations or {})
        if spec.process is None:
            raise LadingError("config.json: $.process: required to create a container")
        self.process: Process = spec.process
        self.hooks = _hooks(spec)
        # the init waits for the runtime only when it has hooks to run between the mounts and pivot_root
        self.runtime_hooks = bool(self.hooks.get("prestart") or self.hooks.get("createRuntime"))
        self._namespaces(spec)
        self.sysctl = validate_sysctl(spec.linux.sysctl if spec.linux else None, self.private)
        # mknod is for host root only: in any user namespace devices are bound from the host
        self.bind_devices = self.new_userns or bool(self.userns_path) or in_user_namespace()
        self.idmapped = idmapped_mounts(spec, self.uid_map, self.gid_map)
        self.idmapped_trees: dict[int, int] = {}  # made by create, attached by the init
        # an unprivileged user's own-gid map is written after denying setgroups (linux/userns.py);
        # without a namespace of its own, the container has the runtime's (rootless podman's, or
        # the rootless engine's with only the user's own ids: denied there too)
        if self.new_userns:
            self.allow_setgroups = not setgroups_denied(self.gid_map)
        else:
            self.allow_setgroups = bool(self.userns_path) or setgroups_allowed("self")
        if not self.allow_setgroups and self.process.user.additional_gids:
            raise LadingError(
                "config.json: $.process.user.additionalGids: cannot be set when setgroups is denied "
                "(a single gid mapping of this user's own gid)"
            )
        for field, value in (("hostname", spec.hostname), ("domainname", spec.domainname)):
            if value and "uts" not in self.private:
                raise LadingError(
                    f"config.json: $.{field}: the container has no uts namespace of its own, so this would"
                    " rename the host: add a uts namespace"
                )
        refuse_unapplied(spec)
        listen_fds = process.listen_fds_passed()
        self.launch = Launch(
            process=spec.process,
            security=security.prepare(spec.process, spec.linux, seccomp_cache),
            keep_fds=process.kept_fds(listen_fds, preserve_fds),
            # socket activation passed on: the fds are 3.., the program is PID 1
            extra_env={"LISTEN_FDS": str(listen_fds), "LISTEN_PID": "1"} if listen_fds else {},
            allow_setgroups=self.allow_setgroups,
            attrs=process_attrs.prepare(spec.process, spec.linux),
            bind_dev_console=True,
        )

    def _namespaces(self, spec: Spec) -> None:
        self.join: list[tuple[str, int]] = []
        self.unshare_flags = 0
        self.new_userns = False
        self.userns_path: str | None = None
        # the kinds of namespace the container does not share with the runtime: new ones, and
        # joined ones that really are another namespace (a path may name the runtime's own)
        self.private: set[str] = set()
        seen: set[str] = set()
        for i, n in enumerate((spec.linux.namespaces if spec.linux else None) or []):
            where = f"config.json: $.linux.namespaces[{i}]"
            seen.add(n.type)
            flag = ns.FLAGS[NS_NAMES[n.type]]
            if n.path:
                if not exists(n.path):
                    raise LadingError(f"{where}.path: {n.path}: no such file")
                if ns.same_namespace(n.path, NS_NAMES[n.type]):
                    continue  # already in it
                self.private.add(n.type)
                if n.type == "user":
                    self.userns_path = n.path
                else:
                    self.join.append((n.path, flag))
                continue
            self.private.add(n.type)
            if n.type == "user":
                self.new_userns = True
            else:
                self.unshare_flags |= flag
        if "mount" not in seen:
            raise LadingError(
                "config.json: $.linux.namespaces: no mount namespace: lading builds the rootfs in the"
                " container's own mount namespace and does not mount into the host's mount namespace;"
                ' add {"type": "mount"}'
            )
        self.new_net = bool(self.unshare_flags & ns.CLONE_NEWNET)
        linux = spec.linux
        self.time_offsets = ""
        if linux and linux.time_offsets:
            if not self.unshare_flags & ns.CLONE_NEWTIME:
                raise LadingError("config.json: $.linux.timeOffsets: needs a new time namespace")
            self.time_offsets = "".join(
                f"{clock} {off.secs} {off.nanosecs}\n" for clock, off in linux.time_offsets.items()
            )
        self.uid_map: list[IdRange] = []
        self.gid_map: list[IdRange] = []
        if self.new_userns:
            from lading.runtime import idmaps  # only with a user namespace or id-mapped mounts

            self.uid_map, self.gid_map = idmaps.container_maps(spec)
        elif posix.geteuid() != 0 and not self.userns_path:
            raise LadingError("config.json: $.linux.namespaces: a rootless container needs a user namespace")

    def clone_flags(self) -> int | None:
        """The new namespaces the init can be born in (cloned by the runtime, init.py), or None
        when a stage 1 must make them: a user namespace (new: the runtime writes its maps in
        between; by path: the others it owns are joined or made after it), a PID namespace joined
        by path (setns to one applies to children only), a time namespace (new: its offsets are
        written before any process is in it; kept on stage 1 when joined too).

        Not the cgroup namespace, even a new one: its root must be the container's cgroup in every
        hierarchy and the v1 ones are joined after birth, so the init unshares it itself once in
        them (a new cgroup namespace applies to the caller at once). Nor any namespace joined by
        path, which the init joins before that: cloning a namespace only to leave it for another
        would waste its making (a network one's most of all), so only the new ones are here."""
        if self.new_userns or self.userns_path or self.unshare_flags & ns.CLONE_NEWTIME:
            return None
        if any(flag & (ns.CLONE_NEWPID | ns.CLONE_NEWTIME) for _, flag in self.join):
            return None
        return self.unshare_flags & ~ns.CLONE_NEWCGROUP

    def state_json(self, status: str, pid: int | None) -> str:
        """The container state as hooks get it on stdin (state-schema.json)."""
        return hooks.state_json(OCI_VERSION, self.cid, status, pid, self.bundle, self.annotations)


def _hooks(spec: Spec) -> dict[str, list[dict[str, Any]]]:
    from lading.spec.model import to_builtins

    if spec.hooks is None:
        return {}
    raw: dict[str, list[dict[str, Any]]] = to_builtins(spec.hooks)
    return raw


def refuse_unapplied(spec: Spec) -> None:
    """Fields lading decodes but does not apply fail create, never a container without them
    (`lading features` says the same: netDevices and intelRdt are not enabled)."""
    linux = spec.linux
    if linux is None:
        return
    if linux.net_devices:
        raise LadingError(
            "config.json: $.linux.netDevices: moving host network interfaces into the container is not supported"
        )
    if linux.intel_rdt is not None:
        why = "resctrl is not mounted at /sys/fs/resctrl" if not isdir("/sys/fs/resctrl/info") else ""
        raise LadingError(
            "config.json: $.linux.intelRdt: Intel RDT (resctrl) is not supported" + (f": {why}" if why else "")
        )


def resolve_rootfs(spec: Spec, bundle: str) -> str:
    if not spec.root.path:
        raise LadingError("config.json: $.root.path: required")
    path = join(bundle, spec.root.path)
    if not isdir(path):
        raise LadingError(f"config.json: $.root.path: {path}: no such directory")
    return realpath(path)


def validate_sysctl(sysctl: dict[str, str] | None, private: set[str]) -> dict[str, str]:
    """The sysctls, each checked to belong to a namespace the container does not share with the
    runtime (``private``): anything else would be written to the host, as runc also refuses."""
    for key in sysctl or {}:
        where = f"config.json: $.linux.sysctl[{key!r}]"
        if "/" in key or ".." in key:
            raise LadingError(f"{where}: invalid sysctl name")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            kind = "ipc"
        elif key.startswith("net."):
            kind = "network"
        elif key == "kernel.domainname":
            kind = "uts"
        elif key == "kernel.hostname":
            raise LadingError(f"{where}: conflicts with $.hostname, which sets it")
        else:
            raise LadingError(f"{where}: not in a namespace of the container's own: it would change the host")
        if kind not in private:
            raise LadingError(
                f"{where}: not allowed in the host's {kind} namespace: the container has no {kind} namespace of its own"
            )
    return dict(sysctl or {})


class IdMappedMount(Record):
    uids: list[IdRange]
    gids: list[IdRange]
    rbind: bool  # submounts are copied too
    ridmap: bool  # and id-mapped too


def idmapped_mounts(spec: Spec, uids: list[IdRange], gids: list[IdRange]) -> dict[int, IdMappedMount]:
    """mounts[i] that are id-mapped (idmap, ridmap, uidMappings), by index: their own mappings,
    or the container's (config.md); bind mounts only, and only made by root (the kernel maps a
    host filesystem's mount only for a caller privileged over it)."""
    found: dict[int, IdMappedMount] = {}
    for i, entry in enumerate(spec.mounts or []):
        options = set(entry.options or [])
        if entry.uid_mappings is None and not options & {"idmap", "ridmap"}:
            continue
        where = f"config.json: $.mounts[{i}]"
        if not options & {"bind", "rbind"} and entry.type != "bind":
            raise LadingError(f"{where}: only bind mounts can be id-mapped")
        if posix.geteuid() != 0:
            raise LadingError(f"{where}: id-mapped mounts need root (the kernel id-maps a host mount only for root)")
        if entry.uid_mappings is not None:
            from lading.runtime import idmaps

            own_u, own_g = idmaps.ranges(entry.uid_mappings), idmaps.ranges(entry.gid_mappings)
            idmaps.check(f"{where}.uidMappings", own_u)
            idmaps.check(f"{where}.gidMappings", own_g)
        elif uids:
            own_u, own_g = uids, gids
        else:
            raise LadingError(f"{where}: idmap without uidMappings needs the container's own user namespace mappings")
        found[i] = IdMappedMount(own_u, own_g, "rbind" in options, "ridmap" in options)
    return found
