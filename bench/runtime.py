"""Wall time of every runtime verb: lading against Debian's runc (and crun, when installed), interleaved.

Each round times every verb once per runtime, the runtimes one after the other for each verb
(lading, runc, crun in even rounds; the reverse in odd rounds), so a change in the machine's load
hits all of them alike. Per verb it prints each runtime's median in ms and, per other runtime,
the median of the per-round ratios lading/other with their 10%-90% spread. The load average is
printed before and after: on a busy machine the ratios are the figure to read.

  run            `run ID` of /bin/true in the foreground, until it exits
  create, start, delete   the three verbs podman and containerd call for a short container
                 (delete --force, as podman does), and their sum
  state          `state ID` of the created container
  list           `list` (two or three containers in the root)
  kill           `kill ID WINCH` to a running container (the init ignores it)
  exec true      `exec ID true` in a running container

lading runs through the launcher that `python -m lading.cli.launcher` writes (what install.sh puts
at /usr/local/bin/lading). crun refuses a hybrid cgroup layout (v1 controllers plus cgroup2 at
/sys/fs/cgroup/unified); there it runs in a fresh mount namespace with that mount removed, which
adds the cost of unshare and sh to its figures.

usage: python bench/runtime.py [-n ROUNDS] [--runtimes lading,runc,crun[,NAME=COMMAND]] [--gap SECONDS]

Before the verbs it prints the floor on this machine: the interpreter lading's launcher runs,
started and ended at once (`python -IS -c "import posix; posix._exit(0)"`), against runc's
`list` of an empty root, interleaved. No Python verb can be faster than the first, so their ratio
bounds what the lifecycle verbs can reach here (it differs from machine to machine: on one where
page faults are dear, an interpreter's start costs more against a Go binary's).

NAME=COMMAND times another runtime command beside them (an earlier lading's launcher, say), its
ratio lading/NAME printed like the others.

Back to back, one runtime's command can make the next one's faster: a process moved into a cgroup
by its pid (runc, crun) makes the kernel wait for an RCU grace period, unless another such move
happened just before, which a command right after another runtime's often finds. ``--gap 0.05``
sleeps that long before each command, so that each pays its own wait, as a command alone does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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

from tests.support import default_config, make_busybox_rootfs  # noqa: E402

from lading.cli.launcher import write_launcher  # noqa: E402

UNIFIED = Path("/sys/fs/cgroup/unified")
CRUN_SHELL = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"'
SLEEPER = "sleeper"  # the bundle (inside the main one, sharing its rootfs) that kill and exec use
VERBS = ["run", "create", "start", "delete", "create+start+delete", "state", "list", "kill", "exec true"]


def runtime_argv(name: str, tmp: Path) -> list[str] | None:
    """The command that runs runtime name, or None when it is not installed."""
    if "=" in name:  # NAME=COMMAND: another build, e.g. an earlier lading's launcher
        return [name.split("=", 1)[1]]
    if name == "lading":
        launcher = tmp / "lading"
        write_launcher(str(launcher))
        return [str(launcher)]
    if name == "runc":
        return [shutil.which("runc") or "runc"]
    if name == "crun":
        if not shutil.which("crun"):
            return None
        if os.path.ismount(UNIFIED):
            return ["unshare", "--mount", "sh", "-c", CRUN_SHELL, "crun"]
        return ["crun"]
    raise SystemExit(f"unknown runtime {name!r}")


class Runner:
    def __init__(self, name: str, argv: list[str], root: Path, bundle: Path, gap: float = 0.0) -> None:
        self.name, self.argv, self.root, self.bundle, self.gap = name, argv, root, bundle, gap

    def __call__(self, *args: str, check: bool = True) -> float:
        """Run the verb and return its wall time in ms."""
        time.sleep(self.gap)
        # Not pipes: a created container keeps its stdio open, and reading a pipe to its end
        # would wait for the container.
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            code = subprocess.call(
                [*self.argv, "--root", str(self.root), *args],
                cwd=self.bundle,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            elapsed = (time.perf_counter() - start) * 1000
            if check and code != 0:
                err.seek(0)
                why = err.read().decode().strip()
                raise RuntimeError(f"{self.name} {' '.join(args)}: exit {code}: {why}")
        return elapsed

    def leftovers(self) -> list[str]:
        return [p.name for p in self.root.iterdir()] if self.root.is_dir() else []


def steps(i: int) -> list[tuple[str, Callable[[Runner], float]]]:
    """One round's timed steps, in order; each takes a runner and returns ms."""
    cid = f"c{i}"
    return [
        ("run", lambda r: r("run", f"run{i}")),
        ("create", lambda r: r("create", "--bundle", str(r.bundle), cid)),
        ("state", lambda r: r("state", cid)),
        ("list", lambda r: r("list")),
        ("start", lambda r: r("start", cid)),
        ("delete", lambda r: r("delete", "--force", cid)),
        ("kill", lambda r: r("kill", SLEEPER, "WINCH")),
        ("exec true", lambda r: r("exec", SLEEPER, "true")),
    ]


def measure(runners: list[Runner], rounds: int) -> dict[str, dict[str, list[float]]]:
    """times[verb][runtime] = one figure per round."""
    times: dict[str, dict[str, list[float]]] = {v: {r.name: [] for r in runners} for v in VERBS}
    for i in range(rounds):
        order = runners if i % 2 == 0 else runners[::-1]
        for verb, step in steps(i):
            for r in order:
                times[verb][r.name].append(step(r))
        for r in runners:
            n = len(times["create"][r.name])
            times["create+start+delete"][r.name].append(
                times["create"][r.name][n - 1] + times["start"][r.name][n - 1] + times["delete"][r.name][n - 1]
            )
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(times: dict[str, dict[str, list[float]]], rounds: int) -> None:
    names = list(next(iter(times.values())))
    others = [n for n in names if n != "lading"] if "lading" in names else []
    print(f"{rounds} rounds; medians in ms; ratio = median of per-round lading/X [10%-90% of rounds]")
    head = f"{'':21}" + "".join(f"{n:>9}" for n in names)
    head += "".join(f"{'lading/' + o:>24}" for o in others)
    print(head)
    for verb in VERBS:
        line = f"{verb:21}" + "".join(f"{statistics.median(times[verb][n]):9.1f}" for n in names)
        for o in others:
            ratios = [a / b for a, b in zip(times[verb]["lading"], times[verb][o], strict=True)]
            spread = f"[{percentile(ratios, 0.1):.2f}-{percentile(ratios, 0.9):.2f}]"
            line += f"{statistics.median(ratios):>12.2f} {spread:>11}"
        print(line)


def make_bundle(directory: Path) -> Path:
    make_busybox_rootfs(directory / "rootfs")
    for where, args in [(directory, ["/bin/true"]), (directory / SLEEPER, ["sleep", "1000000"])]:
        config = default_config(args)
        config["ociVersion"] = "1.0.2"  # the newest version every runtime here accepts (crun 1.8)
        config["root"]["path"] = str(directory / "rootfs")
        where.mkdir(exist_ok=True)
        (where / "config.json").write_text(json.dumps(config))
    return directory


def floor(launcher: str, tmp: Path, rounds: int) -> str:
    """The bare interpreter of lading's launcher against runc's `list` of an empty root: medians
    in ms and the median of per-round ratios."""
    with open(launcher) as f:
        python = f.readline()[2:].split()[0]
    bare = [python, "-IS", "-c", "import posix; posix._exit(0)"]
    runc = [shutil.which("runc") or "runc", "--root", str(tmp / "floor-root"), "list"]
    times: dict[str, list[float]] = {"python": [], "runc": []}
    for _ in range(rounds):
        for name, argv in (("python", bare), ("runc", runc)):
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append((time.perf_counter() - start) * 1000)
    ratio = statistics.median(a / b for a, b in zip(times["python"], times["runc"], strict=True))
    py, rc = statistics.median(times["python"]), statistics.median(times["runc"])
    return f"floor:  bare python -IS {py:.1f} ms, runc list (empty root) {rc:.1f} ms: {ratio:.2f}x"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="rounds (default 20)")
    ap.add_argument("--runtimes", default="lading,runc,crun", help="comma-separated list; NAME=COMMAND for another")
    ap.add_argument("--gap", type=float, default=0.0, help="seconds to wait before each command (see above)")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lading-bench-") as tmp:
        bundle = make_bundle(Path(tmp) / "bundle")
        runners = []
        for name in opts.runtimes.split(","):
            argv = runtime_argv(name, Path(tmp))
            if argv is None:
                print(f"# {name}: not installed, skipped", file=sys.stderr)
                continue
            name = name.split("=", 1)[0]
            runners.append(Runner(name, argv, Path(tmp) / f"{name}-root", bundle, opts.gap))
        print(f"before: {load()}")
        if "lading" in opts.runtimes.split(",") and shutil.which("runc"):
            print(floor(str(Path(tmp) / "lading"), Path(tmp), max(opts.n, 10)))
        try:
            for r in runners:
                r("run", "--detach", "--bundle", str(bundle / SLEEPER), SLEEPER)
            times = measure(runners, opts.n)
        finally:
            for r in runners:
                for left in r.leftovers():
                    r("delete", "--force", left, check=False)
        print(f"after:  {load()}")
    report(times, opts.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
