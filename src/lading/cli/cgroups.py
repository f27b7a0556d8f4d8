"""runc's cgroup verbs: update, pause, resume, ps, events (flags and output as runc has them)."""

from __future__ import annotations

import sys

from lading import log
from lading.cli.args import REMAINDER, Namespace, Parser
from lading.errors import LadingError
from lading.runtime.store import Store

# Not `from typing import ...`: typing costs milliseconds on every verb's start-up.
TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from lading.spec.runtime_config import LinuxResources

# flag -> (section of linux.resources, key, kind); kind "size" takes 512m/1g like runc. 0 leaves
# a setting unchanged, as in runc, but for the flags in _ZERO_IS_A_VALUE.
_UPDATE_FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("--memory", "memory", "limit", "size"),
    ("--memory-reservation", "memory", "reservation", "size"),
    ("--memory-swap", "memory", "swap", "size"),
    ("--kernel-memory", "memory", "kernel", "size"),
    ("--kernel-memory-tcp", "memory", "kernelTCP", "size"),
    ("--cpu-share", "cpu", "shares", "uint"),
    ("--cpu-quota", "cpu", "quota", "int"),
    ("--cpu-period", "cpu", "period", "uint"),
    ("--cpu-burst", "cpu", "burst", "uint"),
    ("--cpu-idle", "cpu", "idle", "int"),
    ("--cpu-rt-period", "cpu", "realtimePeriod", "uint"),
    ("--cpu-rt-runtime", "cpu", "realtimeRuntime", "int"),
    ("--cpuset-cpus", "cpu", "cpus", "str"),
    ("--cpuset-mems", "cpu", "mems", "str"),
    ("--pids-limit", "pids", "limit", "int"),
    ("--blkio-weight", "blockIO", "weight", "uint"),
)
_ZERO_IS_A_VALUE = ("--cpu-burst", "--cpu-idle")  # no burst; not SCHED_IDLE

_HELP = {
    "--memory": "memory limit (in bytes, or with a unit: 512m, 1g)",
    "--memory-reservation": "memory reservation or soft limit",
    "--memory-swap": "total memory usage (memory + swap); -1 for unlimited swap",
    "--kernel-memory": "obsolete: accepted and ignored",
    "--kernel-memory-tcp": "kernel memory limit for TCP buffers (cgroup v1)",
    "--cpu-share": "CPU shares (relative weight vs. other containers)",
    "--cpu-quota": "CPU CFS hard limit (in usecs) per period",
    "--cpu-period": "CPU CFS period (in usecs)",
    "--cpu-burst": "CPU CFS burst (in usecs): CPU time saved up beyond the quota of a period (0: none)",
    "--cpu-idle": "1: the cgroup's tasks run as SCHED_IDLE; 0: the default behaviour",
    "--cpu-rt-period": "CPU realtime period (in usecs)",
    "--cpu-rt-runtime": "CPU realtime runtime (in usecs) per period",
    "--cpuset-cpus": "CPUs to use (0-3, 0,1)",
    "--cpuset-mems": "memory nodes to use (0-3, 0,1)",
    "--pids-limit": "maximum number of pids allowed in the container (0: unchanged, -1: unlimited)",
    "--blkio-weight": "block IO weight, 10 to 1000 (0: unchanged)",
}


def add_arguments(verb: str, p: Parser) -> None:
    if verb == "update":
        p.add_argument("-r", "--resources", default="", help="a JSON file of linux.resources to apply, or - for stdin")
        for flag, _, _, _ in _UPDATE_FLAGS:
            names = [flag, "--cpu-shares"] if flag == "--cpu-share" else [flag]
            p.add_argument(*names, dest=flag[2:].replace("-", "_"), default=None, help=_HELP[flag])
        p.add_argument("--l3-cache-schema", default="", help="Intel RDT/CAT L3 cache schema (not supported)")
        p.add_argument("--mem-bw-schema", default="", help="Intel RDT/MBA memory bandwidth schema (not supported)")
    elif verb == "ps":
        p.add_argument("-f", "--format", default="table", choices=["table", "json"])
    elif verb == "events":
        p.add_argument("--interval", default="5s", help="the stats collection interval (default 5s)")
        p.add_argument("--stats", action="store_true", help="display the container's stats then exit")
    p.add_argument("container_id", metavar="ID")
    if verb == "ps":
        p.add_argument("ps_args", nargs=REMAINDER, help="options for ps (default -ef)")


def run(verb: str, args: Namespace) -> int:
    from lading.runtime import control

    store = Store(args.root)
    cid: str = args.container_id
    if verb == "update":
        res, where = _resources(args)
        control.update(store, cid, res, where)
    elif verb == "pause":
        control.pause(store, cid)
    elif verb == "resume":
        control.resume(store, cid)
    elif verb == "ps":
        pids = control.pids(store, cid)
        if args.format == "json":
            print(f"[{','.join(map(str, pids))}]")
        else:
            ps_args = args.ps_args[1:] if args.ps_args[:1] == ["--"] else args.ps_args
            sys.stdout.write(control.ps_table(pids, ps_args or ["-ef"]))
    elif verb == "events":
        interval = parse_duration(args.interval)
        if interval <= 0:
            raise LadingError("duration interval must be greater than 0")
        if args.stats:
            sys.stdout.write(control.event("stats", cid, control.stats(store, cid)))
        else:
            control.stream_events(store, cid, interval)
    return 0


# --- update's input ------------------------------------------------------------------------------


def _resources(args: Namespace) -> tuple[LinuxResources, str]:
    """The resources to apply and the name errors give their source by."""
    from lading.spec.decode import decode, read_document
    from lading.spec.runtime_config import LinuxResources

    if args.l3_cache_schema or args.mem_bw_schema:
        flag = "--l3-cache-schema" if args.l3_cache_schema else "--mem-bw-schema"
        raise LadingError(f"{flag}: Intel RDT is not supported by lading")
    if args.resources:
        given = [flag for flag, *_ in _UPDATE_FLAGS if getattr(args, flag[2:].replace("-", "_")) is not None]
        if given:
            log.warning(f"--resources is given, so {', '.join(given)} ignored")
        source = "stdin" if args.resources == "-" else args.resources
        data = sys.stdin.buffer.read() if args.resources == "-" else read_document(args.resources)
        res = decode(data, LinuxResources, source)
        if res.memory is not None and res.memory.kernel is not None:
            log.warning("kernel memory settings are ignored and will be removed")
        return res, f"{source}: $"
    doc: dict[str, dict[str, Any]] = {}
    for flag, section, key, kind in _UPDATE_FLAGS:
        raw = getattr(args, flag[2:].replace("-", "_"))
        if raw is None or raw == "":
            continue
        value = _flag_value(flag, raw, kind)
        if flag == "--kernel-memory":
            log.warning("kernel memory settings are ignored and will be removed")
            continue
        if value == 0 and kind != "str" and flag not in _ZERO_IS_A_VALUE:
            continue  # runc: 0 leaves a setting unchanged
        doc.setdefault(section, {})[key] = value
    import json

    return decode(json.dumps(doc).encode(), LinuxResources, "update flags"), "update flags: $"


def _flag_value(flag: str, raw: str, kind: str) -> int | str:
    if kind == "str":
        return raw
    if kind == "size":
        return -1 if raw == "-1" else ram_in_bytes(raw, flag)
    try:
        value = int(raw, 10)
    except ValueError:
        raise LadingError(f"invalid value for {flag}: {raw!r} is not an integer") from None
    if kind == "uint" and value < 0:
        raise LadingError(f"invalid value for {flag}: {raw!r} must not be negative")
    return value


_SIZE = r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?"  # compiled by the verbs that take a size
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(text: str, flag: str = "size") -> int:
    """A memory size as runc (docker's go-units) reads it: binary units, optional i and b,
    case-insensitive: "512m", "1g", "1.5GiB", "100kb", "4096"."""
    import re

    m = re.fullmatch(_SIZE, text)
    if m is None:
        raise LadingError(f"invalid value for {flag}: invalid size: {text!r}")
    try:
        number = float(m.group(1))
    except ValueError:
        raise LadingError(f"invalid value for {flag}: invalid size: {text!r}") from None
    value = int(number * _UNITS[(m.group(2) or "").lower()])
    if value >= 1 << 63:
        raise LadingError(f"invalid value for {flag}: {text!r} is too large")
    return value


_DURATION = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration ("5s", "100ms", "1m30s", "-1s") in seconds."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    import re

    duration = re.compile(_DURATION)
    pos, total = 0, 0.0
    while pos < len(body):
        m = duration.match(body, pos)
        if m is None:
            break
        total += float(m.group(1)) * _SECONDS[m.group(2)]
        pos = m.end()
    if not body or pos != len(body):
        raise LadingError(f"invalid value {text!r} for --interval: expected a duration like 5s or 100ms")
    return -total if text.startswith("-") else total
