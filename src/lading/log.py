"""The runtime's log: runc's text or JSON lines, to the --log file and/or stderr.

containerd and podman pass ``--log FILE --log-format json`` and read the last ``error`` line of
that file to show the user why the runtime failed, so every error goes there as one JSON object
with ``level``, ``msg`` and ``time``. The lines are the ones runc's logger writes, byte for byte in
shape: ``time="2026-01-02T03:04:05Z" level=debug msg="created cgroup /x"`` or
``{"level":"debug","msg":"created cgroup /x","time":"2026-01-02T03:04:05Z"}``.

With --debug every setup step says what it did. Such a line costs one comparison when debug is
off: the message is a %-format filled in only when the line is written (``debug("mounted %s",
path)``), and nothing is imported for it. Hand-written instead of ``logging`` to keep start-up
cheap: every runtime verb is a fresh process.

A forked copy of the runtime (the container's init, an exec's process) closes the log file with
every other host descriptor: :func:`forward` sends its lines to the runtime instead, which writes
them; once the runtime has gone, warnings and errors go to stderr and debug lines are dropped.
"""

from __future__ import annotations

import posix  # not os (runtime/store.py says why)
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_fd = -1
_json = False
_threshold = _LEVELS["warning"]
_sink: Callable[[str, str], None] | None = None
_orphaned = False  # forwarding, and the runtime has gone


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Open the log file once, before anything else runs."""
    global _fd, _json, _threshold
    if path:
        _fd = posix.open(path, posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC, 0o644)
    _json = fmt == "json"
    _threshold = _LEVELS["debug"] if debug else _LEVELS["info"] if path else _LEVELS["warning"]


def forward(sink: Callable[[str, str], None]) -> None:
    """In a forked child whose log file is closed: hand every line (level, message) to ``sink``."""
    global _fd, _sink
    _fd = -1
    _sink = sink


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")
_SHORT = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _text_value(s: str) -> str:
    """A value as runc's text lines write it: bare if it needs no quotes, else Go-quoted."""
    if s and _SAFE.issuperset(s):
        return s
    if s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c in _SHORT:
            out.append(_SHORT[c])
        elif c.isprintable():
            out.append(c)
        else:
            n = ord(c)
            out.append(f"\\x{n:02x}" if n < 0x80 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}")
    return '"' + "".join(out) + '"'


def _format(level: str, msg: str) -> str:
    if _json:
        from lading import jsonlite

        return jsonlite.dumps({"level": level, "msg": msg, "time": _timestamp()}, go=True) + "\n"
    return f"time={_text_value(_timestamp())} level={level} msg={_text_value(msg)}\n"


def write(level: str, msg: str, *args: object) -> None:
    """Log one message (``msg % args`` when there are args). Errors also go to stderr as the
    bare message, which is what a person at the terminal reads."""
    global _sink, _orphaned
    if _LEVELS[level] < _threshold:
        return
    if args:
        msg = msg % args
    if _sink is not None:
        try:
            _sink(level, msg)
            return
        except (OSError, ValueError):  # the runtime has gone: from now on only stderr
            _sink, _orphaned = None, True
    if _orphaned and level == "debug":
        return
    line = _format(level, msg)
    if _fd >= 0:
        try:
            posix.write(_fd, line.encode())
        except OSError:
            pass
    if _fd < 0 or level == "error":
        sys.stderr.write(msg + "\n" if level == "error" else line)
        sys.stderr.flush()


def debug(msg: str, *args: object) -> None:
    if _threshold <= 10:
        write("debug", msg, *args)


def info(msg: str, *args: object) -> None:
    write("info", msg, *args)


def warning(msg: str, *args: object) -> None:
    write("warning", msg, *args)


def error(msg: str, *args: object) -> None:
    write("error", msg, *args)
