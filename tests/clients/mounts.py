"""Detach whatever a client left mounted under its private directory (overlay layers, shm, netns)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from tests.support import mounts_under

_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def unmount_under(directory: Path) -> list[str]:
    """Lazily unmount every mount at or below directory, deepest first; returns the failures."""
    failed: list[str] = []
    # Mounts can be stacked on one mountpoint, so go round until nothing is left or nothing moves.
    while (mounts := sorted(mounts_under(directory), key=len, reverse=True)) and not failed:
        for mountpoint in mounts:
            if _libc.umount2(os.fsencode(mountpoint), _MNT_DETACH) != 0:
                failed.append(f"{mountpoint}: {os.strerror(ctypes.get_errno())}")
    return failed
