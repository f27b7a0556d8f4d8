"""Rootless `run` of /bin/true: lading against Debian's runc, both run by an unprivileged user.

The script (run as root) makes a throwaway user with subordinate ids (as the tests do), a busybox
bundle in its home with the config `spec --rootless` writes for it (the user's own uid and gid
as the container's root, no network namespace, /sys bound from the host), and then, as that user,
times `run ID` of /bin/true for each runtime, interleaved round by round (lading first in even
rounds, runc first in odd ones). It prints each runtime's median in ms and the median of the
per-round ratios lading/runc with their 10%-90% spread, and the load average before and after.
The user, its home and everything in it are removed at the end.

lading runs through the launcher `python -m lading.cli.launcher` writes, with an interpreter the
user can run. Neither runtime gets a cgroup here (none is delegated to the user).

usage: python bench/rootless.py [-n ROUNDS]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.runtime import load, percentile  # noqa: E402
from tests.support import make_busybox_rootfs  # noqa: E402
from tests.userns.support import UnprivilegedUser, create_user, remove_user, user_python  # noqa: E402

from lading.cli.launcher import write_launcher  # noqa: E402
from lading.spec.defaults import default_config  # noqa: E402


def make_bundle(user: UnprivilegedUser) -> Path:
    bundle = user.home / "bundle"
    make_busybox_rootfs(bundle / "rootfs")
    config = default_config(rootless=True, args=["/bin/true"])
    config["ociVersion"] = "1.0.2"  # the newest version runc 1.1 accepts
    config["process"]["terminal"] = False
    config["linux"]["uidMappings"][0]["hostID"] = user.uid
    config["linux"]["gidMappings"][0]["hostID"] = user.gid
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def timed(user: UnprivilegedUser, argv: list[str], env: dict[str, str] | None = None) -> float:
    """Milliseconds of one command run as the user (with env added), which must succeed."""
    start = time.perf_counter()
    p = subprocess.run(
        [*user.prefix(**(env or {})), *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        cwd=user.home,
    )
    elapsed = (time.perf_counter() - start) * 1000
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return elapsed


def time_run(user: UnprivilegedUser, argv: list[str], root: Path, bundle: Path, cid: str) -> float:
    return timed(user, [*argv, "--root", str(root), "run", "--bundle", str(bundle), cid])


def rounds_option(doc: str | None) -> int:
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20, help="rounds (default 20)")
    return int(ap.parse_args().n)


def main() -> int:
    rounds = rounds_option(__doc__)
    user = create_user()
    try:
        bundle = make_bundle(user)
        launcher = user.home / "lading"
        write_launcher(str(launcher), python=user_python())
        runtimes = {"lading": [str(launcher)], "runc": [shutil.which("runc") or "runc"]}
        user.own(user.home)
        times: dict[str, list[float]] = {name: [] for name in runtimes}
        print(f"before: {load()}")
        for i in range(rounds):
            for name in list(runtimes) if i % 2 == 0 else list(runtimes)[::-1]:
                root = user.home / f"{name}-root"
                times[name].append(time_run(user, runtimes[name], root, bundle, f"c{i}"))
        print(f"after:  {load()}")
    finally:
        left = remove_user(user)
    if left:
        print(f"left behind: {left}", file=sys.stderr)
    ratios = [a / b for a, b in zip(times["lading"], times["runc"], strict=True)]
    print(f"{rounds} rounds of rootless `run` /bin/true; medians in ms")
    print(f"{'':8}{'lading':>9}{'runc':>9}{'lading/runc':>14}")
    spread = f"[{percentile(ratios, 0.1):.2f}-{percentile(ratios, 0.9):.2f}]"
    lading, runc = statistics.median(times["lading"]), statistics.median(times["runc"])
    print(f"{'run':8}{lading:9.1f}{runc:9.1f}{statistics.median(ratios):>9.2f} {spread}")
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
