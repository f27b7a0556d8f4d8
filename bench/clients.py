"""Real clients over lading vs Debian's runc: timing, and a trace of the runtime calls they make.

  python bench/clients.py [-n N]   median wall time of `podman run --rm IMAGE true` and
                                   `ctr run --rm IMAGE ID true`, per runtime
  python bench/clients.py --trace  run a podman and a containerd scenario over a logging runc
                                   wrapper and print every distinct runtime call (paths and ids
                                   replaced by placeholders): the list in docs/clients.md

Everything runs on private storage: podman with its own --root/--runroot and containers.conf,
containerd as its own daemon on a socket in a temp dir (see tests/clients/).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.timing import median_ms  # noqa: E402
from tests.clients.containerd import CTR, Containerd  # noqa: E402
from tests.clients.image import IMAGE_NAME, build_oci_archive  # noqa: E402
from tests.clients.podman import Podman  # noqa: E402
from tests.clients.runtimes import Runtime, make_runtime  # noqa: E402


def _time_clients(n: int, podman: Podman, containerd: Containerd, runtime: Runtime) -> dict[str, float]:
    def podman_run(_: int) -> None:
        podman.run("--rm", IMAGE_NAME, "true")

    def ctr_run(i: int) -> None:
        containerd.run(runtime, IMAGE_NAME, f"b{i}", "true", flags=("--rm",))

    return {"podman run --rm true": median_ms(n, podman_run), "ctr run --rm true": median_ms(n, ctr_run)}


def bench(n: int, runtimes: list[str], tmp: Path, archive: Path) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    containerd = Containerd(tmp / "containerd")
    try:
        containerd.import_image(archive)
        for name in runtimes:
            runtime = make_runtime(name, tmp / f"runtime-{name}")
            podman = Podman(tmp / f"podman-{name}", make_runtime(name, tmp / f"podman-runtime-{name}"))
            try:
                podman.load(archive)
                table[name] = _time_clients(n, podman, containerd, runtime)
            finally:
                podman.close()
    finally:
        containerd.close()
    return table


def _normalize(call: list[str], ids: set[str]) -> str:
    out = []
    skip_value = False
    for arg in call:
        if skip_value:
            skip_value = False
            continue
        if arg in ("--root", "--log"):  # where the client keeps things; same on every call
            skip_value = True
            continue
        if arg.startswith("--log="):
            continue
        if arg in ids:
            out.append("ID")
        elif arg.startswith("/"):
            out.append("PATH")
        else:
            out.append(arg)
    return " ".join(out)


def _ids(calls: list[list[str]]) -> set[str]:
    """Container ids: the last argument of every create (podman's are 64 hex digits)."""
    hex_ids = {a for c in calls for a in c if re.fullmatch(r"[0-9a-f]{64}", a)}
    return {c[-1] for c in calls if "create" in c} | hex_ids


def trace(tmp: Path, archive: Path) -> None:
    podman_rt = make_runtime("runc", tmp / "podman-runtime")
    podman = Podman(tmp / "podman", podman_rt)
    try:
        podman.load(archive)
        loop = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
        podman.run("--rm", IMAGE_NAME, "true")
        podman.run("--rm", "-t", IMAGE_NAME, "true")
        podman.run("-d", "--name", "c", IMAGE_NAME, "sh", "-c", loop)
        podman("exec", "c", "true")
        podman("exec", "-t", "c", "true")
        podman("pause", "c")
        podman("unpause", "c")
        podman("kill", "--signal", "USR1", "c")
        podman("stop", "c")
        podman("start", "c")
        podman("kill", "c")
        podman("rm", "--force", "c")
        podman.run("-d", "--name", "s", "--pid", "host", IMAGE_NAME, "sleep", "100")
        podman("rm", "--force", "--time", "0", "s")
        podman("info")
        _print("podman", podman_rt)
    finally:
        podman.close()
    ctr_rt = make_runtime("runc", tmp / "ctr-runtime")
    containerd = Containerd(tmp / "containerd")
    try:
        containerd.import_image(archive)
        containerd.run(ctr_rt, IMAGE_NAME, "t1", "true", flags=("--rm",))
        containerd.run(ctr_rt, IMAGE_NAME, "t2", "sleep", "100", flags=("--detach",))
        containerd.ctr("tasks", "exec", "--exec-id", "e1", "t2", "true")
        _ctr_on_a_pty(containerd, "tasks", "exec", "--tty", "--exec-id", "e2", "t2", "true")
        containerd.ctr("tasks", "ps", "t2")
        containerd.ctr("tasks", "pause", "t2")
        containerd.ctr("tasks", "resume", "t2")
        containerd.ctr("tasks", "kill", "--signal", "SIGUSR1", "t2")
        containerd.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", "t2")
        while "RUNNING" in containerd.ctr("tasks", "list").stdout:
            time.sleep(0.05)
        containerd.ctr("tasks", "delete", "t2")
        containerd.ctr("containers", "delete", "t2")
        run_t3 = containerd.run_argv(ctr_rt, IMAGE_NAME, "t3", "true", flags=("--rm", "--tty"))
        _ctr_on_a_pty(containerd, *run_t3)
        _print("containerd (runc v2 shim)", ctr_rt)
    finally:
        containerd.close()


def _ctr_on_a_pty(containerd: Containerd, *args: str) -> None:
    master, peer = os.openpty()
    try:
        argv = [CTR, "--address", containerd.address, *args]
        subprocess.run(argv, stdin=peer, stdout=peer, stderr=peer, timeout=60)
    finally:
        os.close(peer)
        os.close(master)


def _print(client: str, runtime: Runtime) -> None:
    calls = runtime.logged_calls()
    ids = _ids(calls)
    print(f"# {client}")
    seen: list[str] = []
    for call in calls:
        line = _normalize(call, ids)
        if line not in seen:
            seen.append(line)
            print("  " + line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10, help="runs per measurement (default 10)")
    ap.add_argument("--runtimes", default="lading,runc", help="comma-separated (default lading,runc)")
    ap.add_argument("--trace", action="store_true", help="print the runtime calls podman and containerd make")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lading-bench-clients-") as name:
        tmp = Path(name)
        archive = build_oci_archive(tmp / "busybox.tar", tmp / "image")
        if opts.trace:
            trace(tmp, archive)
            return 0
        table = bench(opts.n, opts.runtimes.split(","), tmp, archive)
    rows = list(next(iter(table.values())))
    print(f"median wall time of {opts.n} runs, ms")
    ratio = "lading" in table and "runc" in table
    print(f"{'':24}" + "".join(f"{r:>10}" for r in table) + (f"{'lading/runc':>13}" if ratio else ""))
    for row in rows:
        line = f"{row:24}" + "".join(f"{table[r][row]:10.1f}" for r in table)
        if ratio:
            line += f"{table['lading'][row] / table['runc'][row]:13.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
