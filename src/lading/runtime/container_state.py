"""What state.json records about a container, as one typed record.

`create` writes it; every later verb reads it. Status is not in it (lifecycle.py derives that
from the live init each time). The keys are runc's where runc has the same field (``pid``,
``created``, ``rootfs``...); ``config`` is the config.json the container was created with, as
plain JSON, which `exec` decodes again as its process template and `update` keeps current.

A plain class rather than a msgspec Struct or a dataclass: `state`, `kill`, `start`, `delete`
and `list` read this on every call, and neither import belongs on their start-up path.
"""

from __future__ import annotations

from lading.errors import LadingError

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ContainerState:
    def __init__(
        self,
        oci_version: str,
        cid: str,
        pid: int,
        pid_start_time: str | None,
        bundle: str,
        rootfs: str,
        created: str,
        annotations: dict[str, str],
        config: dict[str, Any],
        cgroup: dict[str, Any] | None = None,
        owner: str = "",
        creating: bool = False,
    ) -> None:
        self.oci_version = oci_version
        self.id = cid
        self.pid = pid  # the init, as the host sees it
        self.pid_start_time = pid_start_time  # with pid, identifies the init against PID reuse
        self.bundle = bundle
        self.rootfs = rootfs
        self.created = created
        self.annotations = annotations
        self.config = config
        self.cgroup = cgroup  # lading.runtime.cgroups.ContainerCgroup.to_record()
        self.owner = owner
        self.creating = creating  # saved before the init is ready: `state` says "creating"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": self.pid,
            "pidStartTime": self.pid_start_time,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
            "config": self.config,
        }
        if self.cgroup is not None:
            out["cgroup"] = self.cgroup
        if self.creating:
            out["creating"] = True
        return out

    @classmethod
    def from_json(cls, cid: str, data: object) -> ContainerState:
        """The record from a decoded state.json; a corrupt one is one clear error."""
        try:
            if not isinstance(data, dict):
                raise TypeError("not an object")
            return cls(
                str(data["ociVersion"]),
                str(data["id"]),
                int(data["pid"]),
                data.get("pidStartTime"),
                str(data["bundle"]),
                str(data["rootfs"]),
                str(data["created"]),
                dict(data.get("annotations") or {}),
                dict(data.get("config") or {}),
                data.get("cgroup"),
                str(data.get("owner") or ""),
                bool(data.get("creating")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise LadingError(f"{cid}: corrupt state file: {e!r}") from None

    def hooks(self, name: str) -> list[dict[str, Any]] | None:
        """config.json's hooks of one kind, as recorded."""
        found: list[dict[str, Any]] | None = (self.config.get("hooks") or {}).get(name)
        return found

    def hook_state(self, status: str) -> str:
        """The state hooks and seccomp agents get (runtime.md "State")."""
        from lading.runtime import hooks

        return hooks.state_json(self.oci_version, self.id, status, self.pid, self.bundle, self.annotations)

    @property
    def terminal(self) -> bool:
        return bool((self.config.get("process") or {}).get("terminal"))
