"""The monitor's log writer: a container's stdout and stderr in docker's json-file format.

One JSON object per line, ``{"log":"...\\n","stream":"stdout","time":"<RFC 3339, nanoseconds>"}``,
made the way docker makes it so that any json-file reader (docker's own, or a log shipper)
reads lading's logs unchanged:

- Lines: output is split at newlines; a line's ``log`` keeps its ``\\n``. A line of 16 KiB or more
  is cut into 16 KiB pieces without ``\\n`` (the rest, with the ``\\n``, follows), all stamped with
  the time of the first piece (docker's partial messages); whatever is left without a newline
  when the stream ends is written as a last piece without ``\\n``.
- Text: the bytes are read as UTF-8, each invalid byte becomes ``\\ufffd``; ``"``, ``\\``, ``\\n``,
  ``\\r``, the other control characters (``\\u00XX``), ``<``, ``>``, ``&``, U+2028 and U+2029 are
  escaped, everything else is written as it is. The time drops trailing zeros of the fraction.
- Rotation (``--log-opt max-size`` / ``max-file``): before a line is written, a file that has
  reached max-size is rotated: with max-file > 1, ``log.N-1`` is dropped, ``log.i`` becomes
  ``log.i+1`` and ``log`` becomes ``log.1``; with max-file 1 the file is started afresh. So a
  file may exceed max-size by one line, as docker's do.

What the container wrote in one read is written at once: its complete lines, each stamped with
the time of that read, in one ``write(2)`` on an ``O_APPEND`` descriptor (line by line only when
a line is cut or the file rotates among them), with no buffering in this process. So every line
is whole in the kernel's page cache before the next read, and survives the monitor being
killed. A line that cannot be written (a full disk) is lost, and the monitor goes on. Lines are
not fsync'ed, as docker does not either: a log line's loss on a power failure is accepted, a
sync per line is not (the exit record, which must not be lost or torn, is synced; see
monitor_process).

Kept to ``posix`` and ``time`` (no ``os``, no ``json``): it runs in every monitor, whose size
is measured (see monitor_process).
"""

from __future__ import annotations

import posix
import time

PARTIAL_SIZE = 16 * 1024
LOG_FILE_MODE = 0o640
OPEN_FOR_APPEND = posix.O_WRONLY | posix.O_APPEND | posix.O_CREAT | posix.O_CLOEXEC


def _escapes() -> dict[int, str]:
    table = {c: f"\\u{c:04x}" for c in range(0x20)}
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord('"'): '\\"', ord("\\"): "\\\\"})
    table.update({ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})
    # surrogateescape turns each invalid byte into U+DC80..U+DCFF: docker writes U+FFFD for it
    table.update({c: "\\ufffd" for c in range(0xDC80, 0xDD00)})
    return table


_ESCAPES = _escapes()
# For many lines at once: a newline also gets a mark that no escaped text can hold (a surrogate
# outside surrogateescape's range), to split the escaped lines apart at.
_LINE_END = "\udfff"
_LINES_ESCAPES = {**_ESCAPES, ord("\n"): "\\n" + _LINE_END}
_second = [-1, ""]  # the last second formatted, and how


def escape(data: bytes) -> bytes:
    """The JSON string body docker writes for these bytes."""
    return data.decode("utf-8", "surrogateescape").translate(_ESCAPES).encode()


def timestamp(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds, trailing zeros dropped (Go's RFC3339Nano)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    if seconds != _second[0]:
        _second[:] = [seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))]
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{_second[1]}{fraction}Z"


class JsonLog:
    """Appends one container's output to ``path``, rotating as max_size / max_files say."""

    def __init__(self, path: str, max_size: int | None = None, max_files: int = 1, fd: int | None = None) -> None:
        """fd: path already opened with OPEN_FOR_APPEND (by the monitor's setup child)."""
        self.path = path
        self.max_size = max_size
        self.max_files = max(max_files, 1)
        self._fd = posix.open(path, OPEN_FOR_APPEND, LOG_FILE_MODE) if fd is None else fd
        self._size = posix.fstat(self._fd).st_size
        self._pending: dict[str, bytes] = {}
        self._partial_time: dict[str, int] = {}

    def feed(self, stream: str, data: bytes) -> None:
        """Log what the container wrote to ``stream`` ("stdout" or "stderr"): every complete line,
        and 16 KiB pieces of a line that long; the rest waits for more."""
        buf = self._pending.pop(stream, b"") + data
        start = 0 if stream in self._partial_time else self._write_lines(stream, buf)
        while True:
            # docker's copier holds 16 KiB: a newline beyond that comes after a partial piece
            end = buf.find(b"\n", start, start + PARTIAL_SIZE)
            if end >= 0:
                self._write(stream, buf[start : end + 1], self._partial_time.pop(stream, None))
                start = end + 1
            elif len(buf) - start >= PARTIAL_SIZE:
                self._write_partial(stream, buf[start : start + PARTIAL_SIZE])
                start += PARTIAL_SIZE
            else:
                break
        if start < len(buf):
            self._pending[stream] = buf[start:]

    def end(self, stream: str) -> None:
        """The stream ended: write what is left of its last line, without a newline."""
        rest = self._pending.pop(stream, b"")
        if rest:
            self._write_partial(stream, rest)
        self._partial_time.pop(stream, None)

    def close(self) -> None:
        if self._fd >= 0:
            posix.close(self._fd)

    def _write_lines(self, stream: str, buf: bytes) -> int:
        """The common case at the speed of one write(2): buf's complete lines, when none is to be
        cut and no rotation falls among them, stamped with one time (they were read at once).
        Returns how much of buf is done (0: none, the line-by-line path does it)."""
        done = buf.rfind(b"\n") + 1
        if done == 0 or (done >= PARTIAL_SIZE and max(map(len, buf[:done].split(b"\n"))) >= PARTIAL_SIZE):
            return 0
        lines = buf[:done].decode("utf-8", "surrogateescape").translate(_LINES_ESCAPES).split(_LINE_END)
        tail = f'","stream":"{stream}","time":"{timestamp(time.time_ns())}"}}\n'
        body = ('{"log":"' + (tail + '{"log":"').join(lines[:-1]) + tail).encode()
        if self.max_size is not None and self._size + len(body) >= self.max_size:
            return 0
        self._append(body)
        return done

    def _write_partial(self, stream: str, piece: bytes) -> None:
        first = self._partial_time.setdefault(stream, time.time_ns())
        self._write(stream, piece, first)

    def _write(self, stream: str, piece: bytes, ns: int | None) -> None:
        stamp = timestamp(time.time_ns() if ns is None else ns)
        line = b'{"log":"' + escape(piece) + b'","stream":"' + stream.encode() + b'","time":"'
        line += stamp.encode() + b'"}\n'
        self._append(line)

    def _append(self, lines: bytes) -> None:
        """Write whole lines, rotating first if the file is full."""
        try:
            if self._fd < 0:  # a rotation could not open the new file: try again
                self._fd = posix.open(self.path, OPEN_FOR_APPEND, LOG_FILE_MODE)
            if self.max_size is not None and self._size >= self.max_size:
                self._rotate()
            view = memoryview(lines)
            while view:
                view = view[posix.write(self._fd, view) :]
            self._size += len(lines)
        except OSError:  # a full or failing disk costs these lines, never the monitor (docker's too)
            pass

    def _rotate(self) -> None:
        posix.close(self._fd)
        self._fd = -1
        if self.max_files > 1:
            remove(f"{self.path}.{self.max_files - 1}")
            for i in range(self.max_files - 1, 1, -1):
                _rename(f"{self.path}.{i - 1}", f"{self.path}.{i}")
            _rename(self.path, f"{self.path}.1")
        else:
            remove(self.path)
        self._size = 0
        self._fd = posix.open(self.path, OPEN_FOR_APPEND | posix.O_TRUNC, LOG_FILE_MODE)


def remove(path: str) -> None:
    """unlink, if it is there."""
    try:
        posix.unlink(path)
    except FileNotFoundError:
        pass


def _rename(src: str, dst: str) -> None:
    try:
        posix.rename(src, dst)
    except FileNotFoundError:
        pass
