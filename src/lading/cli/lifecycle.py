"""runc's container verbs: create, start, run, state, list, kill, delete."""

from __future__ import annotations

import sys

from lading import jsonlite
from lading.cli.args import Namespace, Parser
from lading.errors import LadingError
from lading.runtime.store import Store


def add_arguments(verb: str, p: Parser) -> None:
    if verb in ("create", "run"):
        p.add_argument("-b", "--bundle", default=".", help="path to the root of the bundle directory")
        p.add_argument("--pid-file", default=None, help="file to write the process id to")
        p.add_argument("--console-socket", default=None, help="unix socket to send the pty master to")
        p.add_argument("--no-pivot", action="store_true", help="do not use pivot_root (for ramfs)")
        p.add_argument("--no-new-keyring", action="store_true", help="do not create a new session keyring")
        p.add_argument("--preserve-fds", type=int, default=0, help="pass N additional fds (3..3+N-1)")
    if verb == "run":
        p.add_argument("-d", "--detach", action="store_true", help="detach from the container's process")
        p.add_argument("--keep", action="store_true", help="do not delete the container after it exits")
    if verb == "list":
        p.add_argument("-f", "--format", default="table", choices=["table", "json"])
        p.add_argument("-q", "--quiet", action="store_true", help="display only container IDs")
        return
    if verb == "kill":
        p.add_argument("-a", "--all", action="store_true", help="send the signal to all processes")
    if verb == "delete":
        p.add_argument("-f", "--force", action="store_true", help="kill the container if it is running")
    p.add_argument("container_id", metavar="ID")
    if verb == "kill":
        p.add_argument("signal", nargs="?", default="SIGTERM")


def _rootless(flag: str) -> bool:
    """--rootless: true, false, or auto as runc decides it (not root, or in a user namespace)."""
    if flag != "auto":
        return flag == "true"
    from lading.linux.userns import runs_rootless

    return runs_rootless()


def run(verb: str, args: Namespace) -> int:
    store = Store(args.root)
    if verb in ("create", "run"):
        from lading.runtime.create import CreateOptions

        opts = CreateOptions(
            args.bundle,
            args.pid_file,
            args.console_socket,
            args.no_pivot,
            args.preserve_fds,
            args.no_new_keyring,
            _rootless(args.rootless),
        )
        if verb == "run" and not args.detach and args.console_socket:  # as runc, before anything
            raise LadingError("cannot use console socket if lading will not detach or allocate tty")
        if verb == "create":
            from lading.runtime.create import create

            create(store, args.container_id, opts)
            return 0
        from lading.runtime.foreground import run as run_container

        return run_container(store, args.container_id, opts, detach=args.detach, keep=args.keep)

    from lading.runtime import lifecycle

    if verb == "start":
        lifecycle.start(store, args.container_id)
    elif verb == "state":
        sys.stdout.write(jsonlite.dumps(lifecycle.get_state(store, args.container_id), indent=2, go=True))
    elif verb == "kill":
        lifecycle.kill(store, args.container_id, lifecycle.signal_number(args.signal), args.all)
    elif verb == "delete":
        lifecycle.delete(store, args.container_id, args.force)
    elif verb == "list":
        print_list(lifecycle.list_states(store), args.format, args.quiet)
    return 0


def print_list(states: list[dict[str, object]], fmt: str, quiet: bool) -> None:
    if quiet:
        for s in states:
            print(s["id"])
    elif fmt == "json":  # runc's exact bytes: compact, and null for no containers
        print(jsonlite.dumps(states or None, go=True))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [
            (
                str(s["id"]),
                str(s["pid"]),
                str(s["status"]),
                str(s["bundle"]),
                str(s["created"]),
                str(s["owner"]),
            )
            for s in states
        ]
        # runc's columns (Go's tabwriter: at least 12 wide, 3 spaces after the longest; the last
        # column as it is), which scripts cut by position
        widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
        for r in rows:
            sys.stdout.write("".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] + "\n")
