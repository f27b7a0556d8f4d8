"""`logs`: a container's json-file log (see jsonlog), with docker's --follow, --tail, --since,
--until and --timestamps.

The rotated files are read oldest first (``log.N`` ... ``log.1``, then ``log``). ``--tail N``
takes the last N entries, read backwards from the end of the files, then --since/--until filter
them (docker's order). Each entry's text goes to our stdout or stderr as the container wrote it;
``-t`` puts the time in front, with all nine digits of the fraction (docker's RFC3339NanoFixed).

--follow goes on while the container's monitor lives, and ends when it exits: the monitor
exits only after draining the container's output into the log, so nothing is missed. It waits
on an inotify watch of the log's directory (a write, and rotation's rename or re-creation of the
file, arrive there) and on a pidfd of the monitor: no polling. A rotation is noticed as a new
inode at the log's path: the old file is read to its end first, then any file rotated after it
(if the log rotated more than once meanwhile), then the new one from its start.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import select
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lading.engine.monitor import monitor_pidfd
from lading.errors import LadingError
from lading.runtime.terminal import write_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.linux.inotify import Inotify

_CHUNK = 65536
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


@dataclass(frozen=True)
class Entry:
    stream: str
    text: str
    time: str

    @property
    def ns(self) -> int:
        return parse_time(self.time)


@dataclass(frozen=True)
class Options:
    follow: bool = False
    tail: int | None = None  # None: all
    since: int | None = None  # ns since the epoch
    until: int | None = None
    timestamps: bool = False


def parse_time(text: str) -> int:
    """An RFC 3339 time (any number of fraction digits, Z or an offset) in ns since the epoch."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    seconds = calendar.timegm(time.strptime(m[1], "%Y-%m-%dT%H:%M:%S"))
    if m[3] != "Z":
        sign = 1 if m[3][0] == "+" else -1
        seconds -= sign * (int(m[3][1:3]) * 3600 + int(m[3][4:6]) * 60)
    return seconds * 10**9 + int((m[2] or "0").ljust(9, "0"))


def fixed_time(ns: int) -> str:
    """RFC 3339 in UTC with a nine-digit fraction, as ``docker logs -t`` prints it."""
    seconds, frac = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def parse_since(value: str, flag: str = "--since", now_ns: int | None = None) -> int:
    """docker's --since/--until: an RFC 3339 time or date (local time if no zone is given), a
    Unix timestamp (``1700000000.5``), or a duration before now (``10m``, ``1h30m``)."""
    now = time.time_ns() if now_ns is None else now_ns
    if re.fullmatch(f"(?:{_DURATION.pattern})+", value):
        return now - sum(int(float(n) * _UNITS[unit]) for n, unit in _DURATION.findall(value))
    if re.fullmatch(r"\d+(\.\d{1,9})?", value):
        whole, _, frac = value.partition(".")
        return int(whole) * 10**9 + int(frac.ljust(9, "0"))
    try:
        return parse_time(value)
    except ValueError:
        pass
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise LadingError(f"invalid value for {flag}: {value!r}") from None
    return int(parsed.timestamp()) * 10**9 + parsed.microsecond * 1000


def log_files(log_path: Path) -> list[Path]:
    """The log and its rotated files, oldest first."""
    rotated = []
    for p in log_path.parent.glob(log_path.name + ".*"):
        suffix = p.name[len(log_path.name) + 1 :]
        if suffix.isdigit():
            rotated.append((int(suffix), p))
    files = [p for _, p in sorted(rotated, reverse=True)]
    return [*files, log_path] if log_path.exists() else files


def entries(log_path: Path, tail: int | None = None) -> list[Entry]:
    """The entries of the log and its rotated files, oldest first (only the last ``tail``)."""
    lines = _last_lines(log_files(log_path), tail) if tail is not None else _all_lines(log_files(log_path))
    return [e for e in map(_decode, lines) if e is not None]


def show(log_path: Path, opts: Options, exec_dir: Path | None = None, out_fd: int = 1, err_fd: int = 2) -> None:
    """Print the log as `docker logs` does; with opts.follow, until the monitor of exec_dir ends."""
    emit = _printer(opts, out_fd, err_fd)
    if not opts.follow or exec_dir is None:
        for e in entries(log_path, opts.tail):
            emit(e)
        return
    from lading.linux import inotify

    with inotify.Inotify() as watcher:
        mask = inotify.IN_MODIFY | inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_MOVED_FROM | inotify.IN_DELETE
        watcher.watch(str(log_path.parent), mask)
        monitor = monitor_pidfd(exec_dir)  # after the watch: a write between the two is not missed
        try:
            current = _open(log_path)
            end = os.fstat(current).st_size if current is not None else 0
            for e in entries(log_path, opts.tail):  # what is there now, up to `end` in the current file
                emit(e)
            if current is not None:
                os.lseek(current, end, os.SEEK_SET)
            _follow(log_path, current, watcher, monitor, emit)
        finally:
            if monitor is not None:
                os.close(monitor)


def _follow(
    log_path: Path, current: int | None, watcher: Inotify, monitor: int | None, emit: Callable[[Entry], None]
) -> None:
    pending = b""
    done = monitor is None
    try:
        while True:
            if current is not None:
                pending = _emit_lines(current, pending, emit)
                if _replaced(current, log_path):  # rotated: the old file is read to its end above
                    current = _catch_up(current, log_path, emit)
                    pending = b""
                    continue
            elif (current := _open(log_path)) is not None:
                continue
            if done:
                return
            poller = select.poll()
            poller.register(watcher.fd, select.POLLIN)
            if monitor is not None:
                poller.register(monitor, select.POLLIN)
            for fd, _ in poller.poll():
                if fd == monitor:
                    done = True  # one more round: the last lines, written before it exited
                else:
                    watcher.read()
    finally:
        if current is not None:
            os.close(current)


def _printer(opts: Options, out_fd: int, err_fd: int) -> Callable[[Entry], None]:
    open_fds = {out_fd: True, err_fd: True}

    def emit(e: Entry) -> None:
        if opts.since is not None or opts.until is not None:
            ns = e.ns
            if (opts.since is not None and ns < opts.since) or (opts.until is not None and ns > opts.until):
                return
        fd = err_fd if e.stream == "stderr" else out_fd
        if not open_fds[fd]:
            return
        data = e.text.encode(errors="surrogateescape")
        if opts.timestamps:
            data = fixed_time(e.ns).encode() + b" " + data
        try:
            write_all(fd, data)
        except BrokenPipeError:  # `logs | head`
            open_fds[fd] = False

    return emit


def _decode(line: bytes) -> Entry | None:
    try:
        d = json.loads(line)
        return Entry(str(d.get("stream", "stdout")), str(d.get("log", "")), str(d["time"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # not a log entry (a file torn by a crash of the host): skipped, as docker does


def _all_lines(files: Iterable[Path]) -> Iterator[bytes]:
    for path in files:
        try:
            with open(path, "rb") as f:
                yield from f
        except FileNotFoundError:  # rotated away meanwhile
            continue


def _last_lines(files: list[Path], count: int) -> list[bytes]:
    """The last count lines of the files together, read backwards from the end."""
    got: list[bytes] = []
    for path in reversed(files):
        if len(got) >= count:
            break
        try:
            with open(path, "rb") as f:
                got = _tail_of(f.fileno(), count - len(got)) + got
        except FileNotFoundError:
            continue
    return got[-count:] if count else []


def _tail_of(fd: int, count: int) -> list[bytes]:
    pos = os.fstat(fd).st_size
    buf = b""
    while pos > 0 and buf.count(b"\n") <= count:
        step = min(_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
    lines = buf.splitlines(keepends=True)
    if pos > 0:
        lines = lines[1:]  # the first is cut
    return lines[-count:] if count else []


def _emit_lines(fd: int, pending: bytes, emit: Callable[[Entry], None]) -> bytes:
    """Emit every whole line readable from fd; returns an unfinished last line, kept for later."""
    while chunk := os.read(fd, _CHUNK):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if (e := _decode(line)) is not None:
                emit(e)
    return pending


def _catch_up(old: int, log_path: Path, emit: Callable[[Entry], None]) -> int | None:
    """After a rotation: emit the files rotated after ``old`` (there are some if the log rotated
    more than once while we slept), then return the current file, opened at its start."""
    old_inode = os.fstat(old).st_ino
    os.close(old)
    files = log_files(log_path)
    inodes = []
    for path in files:
        try:
            inodes.append(path.stat().st_ino)
        except FileNotFoundError:
            inodes.append(-1)
    newer = [p for p in files[inodes.index(old_inode) + 1 :] if p != log_path] if old_inode in inodes else []
    for line in _all_lines(newer):
        if (e := _decode(line)) is not None:
            emit(e)
    return _open(log_path)


def _open(path: Path) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _replaced(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return True
