"""Signal numbers and the few signal calls the runtime verbs make, without the signal module.

`import signal` turns every number into an enum member (importing enum, functools and collections:
about 5 ms), and every runtime verb is a fresh process. The C module underneath, ``_signal``, has
the same numbers as plain ints and the same functions.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub: the C half of the signal module

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

SIGKILL: int = _signal.SIGKILL
SIGTERM: int = _signal.SIGTERM
SIGINT: int = _signal.SIGINT
SIGHUP: int = _signal.SIGHUP
SIGQUIT: int = _signal.SIGQUIT
SIGUSR1: int = _signal.SIGUSR1
SIGUSR2: int = _signal.SIGUSR2
SIGPIPE: int = _signal.SIGPIPE
SIGXFSZ: int = _signal.SIGXFSZ
SIGCHLD: int = _signal.SIGCHLD
SIGSTOP: int = _signal.SIGSTOP
SIGWINCH: int = _signal.SIGWINCH
NSIG: int = _signal.NSIG
SIGRTMIN: int = _signal.SIGRTMIN
SIGRTMAX: int = _signal.SIGRTMAX

# What a foreground runtime passes on to the container (runc forwards all but SIGCHLD, SIGWINCH
# and SIGURG); synchronous faults, SIGKILL and SIGSTOP are not catchable or not meaningful here.
# Of the real-time signals, only the two that have names.
_NOT_FORWARDED = {
    _signal.SIGCHLD,
    _signal.SIGWINCH,
    _signal.SIGURG,
    _signal.SIGKILL,
    _signal.SIGSTOP,
    _signal.SIGSEGV,
    _signal.SIGBUS,
    _signal.SIGFPE,
    _signal.SIGILL,
    _signal.SIGTRAP,
    _signal.SIGSYS,
    _signal.SIGABRT,
}
FORWARDED_SIGNALS: tuple[int, ...] = tuple(
    s
    for s in sorted(_signal.valid_signals())
    if (s < SIGRTMIN or s in (SIGRTMIN, SIGRTMAX)) and s not in _NOT_FORWARDED
)


def by_name(name: str) -> int | None:
    """The number of the signal called ``name`` ("SIGTERM"), or None if there is none."""
    if not name.startswith("SIG") or not name[3:].isalnum():  # not SIG_DFL, SIG_BLOCK, ...
        return None
    number = getattr(_signal, name, None)
    return number if isinstance(number, int) else None


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    _signal.pidfd_send_signal(pidfd, sig)


def valid() -> set[int]:
    """Every signal number this system has."""
    valid: set[int] = _signal.valid_signals()
    return valid


def handle(sig: int, handler: Callable[[int, object], object]) -> None:
    """Call ``handler(signum, frame)`` in the main thread when ``sig`` arrives."""
    _signal.signal(sig, handler)


def reset(signals: tuple[int, ...]) -> None:
    """Default dispositions for ``signals`` and an empty signal mask."""
    for sig in signals:
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def _wake_only(signum: int, frame: object) -> None:
    """The Python-level handler a wakeup fd needs: the byte on the fd is the whole message."""


def wake_on(signals: tuple[int, ...], fd: int) -> None:
    """Deliver ``signals`` as their numbers written to ``fd`` (non-blocking): a poll loop wakes
    for them instead of being interrupted."""
    for sig in signals:
        _signal.signal(sig, _wake_only)
    _signal.set_wakeup_fd(fd, warn_on_full_buffer=False)


def stop_waking(signals: tuple[int, ...]) -> None:
    """Undo :func:`wake_on` (in a forked child): default dispositions, no wakeup fd."""
    _signal.set_wakeup_fd(-1)
    reset(signals)
