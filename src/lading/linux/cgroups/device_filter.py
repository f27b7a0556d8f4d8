"""Device access rules, and their cgroup v2 form: a BPF_CGROUP_DEVICE program.

cgroup v2 has no devices controller; instead the kernel runs an eBPF program for every device
open or mknod in the cgroup, passing (access << 16 | type, major, minor), and denies unless it
returns 1. Rules are checked last to first, so the last matching rule decides, as with v1's
devices.allow/devices.deny written in order; nothing matching means deny.
"""

from __future__ import annotations

import posix  # not os: runtime/store.py says why
import struct

from lading.errors import LadingError
from lading.record import Record

WILDCARD = -1
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


class DeviceRule(Record):
    allow: bool
    type: str = "a"  # "a" (all), "b" or "c"
    major: int = WILDCARD
    minor: int = WILDCARD
    access: str = "rwm"

    def v1_entry(self) -> str:
        """The line for devices.allow/devices.deny, e.g. ``c 1:3 rwm`` or ``a *:* rwm``."""
        major = "*" if self.major == WILDCARD else str(self.major)
        minor = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"

    def matches_everything(self) -> bool:
        return self.type == "a" and self.major == self.minor == WILDCARD and set(self.access) >= {"r", "w", "m"}


# --- instruction encoding (struct bpf_insn: u8 code, u8 dst:4|src:4, s16 off, s32 imm) -------------

_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
_MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
_MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95  # BPF_JMP | BPF_EXIT

Insn = tuple[int, int, int, int, int]  # code, dst, src, off, imm


def encode(insns: list[Insn]) -> bytes:
    return b"".join(struct.pack("<BBhi", c, (s << 4) | d, off, imm) for c, d, s, off, imm in insns)


def _access_mask(access: str) -> int:
    mask = 0
    for ch in access:
        mask |= _ACCESS[ch]
    return mask


def _rule_block(rule: DeviceRule) -> list[Insn]:
    """Return ``rule.allow`` if the request matches; otherwise fall through past the block."""
    checks: list[list[Insn]] = []
    if rule.type != "a":
        checks.append([(_JNE_K, 2, 0, 0, _TYPES[rule.type])])
    mask = _access_mask(rule.access)
    if mask != 7:
        # every requested access bit must be granted by the rule: (req & mask) == req
        checks.append([(_MOV32_X, 1, 3, 0, 0), (_AND32_K, 1, 0, 0, mask), (_JNE_X, 1, 3, 0, 0)])
    if rule.major != WILDCARD:
        checks.append([(_JNE_K, 4, 0, 0, rule.major)])
    if rule.minor != WILDCARD:
        checks.append([(_JNE_K, 5, 0, 0, rule.minor)])
    body: list[Insn] = [insn for group in checks for insn in group]
    tail: list[Insn] = [(_MOV32_K, 0, 0, 0, 1 if rule.allow else 0), (_EXIT, 0, 0, 0, 0)]
    out: list[Insn] = []
    for i, (code, dst, src, _, imm) in enumerate(body):
        off = len(body) - i - 1 + len(tail) if code in (_JNE_K, _JNE_X) else 0
        out.append((code, dst, src, off, imm))
    return out + tail


def compile_rules(rules: list[DeviceRule]) -> list[Insn]:
    """The program for ``rules`` (last match wins, default deny)."""
    prog: list[Insn] = [
        (_LDX_W, 2, 1, 0, 0),  # r2 = ctx->access_type
        (_AND32_K, 2, 0, 0, 0xFFFF),  # r2 = device type
        (_LDX_W, 3, 1, 0, 0),
        (_RSH32_K, 3, 0, 0, 16),  # r3 = requested access
        (_LDX_W, 4, 1, 4, 0),  # r4 = major
        (_LDX_W, 5, 1, 8, 0),  # r5 = minor
    ]
    for rule in reversed(rules):
        if rule.type not in ("a", "b", "c") or not rule.access or set(rule.access) - set(_ACCESS):
            raise LadingError(f"device rule {rule.v1_entry()!r}: invalid type or access")
        prog += _rule_block(rule)
        if rule.matches_everything():
            return prog  # earlier rules can never be reached
    return [*prog, (_MOV32_K, 0, 0, 0, 0), (_EXIT, 0, 0, 0, 0)]


def install(cgroup_dir: str, rules: list[DeviceRule]) -> None:
    """Attach the program for ``rules`` to the v2 cgroup, replacing any device program it had.

    The new program is attached before the old ones are detached, so there is no moment without
    a filter; both are consulted meanwhile, and both must allow.
    """
    from lading.linux.cgroups import bpf  # ctypes: only where a program is really installed

    prog_fd = bpf.load_device_program(encode(compile_rules(rules)))
    try:
        cg_fd = posix.open(cgroup_dir, posix.O_RDONLY | posix.O_DIRECTORY | posix.O_CLOEXEC)
    except OSError as e:
        posix.close(prog_fd)
        raise LadingError(f"cgroup: cannot open {cgroup_dir}: {e.strerror}") from None
    try:
        old = bpf.attached_ids(cg_fd)
        bpf.attach(cg_fd, prog_fd)
        for prog_id in old:
            fd = bpf.program_fd(prog_id)
            try:
                bpf.detach(cg_fd, fd)
            finally:
                posix.close(fd)
    except OSError as e:
        raise LadingError(f"cgroup: cannot install the device filter on {cgroup_dir}: {e}") from None
    finally:
        posix.close(cg_fd)
        posix.close(prog_fd)
