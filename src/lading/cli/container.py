"""`lading container ...`: docker's container commands, flags, output and exit codes.

Errors are one line on stderr ("Error: ...", through the command line's one error boundary,
lading.cli.main.guarded, so an OSError is one line too). Like docker, `run` and `create` exit
125 when the engine fails (and `run` exits 126 or 127 when the command cannot be run, else with
the container's status); the other commands exit 1; a bad flag exits 125.

Networking: a container has its own network namespace with only ``lo`` (``--network none``, the
default) or the host's (``--network host``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lading.errors import LadingError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_VERBS = {
    "run": "create and run a new container from an image",
    "create": "create a new container",
    "start": "start one or more stopped containers",
    "stop": "stop one or more running containers",
    "kill": "kill one or more running containers",
    "restart": "restart one or more containers",
    "rm": "remove one or more containers",
    "ps": "list containers",
    "logs": "fetch the logs of a container",
    "exec": "execute a command in a running container",
    "inspect": "display detailed information on one or more containers",
    "wait": "block until one or more containers stop, then print their exit codes",
    "top": "display the running processes of a container",
    "rename": "rename a container",
    "prune": "remove all stopped containers",
    "attach": "attach local standard input, output, and error streams to a running container",
    "cleanup": "",
}
_MIN_MEMORY = 6 << 20  # docker's linuxMinMemory
_NETWORK_HELP = "none (default: a network namespace with only lo) or host; bridge networks come later"


ARGPARSE = True  # subcommands


class ArgumentParser(argparse.ArgumentParser):
    """Flag errors exit 125 with one line, as docker's do. Only the chosen verb's flags are
    declared (``verbs``): declaring every verb's would cost more than some verbs' whole work."""

    verbs: dict[str, argparse.ArgumentParser] | None = None

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        for i, word in enumerate(words):
            if self.verbs and word in self.verbs and words[i - 1 : i] not in (["--storage-root"], ["--run-root"]):
                _verb_arguments(word, self.verbs.pop(word))
                break
        return super().parse_known_args(words, namespace)

    def error(self, message: str) -> Any:
        sys.stderr.write(f"{self.prog}: {message}\nSee '{self.prog} --help'.\n")
        raise SystemExit(125)


def _create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--rm", action="store_true", help="automatically remove the container when it exits")
    p.add_argument("--name", default="", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
    p.add_argument("-u", "--user", default=None, help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("--entrypoint", default=None, help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-h", "--hostname", default="", help="container host name")
    p.add_argument("-l", "--label", action="append", default=[], help="set meta data on a container")
    p.add_argument("-v", "--volume", action="append", default=[], help="bind mount a volume: /host:/ctr[:ro]")
    p.add_argument("-m", "--memory", default="", help="memory limit")
    p.add_argument("--cpus", default="", help="number of CPUs")
    p.add_argument("--pids-limit", type=int, default=0, help="tune container pids limit (0 or less: unlimited)")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to this container")
    p.add_argument(
        "--security-opt",
        action="append",
        default=[],
        help="seccomp=unconfined|FILE, no-new-privileges[=true|false], apparmor=unconfined, label=disable",
    )
    p.add_argument(
        "--restart", default="no", help="restart policy: no, on-failure[:max-retries], always, unless-stopped"
    )
    p.add_argument("--runtime", default="lading", help="OCI runtime: lading (default), runc, crun, or a path")
    p.add_argument("--init", action="store_true", help="run an init inside the container that reaps processes")
    p.add_argument("--network", "--net", default="none", help=_NETWORK_HELP)
    p.add_argument("--log-opt", action="append", default=[], help="log driver options: max-size, max-file")
    p.add_argument("--pull", default="missing", choices=["missing", "never"], help="pull the image before running")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "networking: a container gets a network namespace of its own with only lo (--network none,\n"
        "the default), or the host's (--network host); bridge networks are not there yet."
    )
    parser.add_argument(
        "--storage-root",
        default=None,
        help="images, layers and containers (/var/lib/lading; $XDG_DATA_HOME/lading if not root)",
    )
    parser.add_argument(
        "--run-root",
        default=None,
        help="what does not survive a reboot (/run/lading-engine; $XDG_RUNTIME_DIR/lading-engine if not root)",
    )
    sub = parser.add_subparsers(dest="container_command", metavar="COMMAND", required=True, parser_class=ArgumentParser)
    verbs: dict[str, argparse.ArgumentParser] = {}
    for name, h in _VERBS.items():
        kw: dict[str, Any] = {"help": h} if h else {}
        verbs[name] = sub.add_parser(name, description=h, add_help=name not in ("run", "create"), **kw)
    if isinstance(parser, ArgumentParser):
        parser.verbs = verbs
    else:
        for name, p in verbs.items():
            _verb_arguments(name, p)


def _verb_arguments(name: str, p: argparse.ArgumentParser) -> None:
    """The flags and arguments of one verb."""
    if name in ("run", "create"):
        p.add_argument("--help", action="help", help="show this help message and exit")
        _create_flags(p)
    if name == "run":
        p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the ID")
    elif name == "start":
        p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and forward signals")
        p.add_argument("-i", "--interactive", action="store_true", help="attach the container's STDIN")
        p.add_argument("--all", action="store_true", help="start the containers a reboot stopped (restart policy)")
        p.add_argument("containers", nargs="*", metavar="CONTAINER")
    elif name in ("stop", "restart"):
        p.add_argument("-t", "--time", type=int, default=None, help="seconds to wait before killing it")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif name == "kill":
        p.add_argument("-s", "--signal", default="KILL", help="signal to send to the container")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif name == "rm":
        p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container")
        p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes (there are none yet)")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif name == "ps":
        p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
        p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
        p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        p.add_argument(
            "-f", "--filter", action="append", default=[], help="filter: id, name, label, status, exited, ancestor"
        )
        p.add_argument("--format", default="", help="Go-template-like format, e.g. 'table {{.ID}}\\t{{.Names}}'")
        p.add_argument(
            "-n", "--last", type=int, default=-1, help="show n last created containers (includes all states)"
        )
        p.add_argument(
            "-l", "--latest", action="store_true", help="show the latest created container (includes all states)"
        )
    elif name == "logs":
        p.add_argument("-f", "--follow", action="store_true", help="follow log output")
        p.add_argument("--tail", default="all", help="number of lines to show from the end of the logs")
        p.add_argument("--since", default="", help="show logs since a timestamp or a relative time (42m)")
        p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
        p.add_argument("container")
    elif name == "exec":
        p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
        p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
        p.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
        p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
        p.add_argument("-w", "--workdir", default="", help="working directory inside the container")
        p.add_argument("-u", "--user", default="", help="username or UID (format: <name|uid>[:<group|gid>])")
        p.add_argument("container")
        p.add_argument("command", nargs=argparse.REMAINDER)
    elif name == "inspect":
        p.add_argument("-f", "--format", default="", help="format the output using a Go-like template")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif name == "wait":
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
    elif name == "top":
        p.add_argument("container")
        p.add_argument("ps_args", nargs=argparse.REMAINDER)
    elif name == "rename":
        p.add_argument("container")
        p.add_argument("new_name")
    elif name == "prune":
        p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    elif name == "attach":
        p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
        p.add_argument("container")
    elif name == "cleanup":
        p.add_argument("container")


def run(verb: str, args: argparse.Namespace) -> int:
    from lading.cli.main import guarded
    from lading.engine import crash
    from lading.engine.roots import Roots

    crash.take()  # a test's crash point is this command's only (engine/crash.py)
    command = args.container_command

    def call() -> int:
        from lading.engine import rootless  # the user's namespace and its holder (engine/rootless.py)
        from lading.linux.userns import in_user_namespace

        storage, run = args.storage_root or "/var/lib/lading", args.run_root or "/run/lading-engine"
        unprivileged = os.geteuid() != 0
        if unprivileged:
            storage, run = rootless.roots(args.storage_root, args.run_root)
        roots = Roots(Path(os.path.abspath(storage)), Path(os.path.abspath(run)))
        lock = rootless.enter(roots) if unprivileged else rootless.inside(roots) if in_user_namespace() else None
        try:
            return int(globals()[f"_{command}"](roots, args))
        finally:
            if lock is not None:  # the holder ends with the last command that needs it
                rootless.leave(roots, lock)

    # the command line's one error boundary, with docker's words and statuses
    status = 125 if command in ("run", "create") else 1
    return guarded(f"container {command}", call, status, args.debug, prefix="Error: ")


# --- create and run -----------------------------------------------------------------------------


def _env_files(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise LadingError(f"--env-file {path}: {e.strerror}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line if "=" in line else f"{line}={os.environ.get(line, '')}")
    return out


def _env(values: list[str]) -> list[str]:
    """-e NAME=VALUE, or -e NAME to pass this environment's value (dropped if unset)."""
    return [v if "=" in v else f"{v}={os.environ[v]}" for v in values if "=" in v or v in os.environ]


def _memory(text: str) -> int:
    """--memory in bytes (0: no limit), not below docker's floor, under which the container's
    init could not even start."""
    from lading.engine.lifecycle import parse_size

    memory = parse_size(text, "--memory") if text else 0
    if 0 < memory < _MIN_MEMORY:
        raise LadingError("Minimum memory limit allowed is 6MB")
    return memory


def _checked_env(env: list[str]) -> list[str]:
    """docker's check: every variable has a name."""
    for variable in env:
        if not variable.partition("=")[0]:
            raise LadingError(f"invalid environment variable: {variable}")
    return env


def _options(args: argparse.Namespace) -> Any:
    from lading.engine.create import CreateOptions
    from lading.engine.lifecycle import parse_size
    from lading.engine.security import parse_options

    cpus = 0
    if args.cpus:
        try:
            cpus = int(float(args.cpus) * 10**9)
        except ValueError:
            raise LadingError(f"invalid argument {args.cpus!r} for --cpus: expected a number") from None
    log_opts = {}
    for opt in args.log_opt:
        key, eq, value = opt.partition("=")
        if not eq or key not in ("max-size", "max-file"):
            raise LadingError(f"--log-opt {opt}: the json-file log takes max-size=SIZE and max-file=N")
        if key == "max-size":
            parse_size(value, "--log-opt max-size")
        elif not value.isdigit() or int(value) < 1:
            raise LadingError(f"--log-opt {opt}: max-file must be a positive number")
        log_opts[key] = value
    labels = dict((lb.partition("=")[0], lb.partition("=")[2]) for lb in args.label)
    return CreateOptions(
        image=args.image,
        cmd=args.command or None,
        entrypoint=None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else []),
        name=args.name,
        env=_checked_env(_env_files(args.env_file) + _env(args.env)),
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        labels=labels,
        binds=args.volume,
        memory=_memory(args.memory),
        nano_cpus=cpus,
        pids_limit=max(args.pids_limit, 0),  # docker's: zero and below are unlimited
        cap_add=args.cap_add,
        cap_drop=args.cap_drop,
        read_only=args.read_only,
        privileged=args.privileged,
        security_opt=parse_options(args.security_opt),
        restart=args.restart,
        runtime=args.runtime,
        init=args.init,
        auto_remove=args.rm,
        tty=args.tty,
        stdin_open=args.interactive,
        network=args.network,
        log_opts=log_opts,
    )


def _image(roots: Any, text: str, pull: str) -> Any:
    """The image from the store, pulled first if it is not there (as docker run does)."""
    from lading.engine import image_record

    found = image_record.find(roots.storage, text)
    if found is not None:
        return found
    from lading.errors import NotFoundError
    from lading.image.images import load
    from lading.image.store import Store

    store = Store(roots.storage)
    try:
        return image_record.from_image(load(store, text))
    except NotFoundError:
        if pull == "never":
            raise
    from lading.image import reference
    from lading.image.platform import host
    from lading.image.progress import Progress
    from lading.image.pull import PullOptions
    from lading.image.pull import pull as pull_image

    ref = reference.parse(text)
    sys.stderr.write(f"Unable to find image '{ref}' locally\n")
    local = ref.domain.split(":")[0] in ("localhost", "127.0.0.1", "::1")
    pull_image(store, ref, PullOptions(platform=host(), insecure=local), Progress(sys.stderr, quiet=True))
    return image_record.from_image(load(store, str(ref)))


def _make(roots: Any, args: argparse.Namespace) -> Any:
    from lading.engine.create import create

    options = _options(args)
    if args.rm and args.restart != "no":
        raise LadingError("conflicting options: --restart and --rm")
    return create(roots, _image(roots, args.image, args.pull), options)


def _create(roots: Any, args: argparse.Namespace) -> int:
    print(_make(roots, args).id)
    return 0


def _cannot_run_status(message: str) -> int:
    """docker's rule for a start that failed: 127 when the command was not found, 126 when it
    could not be invoked, else 125."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _run(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    c = _make(roots, args)
    store = roots.containers
    if args.detach:
        with store.lock(c.id):
            try:
                lifecycle.start(roots, store.load(c.id))
            except LadingError as e:
                return _start_failed(roots, c.id, e, remove=True)
        print(c.id)
        return 0
    return _foreground(roots, c.id, args.interactive, remove_on_failure=True)


def _start_failed(roots: Any, cid: str, e: LadingError, remove: bool) -> int:
    """Report a failed start; `run` (or --rm) removes the container it made, so nothing is left."""
    from lading.engine import lifecycle

    sys.stderr.write(f"Error: {e}\n")
    c = roots.containers.load(cid)
    if remove or c.host["AutoRemove"]:
        lifecycle.remove(roots, c, force=True)
    return _cannot_run_status(str(e))


def _foreground(roots: Any, cid: str, stdin: bool, remove_on_failure: bool = False) -> int:
    """Attach (before the start, so no output is lost), start, copy the streams until the exit,
    and return the container's status; with --rm the container is removed here (the waiter lock
    keeps the monitor's exit command from removing it before its status is read)."""
    from lading.engine import lifecycle
    from lading.engine.attach import Attachment

    store = roots.containers
    attached: list[Attachment] = []
    with store.waiting(cid):
        with store.lock(cid):
            c = store.load(cid)
            exec_dir = roots.run_dir(cid) / "exec"
            try:

                def connect() -> None:
                    attached.append(Attachment(exec_dir, stdin=stdin, close_stdin=stdin))

                lifecycle.start(roots, c, connect, exit_command=not c.host["AutoRemove"])
            except LadingError as e:
                for a in attached:
                    a.close()
                return _start_failed(roots, cid, e, remove_on_failure)
        with attached[0] as a:
            outcome = a.stream(tty=bool(c.config["Config"]["Tty"]))
        if outcome.detached:
            return 0
        lifecycle.wait_exit(c)
        with store.lock(cid):
            c = store.load(cid)
            lifecycle.settle(roots, c)
            code = int(c.state["ExitCode"])
            if c.host["AutoRemove"]:
                lifecycle.remove(roots, c, force=True)
    return code


# --- lifecycle verbs ----------------------------------------------------------------------------


def _each(roots: Any, names: list[str], action: Any) -> int:
    """Apply ``action(container)`` to each name under its lock; print the name, or the error."""
    store = roots.containers
    status = 0
    for name in names:
        try:
            cid = store.resolve(name)
            with store.lock(cid):
                action(store.load(cid))
            print(name)
        except LadingError as e:
            sys.stderr.write(f"Error: {e}\n")
            status = 1
    return status


def _start(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    if args.all:
        return _start_all(roots)
    if not args.containers:
        raise LadingError("start: give at least one container, or --all")
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise LadingError("you cannot start and attach multiple containers at once")
        cid = roots.containers.resolve(args.containers[0])
        return _foreground(roots, cid, args.interactive)
    return _each(roots, args.containers, lambda c: lifecycle.start(roots, c))


def _start_all(roots: Any) -> int:
    """After a reboot: start every container whose restart policy says so (always, and
    unless-stopped ones not stopped by hand); the boot hook in docs/engine.md runs this."""
    from lading.engine import lifecycle

    lifecycle.reconcile(roots)
    names = [
        c.id
        for c in roots.containers.all()
        if not c.state["Running"]
        and c.config["HasBeenStartedBefore"]
        and (
            c.host["RestartPolicy"]["Name"] == "always"
            or (c.host["RestartPolicy"]["Name"] == "unless-stopped" and not c.config["HasBeenManuallyStopped"])
        )
    ]
    return _each(roots, names, lambda c: lifecycle.start(roots, c))


def _stop(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    return _each(roots, args.containers, lambda c: lifecycle.stop(roots, c, args.time))


def _restart(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    def again(c: Any) -> None:
        lifecycle.stop(roots, c, args.time)
        lifecycle.start(roots, c)

    return _each(roots, args.containers, again)


def _kill(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    lifecycle.signal_number(args.signal)
    return _each(roots, args.containers, lambda c: lifecycle.kill(roots, c, args.signal))


def _rm(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    return _each(roots, args.containers, lambda c: lifecycle.remove(roots, c, args.force))


def _cleanup(roots: Any, args: argparse.Namespace) -> int:
    """What the monitor's exit command does (engine/exit_command.py), by hand."""
    from lading.engine import lifecycle

    lifecycle.cleanup(roots, roots.containers.resolve(args.container))
    return 0


def _wait(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    store = roots.containers
    status = 0
    for name in args.containers:
        try:
            cid = store.resolve(name)
            lifecycle.wait_exit(store.load(cid))
            with store.lock(cid):
                c = store.load(cid)
                lifecycle.settle(roots, c)
            print(c.state["ExitCode"])
        except LadingError as e:
            sys.stderr.write(f"Error: {e}\n")
            status = 1
    return status


def _rename(roots: Any, args: argparse.Namespace) -> int:
    store = roots.containers
    cid = store.resolve(args.container)
    with store.lock(cid):
        c = store.load(cid)
        store.claim_name(args.new_name, cid)
        old = c.name
        c.config["Name"] = f"/{args.new_name}"
        store.save(c)
        store.release_name(old, cid)
    return 0


def _prune(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import lifecycle

    lifecycle.reconcile(roots)
    store = roots.containers
    print("Deleted Containers:")
    for c in store.all():
        if not c.state["Running"] and not c.state["Restarting"]:
            with store.lock(c.id):
                c = store.load(c.id)
                if not c.state["Running"]:
                    lifecycle.remove(roots, c)
                    print(c.id)
    return 0


# --- looking at containers ----------------------------------------------------------------------


def _filter(c: Any, filters: list[str]) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        cfg = c.config
        if key == "id" and not c.id.startswith(value):
            return False
        if key == "name" and value not in c.name:
            return False
        if key == "status" and cfg["State"]["Status"] != value:
            return False
        if key == "exited" and (cfg["State"]["Status"] != "exited" or str(cfg["State"]["ExitCode"]) != value):
            return False
        if key == "ancestor" and value not in (cfg["Config"]["Image"], cfg["Image"]):
            return False
        if key == "label":
            k, eq, v = value.partition("=")
            labels = cfg["Config"].get("Labels") or {}
            if k not in labels or (eq and labels[k] != v):
                return False
        if key not in ("id", "name", "status", "exited", "ancestor", "label"):
            raise LadingError(f"invalid filter '{key}'")
    return True


def _ps(roots: Any, args: argparse.Namespace) -> int:
    import time

    from lading.cli import container_format as fmt
    from lading.engine import lifecycle

    lifecycle.reconcile(roots)
    now = time.time()
    last = 1 if args.latest else args.last  # docker's: of every state, the newest first
    every = args.all or last > 0 or any(f.startswith("status=") for f in args.filter)
    shown = [
        c
        for c in roots.containers.all()
        if (every or c.state["Running"] or c.state["Restarting"]) and _filter(c, args.filter)
    ]
    shown.sort(key=lambda c: c.config["Created"], reverse=True)
    if last > 0:
        shown = shown[:last]
    if args.quiet:
        for c in shown:
            print(c.id if args.no_trunc else c.id[:12])
        return 0
    rows = [fmt.ps_row(c, now, args.no_trunc) for c in shown]
    for line in fmt.table(args.format or fmt.PS_TABLE, rows):
        print(line)
    return 0


def _inspect_doc(roots: Any, c: Any) -> dict[str, Any]:
    """docker's inspect document, from the record, host config and the layer store."""
    from lading.engine.create import parse_bind

    cfg = c.config
    mount_id = cfg["MountID"]
    layers = roots.layers
    init = layers.overlay / f"{mount_id}-init"
    lower = (
        [str(init / "diff")]
        + [
            str(layers.overlay / "l" / link[2:])
            for link in (layers.overlay / mount_id / "lower").read_text().split(":")[1:]
        ]
        if (layers.overlay / mount_id / "lower").exists()
        else []
    )
    state = {k: v for k, v in cfg["State"].items() if k not in ("MonitorPid", "MonitorStart", "BootID", "Starting")}
    return {
        "Id": c.id,
        "Created": cfg["Created"],
        "Path": cfg["Path"],
        "Args": cfg["Args"],
        "State": state,
        "Image": cfg["Image"],
        "ResolvConfPath": cfg["ResolvConfPath"],
        "HostnamePath": cfg["HostnamePath"],
        "HostsPath": cfg["HostsPath"],
        "LogPath": cfg["LogPath"],
        "Name": cfg["Name"],
        "RestartCount": cfg["RestartCount"],
        "Driver": "overlay2",
        "Platform": "linux",
        "HostConfig": c.host,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "LowerDir": ":".join(os.path.realpath(p) for p in lower),
                "MergedDir": str(layers.merged(mount_id)),
                "UpperDir": str(layers.overlay / mount_id / "diff"),
                "WorkDir": str(layers.overlay / mount_id / "work"),
            },
        },
        "Mounts": [
            {
                "Type": "bind",
                "Source": src,
                "Destination": dst,
                "Mode": mode,
                "RW": mode != "ro",
                "Propagation": "rprivate",
            }
            for src, dst, mode in map(parse_bind, c.host.get("Binds") or [])
        ],
        "Config": cfg["Config"],
        "NetworkSettings": {"Networks": {c.host["NetworkMode"]: {}}},
    }


def _inspect(roots: Any, args: argparse.Namespace) -> int:
    from lading.cli import container_format as fmt
    from lading.engine import lifecycle

    store = roots.containers
    docs, status = [], 0
    for name in args.containers:
        try:
            cid = store.resolve(name)
            with store.lock(cid):
                c = store.load(cid)
                lifecycle.settle(roots, c)
            docs.append(_inspect_doc(roots, c))
        except LadingError as e:
            sys.stderr.write(f"Error: {e}\n")
            status = 1
    if args.format:
        for d in docs:
            print(fmt.render(args.format, d))
    else:
        print(json.dumps(docs, indent=4))
    return status


def _running(roots: Any, name: str) -> Any:
    from lading.engine import lifecycle

    store = roots.containers
    cid = store.resolve(name)
    with store.lock(cid):
        c = store.load(cid)
        lifecycle.settle(roots, c)
    if not c.state["Running"]:
        raise LadingError(f"container {cid} is not running")
    return c


def _top(roots: Any, args: argparse.Namespace) -> int:
    from lading.linux.userns import in_user_namespace

    c = _running(roots, args.container)
    if in_user_namespace():  # rootless: no cgroup to list, so the init's process tree
        from lading.linux.process import descendants
        from lading.runtime.control import ps_table

        sys.stdout.write(ps_table(descendants(c.state["Pid"]), args.ps_args or ["-ef"]))
        return 0
    argv = [*roots.runtime_argv(c.host["Runtime"]), "ps", c.id, *(args.ps_args or ["-ef"])]
    os.execvp(argv[0], argv)


def _exec(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine.exec_lookup import check_command
    from lading.engine.exec_process import exec_process
    from lading.linux.userns import in_user_namespace

    if not args.command:
        raise LadingError("exec: give the command to run")
    c = _running(roots, args.container)
    rootfs = roots.layers.merged(c.config["MountID"])
    try:
        process = exec_process(
            roots.run_dir(c.id) / "bundle", rootfs, args.command, args.tty, args.workdir, _env(args.env), args.user
        )
    except LadingError as e:  # no such user or group: docker's status for an exec that cannot start
        sys.stderr.write(f"Error: {e}\n")
        return 126
    path = next((e[5:] for e in reversed(process["env"]) if e.startswith("PATH=")), "")
    try:
        check_command(c.state["Pid"], args.command[0], path, process["cwd"])
    except LadingError as err:  # docker's status for a command that is missing or cannot be run
        sys.stderr.write(f"Error: {err}\n")
        return _cannot_run_status(str(err))
    if in_user_namespace():
        from lading.engine import rootless

        rootless.fit({"process": process, "mounts": []})
    fd = os.memfd_create("process.json", 0)  # the runtime reads it by path; its exec'd process gets no copy
    os.write(fd, json.dumps(process).encode())
    os.set_inheritable(fd, True)
    argv = [*roots.runtime_argv(c.host["Runtime"]), "exec", "--process", f"/proc/self/fd/{fd}"]
    if args.detach:
        argv.append("--detach")
    argv += [c.id]
    if not args.interactive and not args.tty:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.execvp(argv[0], argv)


def _logs(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine import logs

    store = roots.containers
    c = store.load(store.resolve(args.container))
    if args.tail != "all" and not args.tail.lstrip("-").isdigit():
        raise LadingError(f"--tail {args.tail}: expected a number or all")
    tail = None if args.tail == "all" or int(args.tail) < 0 else int(args.tail)
    since = logs.parse_since(args.since) if args.since else None
    opts = logs.Options(follow=args.follow, tail=tail, since=since, timestamps=args.timestamps)
    logs.show(Path(c.config["LogPath"]), opts, roots.run_dir(c.id) / "exec")
    return 0


def _attach(roots: Any, args: argparse.Namespace) -> int:
    from lading.engine.attach import attach

    c = _running(roots, args.container)
    cc = c.config["Config"]
    outcome = attach(roots.run_dir(c.id) / "exec", stdin=cc["OpenStdin"] and not args.no_stdin, tty=bool(cc["Tty"]))
    return 0 if outcome.exit_code is None else outcome.exit_code
