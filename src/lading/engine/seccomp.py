"""A container's seccomp profile, from docker's JSON form to the bundle's ``linux.seccomp``.

docker's form is the runtime spec's plus what depends on the machine and the container, resolved
here when the bundle is made so that the runtime gets a plain profile: ``archMap`` (for the
machine's architecture, the other ABIs the filter covers too), and per rule ``includes`` and
``excludes`` on the container's capabilities (its bounding set: every listed one for includes,
any for excludes), the machine's architecture (as Go names it: amd64, arm64, ...) and the
kernel's version (``minKernel``). A rule may name one call with ``name`` instead of ``names``.

The engine's default profile (engine/seccomp_default.py) and a file given with
``--security-opt seccomp=FILE`` take the same way. A file is checked once, at create, by
:func:`check`: every problem is one line naming the file and the JSON path, the form of the
runtime spec's parts checked by the runtime's own decoder.
"""

from __future__ import annotations

import os

from lading.errors import LadingError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# os.uname().machine -> the architecture as Go names it (docker's profiles use those names)
_GO_ARCH = {
    "x86_64": "amd64",
    "i686": "386",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
    "loongarch64": "loong64",
}
# the same -> the runtime spec's name for it, which archMap entries are keyed by
_SPEC_ARCH = {
    "amd64": "SCMP_ARCH_X86_64",
    "386": "SCMP_ARCH_X86",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
    "mips64": "SCMP_ARCH_MIPS64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}
_CONDITIONS = ("caps", "arches")


def machine_arch() -> str:
    machine = os.uname().machine
    return _GO_ARCH.get(machine, machine)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _kernel() -> tuple[int, ...]:
    release = os.uname().release.split("-")[0]
    return tuple(int(p) for p in release.split(".")[:2] if p.isdigit())


def _applies(rule: dict[str, Any], caps: set[str], arch: str) -> bool:
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if any(c in caps for c in exc.get("caps") or ()) or arch in (exc.get("arches") or ()):
        return False
    if exc.get("minKernel") and _kernel() >= _version(exc["minKernel"]):
        return False
    if any(c not in caps for c in inc.get("caps") or ()):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    return not (inc.get("minKernel") and _kernel() < _version(inc["minKernel"]))


def linux_seccomp(profile: dict[str, Any], caps: list[str]) -> dict[str, Any]:
    """``linux.seccomp`` for a container whose bounding set is ``caps``."""
    arch = machine_arch()
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    for key in ("defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata"):
        if profile.get(key) is not None:
            out[key] = profile[key]
    for entry in profile.get("archMap") or ():
        if entry["architecture"] == _SPEC_ARCH.get(arch):
            out["architectures"] = [entry["architecture"], *(entry.get("subArchitectures") or ())]
    have = set(caps)
    syscalls = []
    for rule in profile.get("syscalls") or ():
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        if not names or not _applies(rule, have, arch):
            continue
        call = {"names": names, "action": rule["action"]}
        call.update({k: rule[k] for k in ("errnoRet", "args") if rule.get(k) is not None})
        syscalls.append(call)
    out["syscalls"] = syscalls
    return out


def _fail(source: str, where: str, what: str) -> LadingError:
    return LadingError(f"{source}: $.{where}: {what}")


def _strings(value: Any, source: str, where: str) -> None:
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise _fail(source, where, "expected a list of strings")


def _check_condition(cond: Any, source: str, where: str) -> None:
    if cond is None:
        return
    if not isinstance(cond, dict):
        raise _fail(source, where, "expected an object with caps, arches or minKernel")
    for key in _CONDITIONS:
        _strings(cond.get(key), source, f"{where}.{key}")
    kernel = cond.get("minKernel")
    if kernel is not None and not (isinstance(kernel, str) and all(p.isdigit() for p in kernel.split("."))):
        raise _fail(source, f"{where}.minKernel", f'{kernel!r} is not a kernel version like "5.8"')


def check(doc: Any, source: str) -> None:
    """A profile in docker's form, parsed from ``source``: raises LadingError naming the JSON path."""
    if not isinstance(doc, dict):
        raise LadingError(f"{source}: $: a seccomp profile is a JSON object")
    if doc.get("architectures") and doc.get("archMap"):
        raise LadingError(f"{source}: $: give either architectures or archMap, not both")
    arch_map = doc.get("archMap")
    if arch_map is not None and not isinstance(arch_map, list):
        raise _fail(source, "archMap", "expected a list")
    for i, entry in enumerate(arch_map or ()):
        if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
            raise _fail(source, f"archMap[{i}]", "expected an object with an architecture")
        _strings(entry.get("subArchitectures"), source, f"archMap[{i}].subArchitectures")
    syscalls = doc.get("syscalls")
    for i, rule in enumerate(syscalls if isinstance(syscalls, list) else ()):
        if not isinstance(rule, dict):
            continue  # the decoder below says what it should be
        if rule.get("name") is not None:
            if rule.get("names"):
                raise _fail(source, f"syscalls[{i}]", "give either name or names, not both")
            if not isinstance(rule["name"], str):
                raise _fail(source, f"syscalls[{i}].name", "expected a string")
        for key in ("includes", "excludes"):
            _check_condition(rule.get(key), source, f"syscalls[{i}].{key}")
    _check_spec_form(doc, source)


def _check_spec_form(doc: dict[str, Any], source: str) -> None:
    """What the runtime spec defines, through the runtime's decoder (unknown keys are ignored
    there); archMap's architectures are checked as ``architectures`` would be."""
    import json

    from lading.spec.decode import decode
    from lading.spec.runtime_config import LinuxSeccomp

    plain = dict(doc)
    if isinstance(doc.get("syscalls"), list):
        plain["syscalls"] = [
            {**r, "names": [r["name"]]} if isinstance(r, dict) and r.get("name") is not None else r
            for r in doc["syscalls"]
        ]
    decode(json.dumps(plain).encode(), LinuxSeccomp, source)
    for i, entry in enumerate(doc.get("archMap") or ()):
        names = [entry["architecture"], *(entry.get("subArchitectures") or ())]
        try:
            decode(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": names}).encode(), LinuxSeccomp, "")
        except LadingError as e:
            raise _fail(source, f"archMap[{i}]", str(e).rpartition(": ")[2]) from None
