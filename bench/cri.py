"""Kubernetes' path to the runtime: pod start and ExecSync through containerd's CRI, lading vs runc.

One private containerd with its CRI plugin (tests/cri/daemon.py: own socket, state, network
namespace, CNI bridge, local pause image) serves both runtime handlers, so the two runtimes meet
the same daemon, shim, image and network. Each round, for each handler (lading then runc in even
rounds, the reverse in odd ones):

  pod start   RunPodSandbox + CreateContainer + StartContainer of one busybox container, until
              ContainerStatus says it runs (what the kubelet waits for)
  exec        ExecSync of `true` in that container (median of 3 per round)

then the pod is stopped and removed (not timed). It prints each handler's median in ms and the
median of the per-round ratios lading/runc with their 10%-90% spread, and the load average before
and after. lading runs through the launcher that install.sh puts at /usr/local/bin/lading; runc is
Debian's.

usage: python bench/cri.py [-n ROUNDS]    (as root; needs the reference cri-api/api.proto, see
                                           tests/cri/api.py)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.runtime import load, percentile  # noqa: E402
from tests.clients.runtimes import RUNC  # noqa: E402
from tests.cri.api import PROTO, compile_api  # noqa: E402
from tests.cri.client import Cri  # noqa: E402
from tests.cri.daemon import CriDaemon  # noqa: E402

from lading.cli.launcher import write_launcher  # noqa: E402

HANDLERS = ["lading", "runc"]
METRICS = ["pod start", "exec"]
EXECS_PER_ROUND = 3


def one_round(cri: Cri, handler: str) -> dict[str, float]:
    """The round's figures for handler, in ms; the pod is gone afterwards."""
    begin = time.perf_counter()
    pod = cri.run_pod(handler)
    cid = cri.run(pod, ["sleep", "1000"])
    if cri.status(cid).state != cri.pb.CONTAINER_RUNNING:
        raise RuntimeError(f"{handler}: the container does not run: {cri.status(cid)}")
    started = time.perf_counter()
    execs = []
    for _ in range(EXECS_PER_ROUND):
        t = time.perf_counter()
        if cri.exec(cid, ["true"]).exit_code != 0:
            raise RuntimeError(f"{handler}: exec true failed")
        execs.append(time.perf_counter() - t)
    cri.remove_pod(pod)
    return {"pod start": (started - begin) * 1000, "exec": statistics.median(execs) * 1000}


def measure(cri: Cri, rounds: int) -> dict[str, dict[str, list[float]]]:
    """times[metric][handler] = one figure per round."""
    times: dict[str, dict[str, list[float]]] = {m: {h: [] for h in HANDLERS} for m in METRICS}
    one_round(cri, "lading")  # warm the daemon's caches (image, snapshots, CNI) before timing
    one_round(cri, "runc")
    for i in range(rounds):
        for handler in HANDLERS if i % 2 == 0 else HANDLERS[::-1]:
            for metric, ms in one_round(cri, handler).items():
                times[metric][handler].append(ms)
    return times


def report(times: dict[str, dict[str, list[float]]], rounds: int) -> None:
    print(f"{rounds} rounds; medians in ms; ratio = median of per-round lading/runc [10%-90% of rounds]")
    print(f"{'':12}{'lading':>9}{'runc':>9}{'lading/runc':>24}")
    for metric in METRICS:
        lading, runc = times[metric]["lading"], times[metric]["runc"]
        ratios = [a / b for a, b in zip(lading, runc, strict=True)]
        spread = f"[{percentile(ratios, 0.1):.2f}-{percentile(ratios, 0.9):.2f}]"
        print(
            f"{metric:12}{statistics.median(lading):9.1f}{statistics.median(runc):9.1f}"
            f"{statistics.median(ratios):>12.2f} {spread:>11}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    opts = ap.parse_args()
    if not PROTO.exists():
        raise SystemExit(f"bench/cri.py: no CRI api.proto at {PROTO}: set LADING_CRI_API_PROTO")
    with tempfile.TemporaryDirectory(prefix="lading-bench-cri-") as tmp:
        work = Path(tmp)
        write_launcher(str(work / "lading"))
        (work / "api").mkdir()
        api = compile_api(work / "api")
        daemon = CriDaemon(work / "cri", binaries={"lading": work / "lading", "runc": Path(RUNC)})
        cri = Cri(daemon.address, api, daemon.cgroup_parent, work / "logs")
        print(f"before: {load()}")
        try:
            times = measure(cri, opts.n)
        finally:
            for pod in list(cri.pods):
                cri.remove_pod(pod)
            cri.close()
            left = daemon.close()
            if left:
                print(f"left behind: {left}", file=sys.stderr)
        print(f"after:  {load()}")
    report(times, opts.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
