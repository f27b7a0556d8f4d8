"""Pull progress: docker-style bars per layer and in total on a terminal, plain lines otherwise.

Download threads report into one ``Progress``; on a tty a redraw repaints every line in place
(at most ten times a second), elsewhere each state change is one line, so logs stay readable.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n:.1f}GB"


def _bar(done: int, total: int, width: int = 40) -> str:
    if total <= 0:
        return " " * (width + 2)
    filled = min(width, done * width // total)
    head = ">" if filled < width else ""
    return "[" + "=" * filled + head + " " * (width - filled - len(head)) + "]"


class Progress:
    def __init__(self, out: TextIO | None = None, tty: bool | None = None, quiet: bool = False) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self.quiet = quiet
        self._lock = threading.Lock()
        self._order: list[str] = []
        self._state: dict[str, tuple[str, int, int]] = {}  # key -> (status, done, total)
        self._drawn = 0
        self._last_draw = 0.0
        self._start = time.monotonic()

    def add(self, key: str, total: int, status: str = "Waiting") -> None:
        with self._lock:
            self._order.append(key)
            self._state[key] = (status, 0, total)
            self._changed(key, force=True)

    def status(self, key: str, status: str, done: int | None = None) -> None:
        with self._lock:
            _, old_done, total = self._state[key]
            self._state[key] = (status, old_done if done is None else done, total)
            self._changed(key, force=True)

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            status, done, total = self._state[key]
            self._state[key] = (status, done + n, total)
            if self.tty:
                self._changed(key, force=False)

    def close(self) -> None:
        with self._lock:
            if self.tty and not self.quiet:
                self._draw()

    def _changed(self, key: str, force: bool) -> None:
        if self.quiet:
            return
        if not self.tty:
            status, _, total = self._state[key]
            size = f" {human(total)}" if status in ("Downloading", "Pull complete") and total > 0 else ""
            self.out.write(f"{key}: {status}{size}\n")
            self.out.flush()
            return
        now = time.monotonic()
        if force or now - self._last_draw >= 0.1:
            self._draw()
            self._last_draw = now

    def _draw(self) -> None:
        lines = []
        all_done = all_total = 0
        for key in self._order:
            status, done, total = self._state[key]
            all_done += done
            all_total += total
            if status == "Downloading":
                lines.append(f"{key}: {status} {_bar(done, total)} {human(done)}/{human(total)}")
            else:
                lines.append(f"{key}: {status}")
        rate = all_done / max(time.monotonic() - self._start, 1e-3)
        lines.append(f"total: {_bar(all_done, all_total)} {human(all_done)}/{human(all_total)} {human(rate)}/s")
        up = f"\x1b[{self._drawn}A" if self._drawn else ""
        self.out.write(up + "".join(f"\r\x1b[2K{line}\n" for line in lines))
        self.out.flush()
        self._drawn = len(lines)
