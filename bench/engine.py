"""The engine beside podman and docker: `lading container run --rm IMAGE true`, `podman run --rm
IMAGE true` and `docker run --rm --network none IMAGE true`.

  python bench/engine.py [-n N] [--concurrent C] [--concurrent-rounds R] [--unconfined]

All on private storage with the same image (a busybox OCI archive built here, imported into
lading's store, loaded into podman's and, converted to docker's format, into docker's), podman with
Debian's runc and conmon, docker (when Debian's docker.io is installed) as a dockerd the benchmark
starts with its own containerd, sockets and directories (tests/clients/docker.py). Rounds are
interleaved (lading, lading with runc as its runtime, podman, docker; reversed in odd rounds);
printed are each command's median wall time and the median of the per-round ratios to podman with
their 10%-90% spread, and the load average before and after. Then C containers (`run -d IMAGE
sleep 600`) are started at once by each engine, in R rounds in alternating order: the median wall
time until every command returned with the median of the per-round ratios to podman, the largest
peak RSS of one of those commands, and the memory (PSS) of the C monitors (lading's), conmons
(podman's) or containerd shims (docker's) left running (none with C = 0). With --unconfined,
lading and podman also run with `--security-opt seccomp=unconfined`: the cost of their default
seccomp profiles (both apply one) is the difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.clients import docker as docker_client  # noqa: E402
from tests.clients.image import IMAGE_NAME, build_oci_archive  # noqa: E402
from tests.clients.podman import Podman  # noqa: E402
from tests.clients.runtimes import make_runtime  # noqa: E402

from lading.cli.launcher import write_launcher  # noqa: E402

PODMAN = "podman run --rm IMAGE true"


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Wall seconds of one command, which must succeed."""
    start = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.decode()}")
    return elapsed


def _peak_rss_kib(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, measured by GNU time: the rusage of a child
    of this process would count this process's own RSS (the child shares its memory until exec)."""
    start = time.perf_counter()
    p = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    elapsed = time.perf_counter() - start
    err = p.stderr.decode()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {p.returncode}: {err}")
    return elapsed, int(err.split()[-1])


def _pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _children_named(name: str) -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                out.append(int(pid))
        except OSError:
            pass
    return out


def _spread(values: list[float]) -> str:
    if len(values) < 3:
        return ""
    q = statistics.quantiles(values, n=10)
    return f"[{q[0]:.2f}-{q[-1]:.2f}]"


class Engine(NamedTuple):
    run_d: list[str]  # `run -d` up to the name and the image
    env: dict[str, str]
    monitors: Callable[[], list[int]]  # the pids of the per-container processes left running
    remove: Callable[[list[str]], object]


def _start_at_once(engine: Engine, n: int) -> tuple[float, int, int]:
    """Start n containers at once: wall seconds until every command returned, the largest peak
    RSS of one command (KiB), the PSS of the monitors left (KiB); then remove them."""
    names = [f"b{i}" for i in range(n)]
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        results = list(
            pool.map(
                lambda name: _peak_rss_kib([*engine.run_d, "--name", name, IMAGE_NAME, "sleep", "600"], engine.env),
                names,
            )
        )
    wall = time.perf_counter() - start
    pss = _pss_kib(engine.monitors())
    engine.remove(names)
    return wall, max(r[1] for r in results), pss


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=10, help="rounds of run --rm true (default 10)")
    ap.add_argument("--concurrent", type=int, default=50, help="containers started at once (default 50)")
    ap.add_argument("--concurrent-rounds", type=int, default=3, help="rounds of the concurrent starts (default 3)")
    ap.add_argument("--unconfined", action="store_true", help="also run lading and podman with seccomp=unconfined")
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lading-bench-engine-"))
    archive = build_oci_archive(tmp / "busybox.tar", tmp / "image")
    launcher = tmp / "lading"
    write_launcher(str(launcher))
    engine = [str(launcher), "container", "--storage-root", str(tmp / "storage"), "--run-root", str(tmp / "run")]
    subprocess.run(
        [str(launcher), "image", "import", "--storage-root", str(tmp / "storage"), str(archive), IMAGE_NAME],
        check=True,
        capture_output=True,
    )
    podman = Podman(tmp / "podman", make_runtime("runc", tmp / "podman-runtime"))
    docker = None
    try:
        podman.load(archive)
        podman_run = podman.argv("run", "--cgroup-parent", podman.cgroup_parent)
        commands = {
            "lading container run --rm IMAGE true": ([*engine, "run", "--rm", IMAGE_NAME, "true"], podman.env),
            "lading container run --rm --runtime runc IMAGE true": (
                [*engine, "run", "--rm", "--runtime", "runc", IMAGE_NAME, "true"],
                podman.env,
            ),
            PODMAN: ([*podman_run, "--rm", IMAGE_NAME, "true"], podman.env),
        }
        if opts.unconfined:
            unconfined = ["--security-opt", "seccomp=unconfined"]
            commands["lading container run --rm (seccomp=unconfined)"] = (
                [*engine, "run", "--rm", *unconfined, IMAGE_NAME, "true"],
                podman.env,
            )
            commands["podman run --rm (seccomp=unconfined)"] = (
                [*podman_run, "--rm", *unconfined, IMAGE_NAME, "true"],
                podman.env,
            )
        if docker_client.available():
            docker = docker_client.Docker(tmp / "docker")
            docker.load(archive, IMAGE_NAME)
            docker_run = docker.argv("run", "--network", "none")
            commands["docker run --rm --network none IMAGE true"] = (
                [*docker_run, "--rm", IMAGE_NAME, "true"],
                docker.env,
            )
        else:
            print("docker: not measured (Debian's docker.io is not installed)")
        for argv, env in commands.values():  # warm caches (the first run unpacks the image's layers)
            _timed(argv, env)
        times: dict[str, list[float]] = {k: [] for k in commands}
        ratios: dict[str, list[float]] = {k: [] for k in commands}
        load_before = _load()
        for i in range(opts.n):
            order = list(commands) if i % 2 == 0 else list(reversed(commands))
            got = {k: _timed(*commands[k]) for k in order}
            for k in commands:
                times[k].append(got[k])
                ratios[k].append(got[k] / got[PODMAN])
        print(f"run --rm IMAGE true, {opts.n} interleaved rounds (load average {load_before} before, {_load()} after):")
        print(f"  {'':52} {'median ms':>10} {'/podman':>8} spread")
        for k in commands:
            median_ms = statistics.median(times[k]) * 1000
            print(f"  {k:52} {median_ms:10.0f} {statistics.median(ratios[k]):8.2f} {_spread(ratios[k])}")

        engines: dict[str, Engine] = {
            "lading": Engine(
                [*engine, "run", "-d"],
                podman.env,
                lambda: [
                    int(p.read_text().split()[0]) for p in (tmp / "run" / "containers").glob("*/exec/monitor.pid")
                ],
                lambda names: subprocess.run([*engine, "rm", "-f", *names], check=True, capture_output=True),
            ),
            "podman": Engine(
                [*podman_run, "-d"],
                podman.env,
                lambda: [
                    p
                    for p in _children_named("conmon")
                    if str(podman.run_dir) in Path(f"/proc/{p}/cmdline").read_text()
                ],
                lambda names: podman("rm", "-f", "-t", "0", *names),
            ),
        }
        if docker is not None:
            d = docker
            engines["docker"] = Engine(
                d.argv("run", "--network", "none", "-d"),
                d.env,
                d.containerd.shims,
                lambda names: d("rm", "--force", *names),
            )
        rounds = opts.concurrent_rounds if opts.concurrent else 0
        if not rounds:
            return 0
        print(f"\n{opts.concurrent} containers started at once (run -d IMAGE sleep 600), {rounds} interleaved rounds:")
        started: dict[str, list[tuple[float, int, int]]] = {k: [] for k in engines}
        loads = []
        for i in range(rounds):
            for label in list(engines) if i % 2 == 0 else list(reversed(engines)):
                loads.append(os.getloadavg()[0])
                started[label].append(_start_at_once(engines[label], opts.concurrent))
        head = f"  {'':8} {'median wall s':>13} {'/podman':>8} {'spread':>11}"
        print(f"{head} {'max RSS of one command KiB':>27} {'monitors PSS KiB':>17}")
        for label, results in started.items():
            walls = [r[0] for r in results]
            per_round = [w / p[0] for w, p in zip(walls, started["podman"], strict=True)]
            rss = statistics.median(r[1] for r in results)
            pss = statistics.median(r[2] for r in results)
            print(
                f"  {label:8} {statistics.median(walls):13.2f} {statistics.median(per_round):8.2f}"
                f" {_spread(per_round) or '-':>11} {rss:27.0f} {pss:17.0f}"
            )
        print(f"  load average (1 min) before each start: {min(loads):.1f} to {max(loads):.1f}")
    finally:
        ids = [p.name for p in (tmp / "storage" / "containers").glob("?" * 64)]
        if ids:
            subprocess.run([*engine, "rm", "-f", *ids], capture_output=True)
        left = podman.close() + (docker.close() if docker is not None else [])
        if left:
            print(f"left behind: {left}", file=sys.stderr)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
