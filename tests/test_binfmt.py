"""linux/binfmt: which files the kernel runs by itself, checked against what execve does."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lading.linux import binfmt
from tests.support import bare_elf_header

TRUE = shutil.which("true") or "/bin/true"


def _exec_errno(path: Path) -> int:
    """What execve of path gives: 0 when it runs (exit status 0), else its errno."""
    try:
        subprocess.run([str(path)], check=True, capture_output=True)
    except OSError as e:
        return e.errno or -1
    return 0


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o755)
    return path


def _elf_with(path: Path, old: bytes, new: bytes) -> Path:
    """A copy of `true` with ``old`` (as long as ``new``) replaced once."""
    data = Path(TRUE).read_bytes()
    assert len(old) == len(new) and old in data
    return _write(path, data.replace(old, new, 1))


def test_a_program_of_this_machine_and_a_script_are_run(tmp_path: Path) -> None:
    script = _write(tmp_path / "script", b"#!/bin/sh\ntrue\n")
    spaced = _write(tmp_path / "spaced", b"#! \t/bin/sh -e\ntrue\n")
    for path in (Path(TRUE), script, spaced):
        assert binfmt.execs_natively(str(path)), path
        assert _exec_errno(path) == 0


@pytest.mark.skipif(binfmt.NATIVE not in binfmt.E_MACHINE, reason="no ELF machine number for this machine")
def test_what_the_kernel_refuses_is_foreseen(tmp_path: Path) -> None:
    native = binfmt.E_MACHINE[binfmt.NATIVE].to_bytes(2, "little")
    other = next(m for name, m in binfmt.E_MACHINE.items() if name != binfmt.NATIVE).to_bytes(2, "little")
    data = Path(TRUE).read_bytes()
    foreign = _write(tmp_path / "foreign", data[:18] + other + data[20:])
    assert data[18:20] == native
    loader = next(p for p in (b"/lib64/ld-linux-x86-64.so.2", b"/lib/ld-linux-aarch64.so.1") if p in data)
    no_loader = _elf_with(tmp_path / "no-loader", loader, b"/nonexistent"[: len(loader)].ljust(len(loader), b"x"))
    cases = {
        foreign: errno.ENOEXEC,
        no_loader: errno.ENOENT,
        _write(tmp_path / "junk", b"\x01\x02 not a program"): errno.ENOEXEC,
        _write(tmp_path / "no-shell", b"#!/nonexistent/sh\ntrue\n"): errno.ENOENT,
        _write(tmp_path / "crlf", b"#!/bin/sh\r\ntrue\r\n"): errno.ENOENT,  # the shell is "/bin/sh\r"
        _write(tmp_path / "empty", b""): errno.ENOEXEC,
    }
    for path, expected in cases.items():
        assert not binfmt.execs_natively(str(path)), path
        assert _exec_errno(path) == expected, path


def test_a_native_header_the_kernel_still_refuses_is_not_foreseen(tmp_path: Path) -> None:
    """The look is at the header and the interpreter, not a full check: this one passes it."""
    path = _write(tmp_path / "bare-header", bare_elf_header())
    assert binfmt.execs_natively(str(path))
    assert _exec_errno(path) == errno.ENOEXEC


def test_a_missing_file_a_directory_or_a_fifo_is_not_foreseen_to_run(tmp_path: Path) -> None:
    """A fifo is not opened at all: with no writer, opening it would block."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o755)
    for path in (tmp_path / "missing", tmp_path, fifo):
        assert not binfmt.execs_natively(str(path)), path
