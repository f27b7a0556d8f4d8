"""Facts about processes from /proc, and signalling them safely against PID reuse.

A container's init is identified by its PID *and* its start time (field 22 of /proc/PID/stat):
if a PID is reused by an unrelated process, the start time differs and the container counts as
stopped. Signals go through a pidfd opened and then re-checked, so they cannot hit a newcomer.
"""

from __future__ import annotations

import posix  # not os, which costs the verbs that read a container's state 1 ms (runtime/store.py)

from lading.linux import signals

# Python sets these to SIG_IGN or its own handlers; an exec'd program must get the default back.
_RESET_SIGNALS = (
    signals.SIGPIPE,
    signals.SIGXFSZ,
    signals.SIGINT,
    signals.SIGTERM,
    signals.SIGHUP,
    signals.SIGQUIT,
    signals.SIGUSR1,
    signals.SIGUSR2,
    signals.SIGCHLD,
)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0]), or None if gone."""
    try:
        fd = posix.open(f"/proc/{pid}/stat", posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = posix.read(fd, 4096)  # all of it (a few hundred bytes), without a buffered file's calls
    except OSError:
        return None
    finally:
        posix.close(fd)
    return raw[raw.rindex(b")") + 2 :].decode().split()


def start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return fields[19] if fields else None


def is_alive(pid: int, started: str | None) -> bool:
    """True while the process runs (not a zombie) and is the one that started at ``started``."""
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X", "x"):
        return False
    return started is None or fields[19] == started


def open_pidfd(pid: int, started: str | None) -> int | None:
    """A pidfd for pid if it is still the same live process, else None."""
    try:
        fd = posix.pidfd_open(pid)
    except OSError:
        return None
    if not is_alive(pid, started):
        posix.close(fd)
        return None
    return fd


def send_signal(pid: int, started: str | None, sig: int) -> bool:
    """Signal the process if it is still the one we mean; False if it is gone."""
    fd = open_pidfd(pid, started)
    if fd is None:
        return False
    try:
        signals.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        return False
    finally:
        posix.close(fd)
    return True


def wait_gone(pid: int, started: str | None, timeout: float = 10.0) -> bool:
    """Wait until the process has exited (a zombie counts); True if it did within timeout."""
    import select

    fd = open_pidfd(pid, started)
    if fd is None:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        step = 10
        waited = 0.0
        while waited < timeout:
            if poller.poll(step) or not is_alive(pid, started):
                return True
            waited += step / 1000
        return False
    finally:
        posix.close(fd)


def reset_signals(still_caught: tuple[int, ...] = ()) -> None:
    """Default dispositions and an empty mask, as a program about to be exec'd should get; but
    ``still_caught`` keep their handlers, which the execve resets itself."""
    signals.reset(tuple(s for s in _RESET_SIGNALS if s not in still_caught))


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from each thread's /proc/PID/task/TID/children:
    a container's processes when it has no cgroup to list them (rootless)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            tasks = posix.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
            except OSError:
                continue
    return found
