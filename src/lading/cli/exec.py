"""`lading exec`: run a new process inside a container, with runc's flags.

lading exec [options] ID COMMAND [ARG...]      (options after ID belong to the command)
lading exec [options] --process process.json ID
"""

from __future__ import annotations

from lading.cli.args import REMAINDER, Namespace, Parser
from lading.errors import LadingError

# As runc: a failure of the runtime (no such container, a bad flag value, a program that cannot
# start) exits 255, so a caller can tell it from the exit status of the program itself.
FAILURE_STATUS = 255


def add_arguments(verb: str, p: Parser) -> None:
    p.add_argument("--console-socket", default=None, help="unix socket to send the pty master to")
    p.add_argument("--cwd", default=None, help="current working directory in the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set an environment variable (K=V)")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-u", "--user", default=None, help="UID (format: <uid>[:<gid>])")
    p.add_argument("-g", "--additional-gids", action="append", type=int, default=[], help="additional gids")
    p.add_argument("-p", "--process", default=None, help="path to the process.json")
    p.add_argument("-d", "--detach", action="store_true", help="detach from the container's process")
    p.add_argument("--pid-file", default=None, help="file to write the process id to")
    p.add_argument("--process-label", default=None, help="SELinux label for the process")
    p.add_argument("--apparmor", default=None, help="AppArmor profile for the process")
    p.add_argument("--no-new-privs", action="store_true", help="set no_new_privs for the process")
    p.add_argument("-c", "--cap", action="append", default=[], help="add a capability to every set")
    p.add_argument("--preserve-fds", type=int, default=0, help="pass N additional fds (3..3+N-1)")
    p.add_argument("--ignore-paused", action="store_true", help="allow exec in a paused container")
    p.add_argument(
        "--cgroup",
        action="append",
        default=[],
        help="run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.",
    )
    p.add_argument("container_id", metavar="ID")
    p.add_argument("command", nargs=REMAINDER, metavar="COMMAND", help="the command and its args")


def run(verb: str, args: Namespace) -> int:
    from lading.runtime.exec_process import ProcessFlags
    from lading.runtime.execute import ExecOptions, execute
    from lading.runtime.store import Store

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    for gid in args.additional_gids:
        if gid < 0:
            raise LadingError(f"--additional-gids: must be a positive number, got {gid}")
    if args.preserve_fds < 0:
        raise LadingError(f"--preserve-fds: must not be negative, got {args.preserve_fds}")
    flags = ProcessFlags(
        args=command,
        tty=args.tty,
        cwd=args.cwd,
        env=args.env,
        user=args.user,
        additional_gids=args.additional_gids,
        caps=args.cap,
        no_new_privs=args.no_new_privs,
        apparmor=args.apparmor,
        process_label=args.process_label,
    )
    opts = ExecOptions(
        flags=flags,
        process_file=args.process,
        console_socket=args.console_socket,
        detach=args.detach,
        pid_file=args.pid_file,
        preserve_fds=args.preserve_fds,
        ignore_paused=args.ignore_paused,
        sub_cgroups=sub_cgroup_paths(args.cgroup),
    )
    return execute(Store(args.root), args.container_id, opts)


def sub_cgroup_paths(values: list[str]) -> dict[str, str]:
    """runc's --cgroup: one PATH (under the container's cgroup in every hierarchy) or any number
    of CONTROLLER[,CONTROLLER...]:PATH, each controller named once."""
    paths: dict[str, str] = {}
    for value in values:
        parts = value.split(":")
        if len(parts) > 2:
            raise LadingError(f"invalid --cgroup argument: {value}")
        if len(parts) == 1:
            if len(values) != 1:
                raise LadingError(f"invalid --cgroup argument: {value} (missing <controller>: prefix)")
            paths[""] = value
            continue
        for controller in parts[0].split(","):
            if not controller:
                raise LadingError(f"invalid --cgroup argument: {value} (empty <controller> prefix)")
            if controller in paths:
                raise LadingError(f"invalid --cgroup argument(s): controller {controller} specified multiple times")
            paths[controller] = parts[1]
    return paths
