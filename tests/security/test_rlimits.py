"""process.rlimits: validation with JSON paths, and prlimit on the real kernel in a child."""

from __future__ import annotations

import pytest

from lading.errors import LadingError
from lading.linux import capabilities as caps
from lading.linux import rlimits as lr
from lading.runtime import rlimits
from tests.security.support import in_child, process

NOFILE = lr.NUMBERS["RLIMIT_NOFILE"]


def limits(*entries: tuple[str, int, int]) -> list[rlimits.Rlimit]:
    return rlimits.prepare(process(rlimits=[{"type": t, "soft": s, "hard": h} for t, s, h in entries]))


def test_names_and_ranges_are_checked_with_the_json_path() -> None:
    with pytest.raises(LadingError) as e:
        limits(("RLIMIT_NOFILE", 1, 1), ("RLIMIT_FOO", 1, 1))
    assert str(e.value) == 'config.json: $.process.rlimits[1].type: unknown rlimit "RLIMIT_FOO"'
    with pytest.raises(LadingError) as e:
        limits(("RLIMIT_CORE", 10, 5))
    assert str(e.value) == "config.json: $.process.rlimits[0]: soft limit 10 is above the hard limit 5"
    assert limits() == []


def test_limits_are_set_exactly_including_unlimited() -> None:
    wanted = limits(("RLIMIT_NOFILE", 100, 200), ("RLIMIT_CORE", 0, lr.INFINITY), ("RLIMIT_NICE", 0, 0))

    def child() -> list[tuple[int, int]]:
        rlimits.apply(wanted)
        return [lr.get_limit(r.resource) for r in wanted]

    assert in_child(child) == [(100, 200), (0, lr.INFINITY), (0, 0)]


@pytest.mark.skipif(
    bool(caps.capget().effective >> caps.NUMBERS["CAP_SYS_RESOURCE"] & 1),
    reason="this process may raise hard limits",
)
def test_a_hard_limit_that_cannot_be_raised_is_named_with_its_values() -> None:
    def child() -> None:
        lr.set_limit(NOFILE, 1000, 1000)
        rlimits.apply(limits(("RLIMIT_NOFILE", 1024, 2048)))

    with pytest.raises(LadingError) as e:
        in_child(child)
    assert str(e.value) == (
        "cannot set RLIMIT_NOFILE to soft 1024, hard 2048 (now soft 1000, hard 1000): "
        "raising the hard limit needs CAP_SYS_RESOURCE"
    )


def test_a_nofile_limit_above_nr_open_says_so() -> None:
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    soft, hard = lr.get_limit(NOFILE)

    def child() -> None:
        rlimits.apply(limits(("RLIMIT_NOFILE", 1, nr_open + 1)))

    with pytest.raises(LadingError) as e:
        in_child(child)
    assert str(e.value) == (
        f"cannot set RLIMIT_NOFILE to soft 1, hard {nr_open + 1} (now soft {soft}, hard {hard}): "
        f"the hard limit is above fs.nr_open ({nr_open})"
    )
