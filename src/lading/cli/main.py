"""The `lading` command: global options, then one verb, imported only when it is used.

Every runtime verb is a fresh process (podman and containerd exec the runtime for each step), so
start-up time is spent carefully: this module imports only argparse, and each verb's module is
imported only when that verb runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lading import OCI_VERSION, __version__, log
from lading.errors import LadingError

# verb -> (module under lading.cli, one-line help). Each module defines
# ``add_arguments(parser)`` and ``run(args) -> int``.
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


def _formatter(prog: str) -> argparse.HelpFormatter:
    """A fixed width: argparse would import shutil (and with it bz2 and lzma) to measure the terminal."""
    return argparse.RawDescriptionHelpFormatter(prog, width=100)


def _global_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lading",
        description="lading: an OCI container runtime",
        formatter_class=_formatter,
        epilog="commands:\n" + "\n".join(f"  {name:<10} {h}" for name, (_, h) in COMMANDS.items()),
    )
    p.add_argument("--root", default="/run/lading", help="root directory for storage of container state")
    p.add_argument("--log", default="", help="set the log file to write lading logs to (default stderr)")
    p.add_argument("--log-format", default="text", choices=["text", "json"], help="log format")
    p.add_argument("--debug", action="store_true", help="enable debug logging")
    p.add_argument("--systemd-cgroup", action="store_true", help="use systemd for cgroups (not supported)")
    p.add_argument("--rootless", default="auto", help="ignored; accepted for runc compatibility")
    p.add_argument("--criu", default="", help=argparse.SUPPRESS)
    version = f"lading version {__version__}\nspec: {OCI_VERSION}\npython: {sys.version.split()[0]}"
    p.add_argument("-v", "--version", action="version", version=version)
    p.add_argument("command", nargs="?", metavar="COMMAND")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top = _global_parser()
    g = top.parse_args(argv)
    log.configure(g.log, g.log_format, g.debug)
    if g.command is None:
        top.print_help()
        return 0
    if g.command not in COMMANDS:
        log.error(f"unknown command {g.command!r}; see 'lading --help'")
        return 1
    module_name, helptext = COMMANDS[g.command]
    module = importlib.import_module(f"lading.cli.{module_name}")
    parser_class = getattr(module, "Parser", argparse.ArgumentParser)  # a group may exit its own way on bad flags
    sub = parser_class(prog=f"lading {g.command}", description=helptext, formatter_class=_formatter)
    module.add_arguments(g.command, sub)
    args = sub.parse_args(g.args, namespace=g)
    if g.systemd_cgroup:
        log.error("--systemd-cgroup is not supported yet: lading manages cgroups through cgroupfs")
        return 1
    try:
        return int(module.run(g.command, args))
    except LadingError as e:
        log.error(str(e))
        return 1
    except KeyboardInterrupt:
        return 130
