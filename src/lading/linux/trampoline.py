"""A sealed in-memory executable that does one thing: ``execve(argv[0], argv + 1, envp)``.

Why: when a process execs a script whose interpreter is ``/proc/self/exe`` (or an ELF whose
PT_INTERP is), the kernel resolves that link in the *calling* process, so the program would start
the host's python, and a container process could then open /proc/PID/exe of it and overwrite the
host's interpreter (CVE-2019-5736). The runtime therefore execs the user's program from this tiny
program instead: by then /proc/self/exe is a sealed memfd, which cannot be written and leads
nowhere on the host.

The code is below as machine code, with its assembly alongside; it is ~100 bytes per
architecture wrapped in a minimal ELF header with one PT_LOAD segment. It first marks
``error_fd`` close-on-exec, then execs (refusing an argv without the program's own argv[0],
which is what a ``#!/proc/self/exe`` script makes of it, so such a script ends at once instead
of re-executing the trampoline forever); if execve fails it writes ``b"\\0"`` and the errno (one
byte) to ``error_fd`` and exits 127, so the runtime can still say why (see :func:`describe`).
"""

from __future__ import annotations

import errno
import fcntl
import posix  # not os: runtime/store.py says why
import struct

from lading.linux.binfmt import E_MACHINE, NATIVE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

_BASE = 0x400000
_EHDR = 64
_PHDR = 56

# x86_64 (System V: at entry [rsp] = argc, [rsp+8] = argv[0], ..., NULL, envp...)
_X86_64 = bytes.fromhex(
    "8b3d65000000"  # mov edi, [rip+errfd]
    "be02000000"  # mov esi, F_SETFD
    "ba01000000"  # mov edx, FD_CLOEXEC
    "b848000000"  # mov eax, SYS_fcntl
    "0f05"  # syscall
    "b8f8ffffff"  # mov eax, -ENOEXEC
    "48833c2402"  # cmp qword [rsp], 2        ; fewer than path + argv[0]: refuse
    "721a"  # jb fail                    ; (ends a /proc/self/exe interpreter loop)
    "488b7c2408"  # mov rdi, [rsp+8]          ; path = argv[0]
    "488d742410"  # lea rsi, [rsp+16]         ; argv + 1
    "488b0424"  # mov rax, [rsp]            ; argc
    "488d54c410"  # lea rdx, [rsp+rax*8+16]   ; envp
    "b83b000000"  # mov eax, SYS_execve
    "0f05"  # syscall
    "f7d8"  # fail: neg eax              ; errno
    "c64424fe00"  # mov byte [rsp-2], 0
    "884424ff"  # mov byte [rsp-1], al
    "488d7424fe"  # lea rsi, [rsp-2]
    "ba02000000"  # mov edx, 2
    "8b3d13000000"  # mov edi, [rip+errfd]
    "b801000000"  # mov eax, SYS_write
    "0f05"  # syscall
    "bf7f000000"  # mov edi, 127
    "b8e7000000"  # mov eax, SYS_exit_group
    "0f05"  # syscall
)  # errfd: .long (appended)

# aarch64 (at entry [sp] = argc, [sp+8] = argv[0], ...); little-endian instruction words
_AARCH64 = b"".join(
    struct.pack("<I", word)
    for word in (
        0x18000340,  # ldr  w0, errfd
        0xD2800041,  # mov  x1, #2          ; F_SETFD
        0xD2800022,  # mov  x2, #1          ; FD_CLOEXEC
        0xD2800328,  # mov  x8, #25         ; SYS_fcntl
        0xD4000001,  # svc  #0
        0x928000E0,  # mov  x0, #-8         ; -ENOEXEC
        0xF94003E3,  # ldr  x3, [sp]        ; argc
        0xF100087F,  # cmp  x3, #2          ; fewer than path + argv[0]: refuse
        0x540000E3,  # b.lo fail
        0xF94007E0,  # ldr  x0, [sp, #8]    ; path = argv[0]
        0x910043E1,  # add  x1, sp, #16     ; argv + 1
        0x8B236FE2,  # add  x2, sp, x3, lsl #3
        0x91004042,  # add  x2, x2, #16     ; envp
        0xD2801BA8,  # mov  x8, #221        ; SYS_execve
        0xD4000001,  # svc  #0
        0x4B0003E9,  # fail: neg w9, w0     ; errno
        0xD10043E1,  # sub  x1, sp, #16
        0x3900003F,  # strb wzr, [x1]
        0x39000429,  # strb w9, [x1, #1]
        0x180000E0,  # ldr  w0, errfd
        0xD2800042,  # mov  x2, #2
        0xD2800808,  # mov  x8, #64         ; SYS_write
        0xD4000001,  # svc  #0
        0xD2800FE0,  # mov  x0, #127
        0xD2800BC8,  # mov  x8, #94         ; SYS_exit_group
        0xD4000001,  # svc  #0
    )
)  # errfd: .word (appended, 4-byte aligned)

_CODE = {"x86_64": _X86_64, "aarch64": _AARCH64}
MFD_EXEC = 0x0010


def image(error_fd: int, machine: str | None = None) -> bytes:
    """The ELF file for this (or the given) machine, reporting failures to error_fd."""
    machine = machine or NATIVE
    e_machine, code = E_MACHINE[machine], _CODE[machine]
    body = code + struct.pack("<I", error_fd)
    size = _EHDR + _PHDR + len(body)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, version 1, SysV
    ehdr = ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, e_machine, 1, _BASE + _EHDR + _PHDR, _EHDR, 0, 0, _EHDR, _PHDR, 1, 0, 0, 0
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)  # PT_LOAD, R|X
    return ehdr + phdr + body


def load(error_fd: int) -> int:
    """A sealed, close-on-exec memfd holding the trampoline."""
    try:
        fd = posix.memfd_create("lading-exec", posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING | MFD_EXEC)
    except OSError as e:
        if e.errno != errno.EINVAL:  # before Linux 6.3 there is no MFD_EXEC (and no need for it)
            raise
        fd = posix.memfd_create("lading-exec", posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING)
    try:
        posix.write(fd, image(error_fd))
        seals = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    except BaseException:
        posix.close(fd)
        raise
    return fd


def execve(trampoline_fd: int, path: str, args: list[str], env: dict[str, str]) -> NoReturn:
    """Exec ``path`` with ``args`` through the trampoline, whose error fd must be open and
    inheritable by now. Nothing but the exec itself: this may run under a seccomp filter."""
    argv = [path, *args]
    try:
        posix.execve(trampoline_fd, argv, env)  # execveat(fd, "", AT_EMPTY_PATH)
    except OSError:
        pass  # a seccomp profile that allows execve but not execveat: through /proc instead
    posix.execve(f"/proc/self/fd/{trampoline_fd}", argv, env)


def describe(report: bytes) -> str:
    """The error a process reported on its error fd: the trampoline's errno, or text."""
    if len(report) == 2 and report[0] == 0:
        return f"exec failed: {posix.strerror(report[1])}"
    return report.decode(errors="replace").strip()
