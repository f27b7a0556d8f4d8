"""Memory of idle container monitors: lading's monitor against podman's conmon, side by side.

  python bench/monitor.py [-n N] [--rounds R]

Each round starts one idle container of each kind (``sleep``, runc as the OCI runtime for all):
podman's, lading's with a monitor exec'd for each, and lading's with a spawn socket (the first
monitor exec'd, the others forked from a live one, see lading.engine.monitor_spawn). With
``--runtime lading`` lading's monitors run lading's own runtime as the engine does by default (its
``create`` in a child the monitor forks, lading.engine.own_runtime), podman still runc; the
monitors are measured idle, after their container was created and started, so a runtime left
loaded in a monitor would show. It
reads the monitor's memory from /proc/PID/smaps_rollup, then starts N-1 more of each and reads
the N monitors' totals; everything is removed before the next round. Printed: the median over
the rounds, in KiB, with the ratio lading/conmon, for

- RSS: resident pages, the shared ones counted in full in every process;
- PSS: proportional set size, each shared page divided among the processes mapping it (what N
  monitors really cost together);
- anonymous: the process's own heap and dirtied data, which sharing cannot reduce.

A second table splits each monitor's private dirty memory (the pages no other process shares,
what one more monitor really adds) by mapping, from /proc/PID/smaps: the interpreter's data
(libpython's, or the python executable's where libpython is linked into it, as in Debian's),
the malloc heap, anonymous mappings (CPython's object arenas and frame stacks), the stack, and
the data of the other libraries; for the forked monitors, the median of the N-1 forked ones.

A bare ``python -I -S`` (sleeping in ``time.sleep``) is measured alongside: the interpreter's
floor, under which no monitor written in Python can go. PSS depends on what else maps the same
files: other Python processes on the machine share libpython's pages with the monitors.

podman runs on private storage with conmon from Debian (tests/clients/podman.py); lading's
monitors are started with ``lading.engine.monitor.launch`` on a busybox bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.clients.image import IMAGE_NAME, build_oci_archive  # noqa: E402
from tests.clients.podman import Podman  # noqa: E402
from tests.clients.runtimes import RUNC, make_runtime  # noqa: E402
from tests.support import default_config, make_busybox_rootfs  # noqa: E402

from lading.engine import own_runtime  # noqa: E402
from lading.engine.monitor import MonitorConfig, launch, wait_exit  # noqa: E402

FIELDS = {"Rss": "RSS", "Pss": "PSS", "Pss_Anon": "anonymous"}
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}  # for `python -m lading`
INTERPRETER = os.path.realpath(sys.executable)  # the monitors' python, whose data may hold libpython's
MAPPINGS = ("interpreter data", "malloc heap", "anonymous", "stack", "other libraries", "total")


def memory(pid: int) -> dict[str, int]:
    """RSS, PSS and anonymous PSS of pid, in KiB."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in FIELDS:
                out[FIELDS[key]] = int(value.split()[0])
    return out


def private_by_mapping(pid: int) -> dict[str, int]:
    """Private_Dirty of pid, in KiB, summed per kind of mapping (see MAPPINGS)."""
    out = dict.fromkeys(MAPPINGS, 0)
    kind = "anonymous"
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if not fields[0].endswith(":"):  # a mapping's header: range perms offset dev inode [path]
                path = fields[5] if len(fields) > 5 else ""
                if "libpython" in path or path == INTERPRETER:
                    kind = "interpreter data"
                elif path == "[heap]":
                    kind = "malloc heap"
                elif path == "[stack]":
                    kind = "stack"
                elif path.startswith("/"):
                    kind = "other libraries"
                else:
                    kind = "anonymous"
            elif fields[0] == "Private_Dirty:":
                out[kind] += int(fields[1])
                out["total"] += int(fields[1])
    return out


def total(pids: list[int]) -> dict[str, int]:
    sums = dict.fromkeys(FIELDS.values(), 0)
    for pid in pids:
        for key, value in memory(pid).items():
            sums[key] += value
    return sums


class Conmons:
    def __init__(self, tmp: Path, archive: Path) -> None:
        self.podman = Podman(tmp / "podman", make_runtime("runc", tmp / "podman-runtime"))
        self.podman.load(archive)
        self.pids: list[int] = []

    def start(self) -> None:
        cid = self.podman.run("-d", IMAGE_NAME, "sleep", "100000").stdout.strip()
        self.pids.append(int(self.podman("inspect", "--format", "{{.State.ConmonPid}}", cid).stdout))

    def stop_all(self) -> None:
        self.podman.remove_containers()
        self.pids.clear()

    def close(self) -> None:
        left = self.podman.close()
        if left:
            print(f"left behind by podman: {left}", file=sys.stderr)


class Monitors:
    """lading's monitors; with fork=True through a spawn socket (each forked from a live one)."""

    def __init__(self, tmp: Path, fork: bool, runtime: str) -> None:
        self.tmp = tmp
        self.kind = "fork" if fork else "exec"
        self.spawn_socket = tmp / "monitors.sock" if fork else None
        self.bundle = tmp / "bundle"
        make_busybox_rootfs(self.bundle / "rootfs")
        (self.bundle / "config.json").write_text(json.dumps(default_config(["sleep", "100000"])))
        self.root = tmp / "runtime-state"
        # what the monitor runs, and what the benchmark runs (start, kill, delete) beside it
        if runtime == "lading":
            self.monitor_runtime = own_runtime.argv(str(self.root))
            self.runtime = [sys.executable, "-m", "lading", "--root", str(self.root)]
        else:
            self.monitor_runtime = self.runtime = [RUNC, "--root", str(self.root)]
        self.running: list[tuple[str, Path]] = []
        self.pids: list[int] = []
        self.started = 0

    def start(self) -> None:
        self.started += 1
        cid = f"bench-{self.kind}-{self.started}-{os.getpid()}"
        exec_dir = self.tmp / "exec" / cid
        exec_dir.mkdir(parents=True)
        log = self.tmp / f"{cid}-json.log"
        cfg = MonitorConfig(cid, self.monitor_runtime, self.bundle, exec_dir, log, spawn_socket=self.spawn_socket)
        self.pids.append(launch(cfg).monitor_pid)
        subprocess.run([*self.runtime, "start", cid], check=True, env=ENV)
        self.running.append((cid, exec_dir))

    def stop_all(self) -> None:
        for cid, exec_dir in self.running:
            subprocess.run([*self.runtime, "kill", cid, "KILL"], check=False, env=ENV)
            wait_exit(exec_dir, timeout=30)
            subprocess.run([*self.runtime, "delete", "--force", cid], check=False, env=ENV)
        self.running.clear()
        self.pids.clear()

    def close(self) -> None:
        self.stop_all()


class BarePython:
    """The interpreter's floor: `python -I -S` doing nothing."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self) -> None:
        code = "import time; time.sleep(100000)"
        self.procs.append(subprocess.Popen([sys.executable, "-I", "-S", "-c", code]))

    def stop_all(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs.clear()

    def close(self) -> None:
        self.stop_all()


def settle() -> None:
    """Let the freshly started processes finish their start-up before they are measured."""
    time.sleep(1)


def rounds(
    n: int, count: int, kinds: dict[str, Conmons | Monitors | BarePython]
) -> tuple[dict[str, dict[str, list[int]]], dict[str, dict[str, list[float]]]]:
    results: dict[str, dict[str, list[int]]] = {name: {} for name in kinds}
    private: dict[str, dict[str, list[float]]] = {name: {} for name in kinds}
    for _ in range(count):
        for kind in kinds.values():
            kind.start()
        settle()
        for name, kind in kinds.items():
            for key, value in memory(kind.pids[0]).items():
                results[name].setdefault(f"one: {key}", []).append(value)
        for _ in range(n - 1):
            for kind in kinds.values():
                kind.start()
        settle()
        for name, kind in kinds.items():
            for key, value in total(kind.pids).items():
                results[name].setdefault(f"{n} together: {key}", []).append(value)
            # a forked monitor's own pages: the median of those forked (all but the first)
            measured = kind.pids[1:] if name == "forked" and n > 1 else kind.pids[:1]
            per_pid = [private_by_mapping(pid) for pid in measured]
            for key in MAPPINGS:
                private[name].setdefault(key, []).append(statistics.median(p[key] for p in per_pid))
        for kind in kinds.values():
            kind.stop_all()
    return results, private


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10, help="idle monitors measured together (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds to take the median of (default 3)")
    ap.add_argument("--runtime", choices=("runc", "lading"), default="runc", help="the runtime of lading's monitors")
    opts = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lading-bench-monitor-") as name:
        tmp = Path(name)
        archive = build_oci_archive(tmp / "busybox.tar", tmp / "image")
        kinds: dict[str, Conmons | Monitors | BarePython] = {}
        closers: list[Callable[[], None]] = []
        try:
            for label, make in (
                ("conmon", lambda: Conmons(tmp, archive)),
                ("lading", lambda: Monitors(tmp / "exec", fork=False, runtime=opts.runtime)),
                ("forked", lambda: Monitors(tmp / "fork", fork=True, runtime=opts.runtime)),
                ("python -IS", BarePython),
            ):
                kinds[label] = make()
                closers.append(kinds[label].close)
            results, private = rounds(opts.n, opts.rounds, kinds)
        finally:
            for close in reversed(closers):
                close()
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    where = f"{os.uname().machine}, {sys.version.split()[0]}, lading's monitors run {opts.runtime}, {load}"
    print(f"idle monitor memory, KiB: median of {opts.rounds} rounds ({where})")
    print(f"{'':24}{'conmon':>8}{'lading':>8}{'/conmon':>9}{'forked':>8}{'/conmon':>9}{'python -IS':>12}")
    for row in results["conmon"]:
        c, m, f, p = (statistics.median(results[k][row]) for k in ("conmon", "lading", "forked", "python -IS"))
        print(f"{row:24}{c:8.0f}{m:8.0f}{m / c:9.2f}{f:8.0f}{f / c:9.2f}{p:12.0f}")
    print(f"private dirty, KiB, of one ({opts.n} together; forked: the median of the {opts.n - 1} forked ones)")
    print(f"{'':24}{'conmon':>8}{'lading':>8}{'forked':>8}{'python -IS':>12}")
    for row in MAPPINGS:
        c, m, f, p = (statistics.median(private[k][row]) for k in ("conmon", "lading", "forked", "python -IS"))
        print(f"{row:24}{c:8.0f}{m:8.0f}{f:8.0f}{p:12.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
