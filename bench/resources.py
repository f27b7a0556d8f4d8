"""Resource-limited containers, lading against runc: how long `run` takes, and how little memory it needs.

1. Time `run` of /bin/true under a memory, pids and CPU limit, alternating lading and runc in one
   process so both see the same machine; print the medians and their ratio.
2. Binary-search the smallest memory.limit_in_bytes under which `run true` still succeeds, for each
   runtime: every page the runtime's own set-up touches after joining the container's cgroup
   (lading's forked Python init, runc's Go `runc init`) is charged to that limit.

Run as root from the repository: ``python bench/resources.py [--runs N]``. Everything it makes (a
temp bundle, private state roots, cgroups under /lading-bench-<random>) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CGROUP_ROOT = Path("/sys/fs/cgroup")
PAGE = os.sysconf("SC_PAGE_SIZE")


def lading_argv(root: Path) -> list[str]:
    return [sys.executable, "-m", "lading", "--root", str(root)]


def runc_argv(root: Path) -> list[str]:
    return ["runc", "--root", str(root)]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src")
    return env


def make_bundle(path: Path) -> dict[str, Any]:
    """A busybox rootfs and `runc spec`'s config running /bin/true; returns the config."""
    rootfs = path / "rootfs"
    for d in ("bin", "proc", "sys", "dev", "tmp"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    for applet in ("sh", "true"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    subprocess.run(["runc", "spec"], cwd=path, check=True)
    config: dict[str, Any] = json.loads((path / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    return config


def write_config(bundle: Path, config: dict[str, Any], cgroups_path: str, memory: int) -> None:
    config["linux"]["cgroupsPath"] = cgroups_path
    res = config["linux"].setdefault("resources", {})
    res["memory"] = {"limit": memory}
    if (CGROUP_ROOT / "memory" / "memory.memsw.limit_in_bytes").exists():
        res["memory"]["swap"] = memory  # no swapping out of the limit on hosts with swap
    res["pids"] = {"limit": 64}
    res["cpu"] = {"shares": 512, "quota": 50000, "period": 100000}
    (bundle / "config.json").write_text(json.dumps(config))


class Runtime:
    def __init__(self, name: str, argv: list[str], parent: str) -> None:
        self.name, self.argv, self.parent = name, argv, parent
        self.count = 0

    def run(self, bundle: Path, config: dict[str, Any], memory: int) -> tuple[bool, float]:
        """One `run` of the bundle under ``memory``; (succeeded, seconds)."""
        self.count += 1
        cid = f"{self.name}-{self.count}"
        write_config(bundle, config, f"{self.parent}/{cid}", memory)
        started = time.perf_counter()
        try:
            p = subprocess.run(
                [*self.argv, "run", "--bundle", str(bundle), cid],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=environment(),
                timeout=60,
                check=False,
            )
            ok = p.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
        elapsed = time.perf_counter() - started
        subprocess.run(
            [*self.argv, "delete", "--force", cid],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment(),
            check=False,
        )
        return ok, elapsed


def smallest_memory(rt: Runtime, bundle: Path, config: dict[str, Any], high: int = 256 << 20) -> int | None:
    """The smallest limit (to a page) under which `run true` succeeds, or None if even ``high`` fails."""
    if not rt.run(bundle, config, high)[0]:
        return None
    low = 0  # fails (a zero limit cannot hold a single page)
    while high - low > PAGE:
        mid = (low + high) // 2 // PAGE * PAGE
        if mid <= low:
            break
        if rt.run(bundle, config, mid)[0]:
            high = mid
        else:
            low = mid
    return high


def remove_parent(parent: str) -> None:
    for hierarchy in CGROUP_ROOT.iterdir():
        d = hierarchy / parent.lstrip("/")
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir(), reverse=True):
            if sub.is_dir():
                sub.rmdir()
        d.rmdir()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--runs", type=int, default=20, help="timed runs per runtime (default 20)")
    ap.add_argument("--memory", default=str(128 << 20), help="memory limit for the timed runs, in bytes")
    args = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("runc") is None:
        print("needs root and runc", file=sys.stderr)
        return 1
    parent = f"/lading-bench-{secrets.token_hex(4)}"
    work = Path(tempfile.mkdtemp(prefix="lading-bench-"))
    try:
        bundle = work / "bundle"
        bundle.mkdir()
        config = make_bundle(bundle)
        runtimes = [
            Runtime("lading", lading_argv(work / "lading-root"), parent),
            Runtime("runc", runc_argv(work / "runc-root"), parent),
        ]
        times: dict[str, list[float]] = {rt.name: [] for rt in runtimes}
        for rt in runtimes:  # warm caches once, untimed
            rt.run(bundle, config, int(args.memory))
        for _ in range(args.runs):
            for rt in runtimes:
                ok, elapsed = rt.run(bundle, config, int(args.memory))
                if not ok:
                    print(f"{rt.name}: run failed", file=sys.stderr)
                    return 1
                times[rt.name].append(elapsed)
        med = {name: statistics.median(ts) for name, ts in times.items()}
        mib = int(args.memory) >> 20
        print(f"`run /bin/true` with memory {mib} MiB, pids 64, cpu 0.5 ({args.runs} runs each)")
        for name, ts in times.items():
            ms = [x * 1000 for x in (med[name], min(ts), max(ts))]
            print(f"  {name:<7} median {ms[0]:7.1f} ms   min {ms[1]:7.1f} ms   max {ms[2]:7.1f} ms")
        print(f"  lading/runc ratio of medians: {med['lading'] / med['runc']:.2f}")
        print("smallest memory.limit_in_bytes under which `run /bin/true` succeeds")
        for rt in runtimes:
            found = smallest_memory(rt, bundle, config)
            text = "more than 256 MiB" if found is None else f"{found} bytes ({found / 1024:.0f} KiB)"
            print(f"  {rt.name:<7} {text}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        remove_parent(parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
