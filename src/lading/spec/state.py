"""The OCI state of a container (runtime.md "State", schema/state-schema.json).

This is the document a runtime hands to hooks on stdin and to a seccomp agent inside
`ContainerProcessState`; `lading state` prints runc's richer variant, built elsewhere.
"""

from typing import Annotated

import msgspec

from lading.spec.base import OCIStruct


class State(OCIStruct, kw_only=True):
    oci_version: str
    id: str
    status: str  # creating, created, running, stopped; runtimes may add their own (runc: paused)
    # Required on Linux while the status is created or running; absent (not 0) otherwise.
    pid: Annotated[int, msgspec.Meta(ge=0)] | None = None
    bundle: str  # absolute path of the bundle directory
    annotations: dict[str, str] | None = None


class ContainerProcessState(OCIStruct, kw_only=True):
    """What the runtime sends to the seccomp agent at linux.seccomp.listenerPath (config-linux.md)."""

    oci_version: str
    fds: list[str] | None = None  # names of the fds passed with SCM_RIGHTS, in order ("seccompFd")
    pid: int
    metadata: str | None = None  # linux.seccomp.listenerMetadata
    state: State


def encode_state(state: State | ContainerProcessState) -> bytes:
    """Compact JSON, as hooks and seccomp agents read it."""
    return msgspec.json.encode(state)
