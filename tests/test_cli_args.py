"""lading.cli.args: the parser of the runtime verbs takes what argparse took for them."""

from __future__ import annotations

import pytest

from lading.cli.args import REMAINDER, Parser, UsageError


def exec_like() -> Parser:
    p = Parser("lading exec", description="run a process")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("-f", "--format", default="table", choices=["table", "json"])
    p.add_argument("--cpu-share", "--cpu-shares", dest="cpu_share", default=None)
    p.add_argument("container_id", metavar="ID")
    p.add_argument("command", nargs=REMAINDER)
    return p


def test_flags_values_and_remainder() -> None:
    a = exec_like().parse_args(["-e", "A=1", "--env=B=2", "-dt", "-g", "5", "-g7", "c1", "sh", "-c", "echo -e"])
    assert a.env == ["A=1", "B=2"] and a.detach and a.tty and a.additional_gids == [5, 7]
    assert a.container_id == "c1" and a.command == ["sh", "-c", "echo -e"]
    assert a.preserve_fds == 0 and a.format == "table" and a.cpu_share is None


def test_options_between_positionals_and_after_double_dash() -> None:
    p = Parser("lading kill")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("container_id", metavar="ID")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    a = p.parse_args(["c1", "--all", "KILL"])
    assert (a.container_id, a.all, a.signal) == ("c1", True, "KILL")
    assert p.parse_args(["c1"]).signal == "SIGTERM"
    assert p.parse_args(["--", "-c1"]).container_id == "-c1"


def test_aliases_and_dest() -> None:
    assert exec_like().parse_args(["--cpu-shares", "512", "c"]).cpu_share == "512"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "lading exec: missing argument ID"),
        (["--bogus", "c"], "lading exec: unknown flag --bogus"),
        (["c", "--preserve-fds"], None),  # after ID: part of the command
        (["--preserve-fds"], "lading exec: flag --preserve-fds needs a value"),
        (["--preserve-fds", "x", "c"], "lading exec: --preserve-fds: expected an integer, got 'x'"),
        (["--format", "yaml", "c"], "lading exec: --format: 'yaml' is not one of table, json"),
        (["--tty=yes", "c"], "lading exec: flag --tty takes no value"),
    ],
)
def test_bad_command_lines_are_one_line(argv: list[str], message: str | None) -> None:
    if message is None:
        exec_like().parse_args(argv)
        return
    with pytest.raises(UsageError) as e:
        exec_like().parse_args(argv)
    assert str(e.value) == message


def test_extra_positional_is_refused() -> None:
    p = Parser("lading state")
    p.add_argument("container_id", metavar="ID")
    with pytest.raises(UsageError) as e:
        p.parse_args(["a", "b"])
    assert str(e.value) == "lading state: unexpected argument 'b'"


def test_help_lists_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        exec_like().parse_args(["--help", "c"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: lading exec [options] ID COMMAND...\n")
    for flag in ("--env ENV", "-t, --tty", "--additional-gids", "--preserve-fds", "--cpu-share, --cpu-shares"):
        assert flag in out
