"""The monitor's exit command (``container cleanup``), run in a child the monitor forks.

When a container ends, its monitor records the exit and hands over to the engine: settle the
record, take the run down, then ``--rm`` or the restart policy (lifecycle.cleanup). That used to
be ``lading container ... cleanup ID`` started as a fresh interpreter, whose start-up and command
line parsing (argparse) were most of its cost. The monitor instead forks a child that imports the
engine and calls :func:`main` (monitor_process: ``fork_lading``): the monitor itself never loads
the engine, and it exits right after the fork, so its size does not change. The child is in a
session of its own, with /dev/null as stdio and the launcher's environment, as the command was.

Its command line, :func:`argv`, is what the monitor is given as its exit command.
"""

from __future__ import annotations

from lading.engine.monitor_process import OWN_PROGRAM

_VERB = "cleanup"


def argv(storage: str, run: str, cid: str) -> list[str]:
    """The exit command of container cid: this lading's cleanup, in a child of the monitor."""
    return [OWN_PROGRAM, _VERB, storage, run, cid]


def main(args: list[str]) -> int:
    """In the child the monitor forked: what ``lading container cleanup`` does; its status."""
    from lading import boot

    boot.in_process()
    from pathlib import Path

    from lading.engine import lifecycle, rootless
    from lading.engine.roots import Roots
    from lading.errors import LadingError
    from lading.linux.userns import in_user_namespace

    verb, storage, run, cid = args
    if verb != _VERB:
        return 1
    roots = Roots(Path(storage), Path(run))
    lock = rootless.inside(roots) if in_user_namespace() else None  # the monitor is root of its namespace
    try:
        lifecycle.cleanup(roots, cid)
    except (LadingError, OSError):
        return 1
    finally:
        if lock is not None:  # the holder ends with the last command that needs it
            rootless.leave(roots, lock)
    return 0
