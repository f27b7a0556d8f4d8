"""Session keyrings (keyctl(2)): a container gets its own, so it cannot read the host's keys."""

from __future__ import annotations

from lading.linux.libc import syscall

SYS_KEYCTL = 250
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SETPERM = 5
# possessor: all; user: view, read, write, search, link (as runc sets it)
SESSION_PERMISSIONS = 0x3F1F0000


def join_new_session_keyring(name: str) -> None:
    serial = syscall(SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, name.encode(), what="keyctl join")
    syscall(SYS_KEYCTL, KEYCTL_SETPERM, serial, SESSION_PERMISSIONS, what="keyctl setperm")
