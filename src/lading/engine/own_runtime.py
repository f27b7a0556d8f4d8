"""lading's own OCI runtime, called in the engine's processes instead of as a command.

With ``--runtime lading`` (the default) every container used to cost three more interpreters:
``lading create`` (run by the monitor), ``lading start`` (by the command) and ``lading delete``
(at the exit), each paying Python's start-up and the runtime's imports before doing a few
milliseconds of work. The engine is above the runtime, so it calls the same functions those
verbs call: ``start``, ``kill`` and ``delete`` in the command itself, and ``create`` in a child
the monitor forks (so that the monitor never loads the runtime, see monitor_process), which
writes its error to the runtime's JSON log and stderr as the command would. The container's
state in the runtime's root is the same, so any later command (or ``lading list``) reads it.

Another runtime (runc, crun, a path) is still run as a command (lifecycle's ``_runtime``).
"""

from __future__ import annotations

from lading.engine.monitor_process import OWN_PROGRAM
from lading.errors import LadingError, describe

NAME = OWN_PROGRAM  # the runtime name that means this lading (roots.runtime_path)


def argv(root: str) -> list[str]:
    """What the monitor is given as its runtime: this lading, called in-process, with its --root."""
    return [NAME, "--root", root]


def root_of(runtime_argv: list[str]) -> str | None:
    """The runtime root if runtime_argv is :func:`argv`'s (call in-process), else None (run it)."""
    if len(runtime_argv) == 3 and runtime_argv[0] == NAME and runtime_argv[1] == "--root":
        return runtime_argv[2]
    return None


_VALUED = {"--log", "--log-format", "--bundle", "--pid-file", "--console-socket"}


def call(root: str, args: list[str]) -> None:
    """Do what ``lading --root ROOT ARGS...`` does, in this process; a failure is a LadingError
    naming the verb, as the engine reports a runtime command's."""
    verb = next(a for a in args if not a.startswith("-"))
    try:
        _do(root, args)
    except (LadingError, OSError) as e:
        raise LadingError(f"{NAME} {verb}: {describe(e)}") from None


def main(root: str, args: list[str]) -> int:
    """In a forked child, as the command ``lading --root ROOT ARGS...`` would: its exit status,
    and a failure as one line on stderr and in the ``--log`` file (which the launcher reads)."""
    from lading import boot, log

    boot.in_process()
    options, positional = _parse(args)
    log.configure(options.get("--log"), options.get("--log-format", "text"))
    try:
        _do(root, args)
    except Exception as e:  # the command line's one error boundary (cli/main.py: guarded) does the same
        log.error(describe(e) if isinstance(e, LadingError) else f"{positional[0]}: {describe(e)}")
        return 1
    return 0


def _parse(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """The flags (with their values) and the positional arguments (the verb first)."""
    options: dict[str, str] = {}
    positional: list[str] = []
    items = iter(args)
    for a in items:
        if a in _VALUED:
            options[a] = next(items)
        elif a.startswith("--"):
            options[a] = ""
        else:
            positional.append(a)
    return options, positional


def _do(root: str, args: list[str]) -> None:
    from lading.runtime.store import Store

    options, (verb, cid, *rest) = _parse(args)
    store = Store(root)
    if verb == "create":
        from lading.linux.userns import runs_rootless
        from lading.runtime.create import CreateOptions, create

        opts = CreateOptions(
            options["--bundle"], options.get("--pid-file"), options.get("--console-socket"), rootless=runs_rootless()
        )
        create(store, cid, opts)
        return
    from lading.runtime import lifecycle

    if verb == "start":
        lifecycle.start(store, cid, until_exec=True)  # a program that cannot be exec'd: docker's error
    elif verb == "kill":
        lifecycle.kill(store, cid, lifecycle.signal_number(rest[0]), "--all" in options)
    elif verb == "delete":
        lifecycle.delete(store, cid, "--force" in options)
    else:
        raise LadingError(f"unknown runtime verb {verb!r}")
