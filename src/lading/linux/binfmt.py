"""Whether the kernel will exec a file by itself: an ELF of this machine whose loader exists, or a
``#!`` script whose interpreter exists.

Why: `start` returns once the container's init is about to exec its program, as runc's and
crun's do, so a failure of that exec no longer reaches it. The usual ones can be seen in the file
beforehand: an image built for another architecture ("Exec format error"), a script naming a
shell the image lacks, a program linked against a loader the image lacks (both "No such file or
directory"). For a file this says no to, the init has `start` wait for the exec and report how it
ended (runtime/init.py). It decides only that: the kernel stays the judge (binfmt_misc may run
what this refuses, through qemu say), and a wrong no costs `start` a millisecond, not a container.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why

# ELF's e_machine of each machine lading runs on (the trampoline's too).
E_MACHINE = {"x86_64": 62, "aarch64": 183}
# read once, at import: a LINUX32 personality set for the container makes uname say i686
NATIVE = posix.uname().machine
_ELF64_LE = b"\x7fELF\x02\x01"
_PT_INTERP = 3
_PHDR = 56  # sizeof(Elf64_Phdr): the only e_phentsize the kernel takes
_PATH_MAX = 4096
_HEAD = 256  # what the kernel reads of a file to choose its handler (BINPRM_BUF_SIZE)


def execs_natively(path: str) -> bool:
    """True when ``path`` is a 64-bit little-endian ELF of this machine whose program interpreter
    (PT_INTERP), if it names one, is an executable file, or a ``#!`` script whose interpreter is;
    False for anything else, or a file that cannot be read."""
    try:
        if not _regular(posix.stat(path).st_mode):  # opening a fifo or a device could block or act
            return False
        fd = posix.open(path, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_NOCTTY | posix.O_CLOEXEC)
        try:
            head = posix.pread(fd, _HEAD, 0)
            if head.startswith(b"#!"):
                return _executable(_script_interpreter(head))
            if not head.startswith(_ELF64_LE) or _number(head, 18, 2) != E_MACHINE.get(NATIVE):
                return False
            return _executable(_elf_interpreter(fd, head))
        finally:
            posix.close(fd)
    except (OSError, ValueError):
        return False


def _script_interpreter(head: bytes) -> bytes:
    """The interpreter's path as binfmt_script takes it: after ``#!`` and any spaces or tabs, up
    to the next space, tab or end of line (a carriage return stays part of it, as there)."""
    line = head[2:].split(b"\n", 1)[0].lstrip(b" \t")
    for i, c in enumerate(line):
        if c in b" \t":
            return line[:i]
    return line


def _elf_interpreter(fd: int, head: bytes) -> bytes | None:
    """The PT_INTERP path of the ELF file open at fd (head: its first bytes), or None (static).
    ValueError for program headers the kernel refuses (their size, their table over 64 KiB, an
    interpreter path over PATH_MAX)."""
    phoff, phentsize, phnum = _number(head, 32, 8), _number(head, 54, 2), _number(head, 56, 2)
    if phentsize != _PHDR or phnum * _PHDR > 65536:
        raise ValueError("program headers the kernel refuses")
    table = posix.pread(fd, phnum * _PHDR, phoff)
    for at in range(0, len(table) - _PHDR + 1, _PHDR):
        if _number(table, at, 4) == _PT_INTERP:
            offset, size = _number(table, at + 8, 8), _number(table, at + 32, 8)
            if size > _PATH_MAX:
                raise ValueError("interpreter path too long")
            return posix.pread(fd, size, offset).rstrip(b"\0")
    return None


def _executable(path: bytes | None) -> bool:
    """None (no interpreter needed), or a regular file someone may execute."""
    if path is None:
        return True
    mode = posix.stat(path).st_mode
    return _regular(mode) and mode & 0o111 != 0


def _regular(mode: int) -> bool:
    return mode & 0o170000 == 0o100000


def _number(data: bytes, offset: int, size: int) -> int:
    if offset + size > len(data):
        raise ValueError("truncated ELF header")
    return int.from_bytes(data[offset : offset + size], "little")
