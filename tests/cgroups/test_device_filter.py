"""The cgroup v2 device program: generated code checked by a small interpreter against the rule
semantics (last match wins, default deny), then loaded into the kernel and attached for real."""

from __future__ import annotations

import itertools
import os
import struct
import subprocess

import pytest

from lading.errors import LadingError
from lading.linux.cgroups import bpf, device_filter
from lading.linux.cgroups.device_filter import WILDCARD, DeviceRule

TYPES = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}


def run_program(code: bytes, dev_type: str, access: str, major: int, minor: int) -> int:
    """Interpret the instruction subset device_filter emits, as the kernel would."""
    req = sum(ACCESS[a] for a in access)
    ctx = struct.pack("<III", (req << 16) | TYPES[dev_type], major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i : i + 8]) for i in range(0, len(code), 8)]
    for _ in range(1000):
        op, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if op == 0x61:
            assert src == 1, "loads only from ctx"
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0x54:
            regs[dst] = regs[dst] & (imm & 0xFFFFFFFF)
        elif op == 0x74:
            regs[dst] = regs[dst] >> imm
        elif op == 0xB4:
            regs[dst] = imm & 0xFFFFFFFF
        elif op == 0xBC:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == 0x55:
            if regs[dst] != imm:
                pc += off
        elif op == 0x5D:
            if regs[dst] != regs[src]:
                pc += off
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
    raise AssertionError("program did not terminate")


def reference(rules: list[DeviceRule], dev_type: str, access: str, major: int, minor: int) -> int:
    for r in reversed(rules):
        if r.type not in ("a", dev_type):
            continue
        if r.major not in (WILDCARD, major) or r.minor not in (WILDCARD, minor):
            continue
        if not set(access) <= set(r.access):
            continue
        return int(r.allow)
    return 0


RULESETS = [
    [],
    [DeviceRule(False)],
    [DeviceRule(True)],
    [DeviceRule(False), DeviceRule(True, "c", 1, 3, "rwm"), DeviceRule(True, "c", 1, 5, "r")],
    [DeviceRule(True), DeviceRule(False, "c", 1, 1, "rwm"), DeviceRule(False, "b", WILDCARD, WILDCARD, "w")],
    [
        DeviceRule(False),
        DeviceRule(True, "c", WILDCARD, WILDCARD, "m"),
        DeviceRule(True, "c", 136, WILDCARD, "rw"),
    ],
    [DeviceRule(True, "c", 1, 3, "rw"), DeviceRule(False, "a", WILDCARD, WILDCARD, "w")],
]


@pytest.mark.parametrize("rules", RULESETS, ids=lambda r: ";".join(x.v1_entry() for x in r) or "none")
def test_program_matches_rule_semantics(rules: list[DeviceRule]) -> None:
    code = device_filter.encode(device_filter.compile_rules(rules))
    accesses = ["m", "r", "w", "rw", "rwm", "mw"]
    for t, acc, major, minor in itertools.product("bc", accesses, (1, 8, 136), (1, 3, 5)):
        assert run_program(code, t, acc, major, minor) == reference(rules, t, acc, major, minor), (
            t,
            acc,
            major,
            minor,
        )


def test_catch_all_rule_cuts_off_earlier_rules() -> None:
    prog = device_filter.compile_rules([DeviceRule(True, "c", 1, 3), DeviceRule(False)])
    # prologue (6) + the catch-all's "r0 = 0; exit": the allow rule before it is unreachable
    assert len(prog) == 8 and prog[-2] == (0xB4, 0, 0, 0, 0)


def test_v1_entries() -> None:
    assert DeviceRule(False).v1_entry() == "a *:* rwm"
    assert DeviceRule(True, "c", 136, WILDCARD, "rw").v1_entry() == "c 136:* rw"


def test_bad_rule_is_refused() -> None:
    with pytest.raises(LadingError, match="invalid type or access"):
        device_filter.compile_rules([DeviceRule(True, "x", 1, 1)])


def test_kernel_denies_what_the_rules_deny(unified_dir: str, tmp_path) -> None:
    rules = [DeviceRule(False), DeviceRule(True, "c", 1, 3, "rwm"), DeviceRule(True, "c", 1, 5, "r")]
    device_filter.install(unified_dir, rules)
    node = tmp_path / "mem"
    script = f"""
        cat /dev/null && echo null-ok
        head -c1 /dev/zero >/dev/null && echo zero-read-ok
        (echo x > /dev/zero) 2>/dev/null || echo zero-write-denied
        (head -c1 /dev/mem > /dev/null) 2>/dev/null || echo mem-denied
        mknod {node} c 1 1 2>/dev/null || echo mknod-mem-denied
    """
    out = subprocess.run(
        ["sh", "-c", f"echo $$ > {unified_dir}/cgroup.procs; {script}"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.split()
    assert out == ["null-ok", "zero-read-ok", "zero-write-denied", "mem-denied", "mknod-mem-denied"]
    assert not node.exists()
    # replacing the program leaves exactly one attached
    device_filter.install(unified_dir, [DeviceRule(True)])
    fd = os.open(unified_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(bpf.attached_ids(fd)) == 1
    finally:
        os.close(fd)
    out = subprocess.run(
        ["sh", "-c", f"echo $$ > {unified_dir}/cgroup.procs; echo x > /dev/zero && echo zero-write-ok"],
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.split()
    assert out == ["zero-write-ok"]
