"""Median wall time of runtime verbs: lading against Debian's runc (and crun, when it can run here).

Measured, each N times on the same busybox bundle with a private --root per runtime:
  run            `run ID` of /bin/true, in the foreground, until it exits
  create+start+delete   the three verbs podman and containerd call for a short container
  state          `state ID` of a created container
  exec true      `exec ID true` in a container started with `run -d` running sleep

crun refuses a hybrid cgroup layout (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified); it
is run in a fresh mount namespace with that cgroup2 mount removed.

usage: python bench/runtime.py [-n N] [--runtimes lading,runc,crun]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.timing import median_ms  # noqa: E402
from tests.support import default_config, lading_argv, lading_env, make_busybox_rootfs  # noqa: E402

UNIFIED = Path("/sys/fs/cgroup/unified")
CRUN_SHELL = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"'


def runtime_argv(name: str) -> list[str] | None:
    """The command that runs runtime name, or None when it is not usable here."""
    if name == "lading":
        return lading_argv()
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
    def __init__(self, name: str, argv: list[str], root: Path, bundle: Path) -> None:
        self.name, self.argv, self.root, self.bundle = name, argv, root, bundle
        self.env = lading_env() if name == "lading" else None

    def __call__(self, *args: str, check: bool = True) -> None:
        # Not pipes: a created container keeps its stdio open, and reading a pipe to its end
        # would wait for the container.
        with tempfile.TemporaryFile() as err:
            code = subprocess.call(
                [*self.argv, "--root", str(self.root), *args],
                cwd=self.bundle,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            if check and code != 0:
                err.seek(0)
                why = err.read().decode().strip()
                raise RuntimeError(f"{self.name} {' '.join(args)}: exit {code}: {why}")


def bench(runner: Runner, n: int) -> dict[str, float]:
    results = {}
    results["run /bin/true"] = median_ms(n, lambda i: runner("run", f"run-{i}"))

    def create_start_delete(i: int) -> None:
        runner("create", "--bundle", str(runner.bundle), f"csd-{i}")
        runner("start", f"csd-{i}")
        runner("delete", "--force", f"csd-{i}")

    results["create+start+delete"] = median_ms(n, create_start_delete)
    runner("create", "--bundle", str(runner.bundle), "stated")
    try:
        results["state"] = median_ms(n, lambda _: runner("state", "stated"))
    finally:
        runner("delete", "--force", "stated", check=False)
    runner("run", "--detach", "--bundle", str(runner.bundle / SLEEPER), "sleeper")
    try:
        results["exec true"] = median_ms(n, lambda _: runner("exec", "sleeper", "true"))
    finally:
        runner("delete", "--force", "sleeper", check=False)
    return results


SLEEPER = "sleeper"  # the bundle (inside the main one, sharing its rootfs) that exec runs in


def make_bundle(directory: Path) -> Path:
    make_busybox_rootfs(directory / "rootfs")
    for where, args in [(directory, ["/bin/true"]), (directory / SLEEPER, ["sleep", "1000000"])]:
        config = default_config(args)
        config["ociVersion"] = "1.0.2"  # the newest version every runtime here accepts (crun 1.8)
        config["root"]["path"] = str(directory / "rootfs")
        where.mkdir(exist_ok=True)
        (where / "config.json").write_text(json.dumps(config))
    return directory


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="runs per measurement (default 20)")
    ap.add_argument("--runtimes", default="lading,runc,crun", help="comma-separated list")
    opts = ap.parse_args()
    table: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="lading-bench-") as tmp:
        bundle = make_bundle(Path(tmp) / "bundle")
        for name in opts.runtimes.split(","):
            argv = runtime_argv(name)
            if argv is None:
                print(f"# {name}: not installed, skipped", file=sys.stderr)
                continue
            runner = Runner(name, argv, Path(tmp) / f"{name}-root", bundle)
            try:
                table[name] = bench(runner, opts.n)
            except RuntimeError as e:
                print(f"# {name}: skipped: {e}", file=sys.stderr)
            finally:
                for left in runner.root.iterdir() if runner.root.is_dir() else ():
                    runner("delete", "--force", left.name, check=False)
    print_table(table, opts.n)
    return 0


def print_table(table: dict[str, dict[str, float]], n: int) -> None:
    names = list(table)
    if not names:
        return
    rows = list(next(iter(table.values())))
    ratio = "lading" in table and "runc" in table
    print(f"median wall time of {n} runs, ms")
    print(f"{'':22}" + "".join(f"{name:>10}" for name in names) + (f"{'lading/runc':>13}" if ratio else ""))
    for row in rows:
        line = f"{row:22}" + "".join(f"{table[name][row]:10.1f}" for name in names)
        if ratio:
            line += f"{table['lading'][row] / table['runc'][row]:13.2f}"
        print(line)


if __name__ == "__main__":
    raise SystemExit(main())
