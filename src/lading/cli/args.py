"""The command-line parser of the runtime verbs: the part of argparse that runc's flags need.

argparse imports re, gettext, locale and warnings (several milliseconds, more than some verbs'
whole work), and podman and containerd start the runtime once per verb. This parser has
argparse's ``add_argument`` interface for what the verbs use: flags (``store_true``), options
with a value (optionally ``type=int``, ``choices``, ``action="append"``), positionals (optionally
``nargs="?"`` or ``REMAINDER``), ``-h``/``--help`` and ``--version``. Options may come between
positionals, ``--opt=value`` and ``-oVALUE`` work, short flags combine (``-dt``), and ``--``
ends the options. A bad command line is a `UsageError`: one line naming the flag or argument.
The command groups with subcommands (``lading image``) keep argparse, which they import themselves.
"""

from __future__ import annotations

import sys

from lading.errors import LadingError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

REMAINDER = "..."
SUPPRESS = "==SUPPRESS=="


class UsageError(LadingError):
    """A command line the parser cannot take (exit status 2, as argparse's)."""


class Namespace:
    """The parsed values, as attributes."""

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


class _Argument:
    def __init__(
        self,
        names: tuple[str, ...],
        dest: str,
        action: str | None,
        default: Any,
        type: Any,
        choices: list[str] | None,
        help: str | None,
        metavar: str | None,
        nargs: str | None,
        version: str | None,
    ) -> None:
        self.names, self.dest, self.action, self.default = names, dest, action, default
        self.type, self.choices, self.help, self.metavar, self.nargs = type, choices, help, metavar, nargs
        self.version = version

    @property
    def takes_value(self) -> bool:
        return self.action not in ("store_true", "help", "version")

    def label(self) -> str:
        if not self.names[0].startswith("-"):
            return self.metavar or self.dest.upper()
        return "/".join(self.names)


class Parser:
    def __init__(self, prog: str, description: str = "", epilog: str = "") -> None:
        self.prog, self.description, self.epilog = prog, description, epilog
        self._options: dict[str, _Argument] = {}
        self._ordered: list[_Argument] = []
        self._positionals: list[_Argument] = []
        self.add_argument("-h", "--help", action="help", help="show this help message and exit")

    def add_argument(
        self,
        *names: str,
        action: str | None = None,
        default: Any = None,
        type: Any = None,
        choices: list[str] | None = None,
        help: str | None = None,
        metavar: str | None = None,
        dest: str | None = None,
        nargs: str | None = None,
        version: str | None = None,
    ) -> None:
        if dest is None:
            long = next((n for n in names if n.startswith("--")), names[0])
            dest = long.lstrip("-").replace("-", "_")
        if action == "store_true" and default is None:
            default = False
        arg = _Argument(names, dest, action, default, type, choices, help, metavar, nargs, version)
        self._ordered.append(arg)
        if names[0].startswith("-"):
            for name in names:
                self._options[name] = arg
        else:
            self._positionals.append(arg)

    def parse_args(self, argv: list[str], namespace: Namespace | None = None) -> Namespace:
        ns = Namespace() if namespace is None else namespace
        for a in self._ordered:
            if a.action not in ("help", "version"):
                setattr(ns, a.dest, list(a.default or ()) if a.action == "append" else a.default)
        positionals: list[str] = []
        i = 0
        while i < len(argv):
            word = argv[i]
            i += 1
            if self._remainder_reached(positionals):
                positionals += argv[i - 1 :]
                break
            if word == "--":
                positionals += argv[i:]
                break
            if not word.startswith("-") or word == "-":
                positionals.append(word)
                continue
            name, value = word, None
            if word.startswith("--") and "=" in word:
                name, value = word.split("=", 1)
            elif not word.startswith("--") and len(word) > 2:
                name, value = word[:2], word[2:]
                if name in self._options and not self._options[name].takes_value:
                    argv = [*argv[:i], "-" + value, *argv[i:]]  # combined short flags: -dt
                    value = None
            arg = self._options.get(name)
            if arg is None:
                raise UsageError(f"{self.prog}: unknown flag {name}")
            if arg.takes_value and value is None:
                if i >= len(argv):
                    raise UsageError(f"{self.prog}: flag {name} needs a value")
                value = argv[i]
                i += 1
            self._store(ns, arg, name, value)
        self._assign(ns, positionals)
        return ns

    def _remainder_reached(self, positionals: list[str]) -> bool:
        n = len(positionals)
        return n < len(self._positionals) and self._positionals[n].nargs == REMAINDER

    def _store(self, ns: Namespace, arg: _Argument, name: str, value: str | None) -> None:
        if arg.action == "help":
            sys.stdout.write(self.format_help())
            raise SystemExit(0)
        if arg.action == "version":
            sys.stdout.write(f"{arg.version}\n")
            raise SystemExit(0)
        if arg.action == "store_true":
            if value is not None:
                raise UsageError(f"{self.prog}: flag {name} takes no value")
            setattr(ns, arg.dest, True)
            return
        assert value is not None
        converted: Any = self._convert(arg, name, value)
        if arg.action == "append":
            getattr(ns, arg.dest).append(converted)
        else:
            setattr(ns, arg.dest, converted)

    def _convert(self, arg: _Argument, name: str, value: str) -> Any:
        if arg.choices is not None and value not in arg.choices:
            raise UsageError(f"{self.prog}: {name}: {value!r} is not one of {', '.join(arg.choices)}")
        if arg.type is int:
            try:
                return int(value)
            except ValueError:
                raise UsageError(f"{self.prog}: {name}: expected an integer, got {value!r}") from None
        return value

    def _assign(self, ns: Namespace, words: list[str]) -> None:
        for arg in self._positionals:
            if arg.nargs == REMAINDER:
                setattr(ns, arg.dest, words)
                words = []
            elif words:
                setattr(ns, arg.dest, self._convert(arg, arg.label(), words.pop(0)))
            elif arg.nargs != "?":
                raise UsageError(f"{self.prog}: missing argument {arg.label()}")
        if words:
            raise UsageError(f"{self.prog}: unexpected argument {words[0]!r}")

    def format_help(self) -> str:
        usage = " ".join(
            [self.prog, "[options]"]
            + [
                f"[{a.label()}]" if a.nargs == "?" else a.label() + ("..." if a.nargs else "")
                for a in self._positionals
            ]
        )
        out = [f"usage: {usage}\n"]
        if self.description:
            out.append(f"\n{self.description}\n")
        shown = [a for a in self._ordered if a.help != SUPPRESS]
        rows = []
        for a in shown:
            left = ", ".join(a.names) if a.names[0].startswith("-") else a.label()
            if a.names[0].startswith("-") and a.takes_value:
                left += " " + (a.metavar or a.dest.upper())
            rows.append((left, a.help or ""))
        width = max(len(left) for left, _ in rows)
        out.append("\narguments:\n")
        out += [f"  {left:<{width}}  {text}".rstrip() + "\n" for left, text in rows]
        if self.epilog:
            out.append(f"\n{self.epilog}\n")
        return "".join(out)
