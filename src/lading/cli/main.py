"""The `lading` command: global options, then one verb, imported only when it is used.

Every runtime verb is a fresh process (podman and containerd exec the runtime for each step), so
start-up time is spent carefully: this module imports only lading.cli.args (not argparse), each
verb's module is imported only when that verb runs, and the process ends without the
interpreter's teardown (`main_exit`). docs/architecture.md lists what each verb loads.

:func:`guarded` is the command line's one error boundary: whatever a verb raises becomes one line
on stderr (and in the --log file) and the verb's failure status: 1 as runc, or the module's
``FAILURE_STATUS`` (255 for exec, as runc; 125 for docker-like verbs). A verb group with
subcommands stores the chosen one as ``args.subcommand`` so errors name it. --debug adds the
traceback.
"""

from __future__ import annotations

import posix  # not os, which costs about 1 ms (runtime/store.py): imported where needed
import sys

from lading import OCI_VERSION, __version__, log
from lading.cli.args import REMAINDER, SUPPRESS, Parser, UsageError
from lading.errors import LadingError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# verb -> (module under lading.cli, one-line help). Each module defines
# ``add_arguments(verb, parser)`` and ``run(verb, args) -> int``; the parser is a lading.cli.args
# Parser, or an argparse one for a module that sets ``ARGPARSE = True`` (command groups with
# subcommands).
COMMANDS: dict[str, tuple[str, str]] = {
    "spec": ("spec", "create a new specification file (config.json)"),
    "create": ("lifecycle", "create a container"),
    "start": ("lifecycle", "executes the user defined process in a created container"),
    "run": ("lifecycle", "create and run a container"),
    "state": ("lifecycle", "output the state of a container"),
    "list": ("lifecycle", "lists containers started by lading with the given root"),
    "kill": ("lifecycle", "kill sends the specified signal to the container's init process"),
    "delete": ("lifecycle", "delete any resources held by the container"),
    "update": ("cgroups", "update container resource constraints"),
    "pause": ("cgroups", "pause suspends all processes inside the container"),
    "resume": ("cgroups", "resumes all processes that have been previously paused"),
    "ps": ("cgroups", "ps displays the processes running inside a container"),
    "events": ("cgroups", "display container events such as OOM notifications, cpu, memory, and IO usage"),
    "image": ("image", "manage OCI images: pull, ls, inspect, rm, tag, import, export, unpack, bundle"),
    "features": ("features", "show the enabled features"),
    "exec": ("exec", "execute new process inside the container"),
    "container": ("container", "manage containers made from images, docker's way (run, ps, logs, exec, ...)"),
}


def _global_parser() -> Parser:
    p = Parser(
        prog="lading",
        description="lading: an OCI container runtime",
        epilog="commands:\n" + "\n".join(f"  {name:<10} {h}" for name, (_, h) in COMMANDS.items()),
    )
    p.add_argument(
        "--root",
        default=None,
        help="root directory for storage of container state (/run/lading; $XDG_RUNTIME_DIR/lading if not root)",
    )
    p.add_argument("--log", default="", help="set the log file to write lading logs to (default stderr)")
    p.add_argument("--log-format", default="text", choices=["text", "json"], help="log format")
    p.add_argument("--debug", action="store_true", help="enable debug logging")
    p.add_argument("--systemd-cgroup", action="store_true", help="use systemd for cgroups (not supported)")
    p.add_argument(
        "--rootless",
        default="auto",
        choices=["true", "false", "auto"],
        help="skip cgroups this user may not make (auto: when not root or in a user namespace)",
    )
    p.add_argument("--criu", default="", help=SUPPRESS)
    p.add_argument("-v", "--version", action="store_true", help="print the version")
    p.add_argument("command", nargs="?", metavar="COMMAND")
    p.add_argument("args", nargs=REMAINDER)
    return p


def _default_root() -> str:
    """runc's rule: an unprivileged user's containers live in $XDG_RUNTIME_DIR/lading, made
    0700 and sticky (so that a tmpfiles cleaner leaves it alone); so do those of root in a user
    namespace (rootless podman's) unless $USER is root."""
    if not posix.environ.get(b"XDG_RUNTIME_DIR"):
        return "/run/lading"
    from lading.linux.paths import fsdecode, join

    xdg = fsdecode(posix.environ[b"XDG_RUNTIME_DIR"])
    if posix.geteuid() == 0:
        from lading.linux.userns import in_user_namespace

        if not in_user_namespace() or posix.environ.get(b"USER", b"") == b"root":
            return "/run/lading"
    root = join(xdg, "lading")
    try:
        posix.mkdir(root, 0o700)
        posix.chmod(root, 0o1700)
    except OSError:
        pass  # it exists, or the verb reports why it cannot use it
    return root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top = _global_parser()
    try:
        g = top.parse_args(argv)
    except UsageError as e:
        log.error(str(e))
        return 2
    try:
        log.configure(g.log, g.log_format, g.debug)
    except OSError as e:
        sys.stderr.write(f"--log {g.log}: {e.strerror}\n")
        return 1
    if g.version:
        sys.stdout.write(version_text())
        return 0
    if g.root is None:
        g.root = _default_root()
    if g.command is None:
        sys.stdout.write(top.format_help())
        return 0
    verb: str = g.command  # a verb's own arguments may reuse the name (exec's COMMAND)
    if verb not in COMMANDS:
        log.error(f"unknown command {verb!r}; see 'lading --help'")
        return 1
    module_name, helptext = COMMANDS[verb]
    __import__(f"lading.cli.{module_name}")
    module = sys.modules[f"lading.cli.{module_name}"]
    prog = f"lading {verb}"
    if getattr(module, "ARGPARSE", False):
        import argparse

        # argparse passes each of its own strings through gettext, which searches the locale
        # directories anew for every one (about fifty per command, no catalog ever found):
        # lading ships no translations, so the strings go as they are.
        argparse._ = str  # type: ignore[attr-defined]
        parser_class = getattr(module, "ArgumentParser", argparse.ArgumentParser)  # its own usage-error status
        sub: Parser | argparse.ArgumentParser = parser_class(
            prog=prog, description=helptext, formatter_class=_argparse_formatter
        )
    else:
        sub = Parser(prog=prog, description=helptext)
    module.add_arguments(verb, sub)
    try:
        args = sub.parse_args(g.args, namespace=g)
    except UsageError as e:
        log.error(f"{e}; see '{prog} --help'")
        return 2
    if g.systemd_cgroup:
        log.error("--systemd-cgroup is not supported yet: lading manages cgroups through cgroupfs")
        return 1
    operation = " ".join(filter(None, (verb, getattr(args, "subcommand", None))))
    status = getattr(module, "FAILURE_STATUS", 1)
    return guarded(operation, lambda: int(module.run(verb, args)), status, g.debug)


def version_text() -> str:
    """runc's shape: the version, the commit it was installed from (scripts/install.sh writes
    lading/COMMIT; no line without one, as runc), the spec, the language runtime, libseccomp."""
    import os

    lines = [f"lading version {__version__}"]
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "COMMIT")) as f:
            commit = f.read().strip()
    except OSError:
        commit = ""
    if commit:
        lines.append(f"commit: {commit}")
    lines += [f"spec: {OCI_VERSION}", f"python: {sys.version.split()[0]}"]
    try:
        from lading.linux import seccomp

        lines.append("libseccomp: {}.{}.{}".format(*seccomp.version()))
    except OSError:
        pass  # not installed: runc built without seccomp says nothing either
    return "\n".join(lines) + "\n"


def guarded(
    operation: str, call: Callable[[], int], failure_status: int = 1, debug: bool = False, prefix: str = ""
) -> int:
    """Run ``call``; any exception becomes one logged line and ``failure_status``.

    An OSError that no layer put into words is prefixed with the operation (``image ls:
    /x/index.json: Not a directory``); a LadingError already says what failed. ``prefix`` starts
    every such line (docker's "Error: " for the engine's commands).
    """
    try:
        return call()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (`lading list | head -1`): quietly, like a program
        # killed by SIGPIPE; stdout goes to /dev/null so the exit-time flush cannot complain.
        posix.dup2(posix.open("/dev/null", posix.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:
        if debug:
            import traceback

            traceback.print_exception(e, file=sys.stderr)
        line = describe(e)
        log.error(prefix + (line if isinstance(e, LadingError) else f"{operation}: {line}"))
        return failure_status


def _argparse_formatter(prog: str) -> Any:
    """A fixed width: argparse would import shutil (and with it bz2 and lzma) to measure the terminal."""
    import argparse

    return argparse.RawDescriptionHelpFormatter(prog, width=100)


def main_exit() -> None:
    """Run the command line and end the process as soon as its output is out.

    Interpreter shutdown (tearing down every module and collecting garbage) costs more than some
    verbs' whole work, and lading registers no atexit handlers and keeps no buffered files other
    than stdout and stderr: so those two are flushed and the process exits without the teardown.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # e.g. stdout is a closed pipe: what the interpreter would do at exit
        code = 120
    posix._exit(code)
