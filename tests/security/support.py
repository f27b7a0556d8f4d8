"""Helpers for the security tests: forked children on the real kernel, and spec objects.

Capabilities, seccomp filters and no_new_privs cannot be undone, so every test that applies
them does so in a forked child of the test process; the child reports back through a pipe
(a pickled result, or the exception it raised) and always ends with os._exit.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from lading.spec.decode import decode
from lading.spec.runtime_config import Linux, LinuxSeccomp, Process

T = TypeVar("T")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


class Child:
    """fn running in a forked child; :meth:`result` waits for it and returns what it returned
    (or re-raises what it raised)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(r)
            try:
                try:
                    result: tuple[str, Any] = ("ok", fn())
                except BaseException as e:
                    result = ("raised", e)
                os.write(w, pickle.dumps(result))
            finally:
                os._exit(0)
        os.close(w)
        self._r = r

    def result(self) -> Any:
        try:
            data = _read_all(self._r)
        finally:
            os.close(self._r)
        _, status = os.waitpid(self.pid, 0)
        if not data:
            raise AssertionError(f"the child died without a result: wait status {status:#x}")
        kind, value = pickle.loads(data)
        if kind == "raised":
            raise value
        return value


def in_child(fn: Callable[[], T]) -> T:
    """Run fn in a forked child and return its result; re-raise what it raised."""
    return Child(fn).result()  # type: ignore[no-any-return]


def child_status(fn: Callable[[], object]) -> int:
    """Run fn in a forked child; its wait status (a child that returns exits 0)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


def exec_in_child(setup: Callable[[], None], argv: list[str]) -> tuple[int, str, str]:
    """Fork; in the child run setup() then execv(argv). Returns (exit code, stdout, stderr)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 (pytest replaced it)
            setup()
            os.execv(argv[0], argv)
        except BaseException as e:
            os.write(2, f"{type(e).__name__}: {e}".encode())
        finally:
            os._exit(127)
    os.close(out_w)
    os.close(err_w)
    try:
        out = _read_all(out_r)
        err = _read_all(err_r)
    finally:
        os.close(out_r)
        os.close(err_r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(), err.decode()


def process(**fields: Any) -> Process:
    """A Process decoded from JSON the way config.json is (camelCase keys)."""
    doc = {"cwd": "/", "args": ["sh"], **fields}
    return decode(json.dumps(doc).encode(), Process, "config.json")


def seccomp(**fields: Any) -> LinuxSeccomp:
    return decode(json.dumps(fields).encode(), LinuxSeccomp, "config.json")


def linux(**fields: Any) -> Linux:
    return decode(json.dumps(fields).encode(), Linux, "config.json")


def status_caps(text: str) -> dict[str, int]:
    """The Cap* lines of /proc/PID/status as masks: {"CapEff": 0x..., ...}."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            out[key] = int(value.strip(), 16)
    return out


_PTRACE_DETACH = 17
_PTRACE_SEIZE = 0x4206
_PTRACE_INTERRUPT = 0x4207
_PTRACE_SECCOMP_GET_FILTER = 0x420C
_WALL = 0x40000000


def installed_filters(pid: int) -> list[bytes]:
    """The seccomp programs installed on a process as the kernel holds them, newest first
    (PTRACE_SECCOMP_GET_FILTER: the process is seized, stopped for the reading, then let go)."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    ptrace = libc.ptrace
    ptrace.restype = ctypes.c_long
    ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)

    def call(request: int, addr: int | None = None, data: Any = None) -> int:
        rc = int(ptrace(request, pid, addr, data))
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"ptrace({request:#x}, {pid}): {os.strerror(err)}")
        return rc

    call(_PTRACE_SEIZE)
    try:
        call(_PTRACE_INTERRUPT)
        os.waitpid(pid, _WALL)
        programs = []
        for index in range(64):
            try:
                count = call(_PTRACE_SECCOMP_GET_FILTER, index)
            except OSError as e:
                if e.errno == errno.ENOENT or (e.errno == errno.EINVAL and not index):  # no more, none
                    break
                raise
            buf = ctypes.create_string_buffer(count * 8)
            call(_PTRACE_SECCOMP_GET_FILTER, index, buf)
            programs.append(buf.raw)
        return programs
    finally:
        ptrace(_PTRACE_DETACH, pid, None, None)
