"""Rootless `container run --rm IMAGE true`: lading's engine against rootless podman, both run by
the same unprivileged user, each with its own storage in that user's home.

The script (run as root) makes a throwaway user with subordinate ids (as the tests do), imports a
busybox image into the user's lading store and loads it into podman's (vfs storage, cgroupfs, no
network, Debian's runc), then times, as that user, interleaved round by round (the order reversed
in odd rounds):

- `lading container run --rm IMAGE true` with nothing else running: the command makes the user
  and mount namespace, starts the holder in it, and ends the holder when it is done;
- the same while another container runs (`run -d IMAGE sleep`), so the holder lives on and the
  command only joins it (what podman always does: its pause process outlives its containers);
- `podman run --rm --runtime runc IMAGE true` (its pause process made before the first round).

It prints each command's median in ms and the median of the per-round ratios to podman with their
10%-90% spread, and the load average before and after. The user, its home and every process it
still has are removed at the end.

usage: python bench/rootless_engine.py [-n ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from bench.rootless import rounds_option, timed  # noqa: E402
from bench.runtime import load, percentile  # noqa: E402
from tests.clients.image import IMAGE_NAME, build_oci_archive  # noqa: E402
from tests.clients.runtimes import RUNC  # noqa: E402
from tests.userns.support import create_user, remove_user, user_python  # noqa: E402
from tests.userns.test_rootless_podman import RootlessPodman  # noqa: E402

from lading.cli.launcher import write_launcher  # noqa: E402

ALONE = "lading container run --rm IMAGE true"
BESIDE = "  the same, another container running"
PODMAN = "podman run --rm IMAGE true"


def main() -> int:
    rounds = rounds_option(__doc__)
    user = create_user()
    try:
        with tempfile.TemporaryDirectory() as work:
            archive = user.own(build_oci_archive(user.home / "busybox.tar", Path(work)))
        launcher = user.home / "lading"
        write_launcher(str(launcher), python=user_python())
        user.own(user.home)
        engine = [str(launcher), "container"]
        timed(user, [str(launcher), "image", "import", str(archive), IMAGE_NAME])
        podman = RootlessPodman(user, user.home / "podman")
        try:
            podman("load", "-i", str(archive))
            podman_run = ["podman", "run", "--rm", "--runtime", RUNC, IMAGE_NAME, "true"]
            lading_run = [*engine, "run", "--rm", IMAGE_NAME, "true"]
            timed(user, lading_run)  # warm: the layer unpacked, podman's pause process made
            timed(user, podman_run, podman.env)
            times: dict[str, list[float]] = {ALONE: [], BESIDE: [], PODMAN: []}
            print(f"before: {load()}")
            for i in range(rounds):
                got = {}
                for name in (ALONE, PODMAN) if i % 2 == 0 else (PODMAN, ALONE):
                    got[name] = timed(user, lading_run) if name == ALONE else timed(user, podman_run, podman.env)
                timed(user, [*engine, "run", "-d", "--name", "keep", IMAGE_NAME, "sleep", "600"])
                got[BESIDE] = timed(user, lading_run)
                timed(user, [*engine, "rm", "-f", "keep"])
                for name, ms in got.items():
                    times[name].append(ms)
            print(f"after:  {load()}")
        finally:
            podman.close()
    finally:
        left = remove_user(user)
    if left:
        print(f"left behind: {left}", file=sys.stderr)
    print(f"{rounds} rounds, rootless, as one unprivileged user; medians in ms")
    print(f"{'':40}{'median':>9}{'/podman':>9}")
    for name, values in times.items():
        ratios = [a / b for a, b in zip(values, times[PODMAN], strict=True)]
        spread = f"[{percentile(ratios, 0.1):.2f}-{percentile(ratios, 0.9):.2f}]"
        print(f"{name:40}{statistics.median(values):9.1f}{statistics.median(ratios):9.2f} {spread}")
    return 1 if left else 0


if __name__ == "__main__":
    raise SystemExit(main())
