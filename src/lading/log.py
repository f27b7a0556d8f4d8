"""The runtime's log: text or JSON lines, to the --log file and/or stderr.

containerd and podman pass ``--log FILE --log-format json`` and read the last ``error`` line of
that file to show the user why the runtime failed, so every error goes there as one JSON object
with ``level``, ``msg`` and ``time``. Hand-written instead of ``logging`` to keep start-up cheap:
every runtime verb is a fresh process.
"""

from __future__ import annotations

import os
import sys
import time

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_fd = -1
_json = False
_threshold = _LEVELS["warning"]


def configure(path: str | None, fmt: str = "text", debug: bool = False) -> None:
    """Open the log file once: the container's init inherits the fd and can still log after
    pivot_root, when the path is no longer reachable."""
    global _fd, _json, _threshold
    if path:
        _fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    _json = fmt == "json"
    _threshold = _LEVELS["debug"] if debug else _LEVELS["info"] if path else _LEVELS["warning"]


def _timestamp() -> str:
    now = time.time()
    frac = f"{now % 1:.9f}"[1:]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + frac + "Z"


def _format(level: str, msg: str) -> str:
    if _json:
        import json

        return json.dumps({"level": level, "msg": msg, "time": _timestamp()}) + "\n"
    return f'time="{_timestamp()}" level={level} msg="{msg}"\n'


def write(level: str, msg: str) -> None:
    """Log one message; errors also go to stderr when the log is a file."""
    if _LEVELS[level] < _threshold:
        return
    line = _format(level, msg)
    if _fd >= 0:
        try:
            os.write(_fd, line.encode())
        except OSError:
            pass
    if _fd < 0 or level == "error":
        sys.stderr.write(msg + "\n" if level == "error" else line)
        sys.stderr.flush()


def debug(msg: str) -> None:
    write("debug", msg)


def info(msg: str) -> None:
    write("info", msg)


def warning(msg: str) -> None:
    write("warning", msg)


def error(msg: str) -> None:
    write("error", msg)
