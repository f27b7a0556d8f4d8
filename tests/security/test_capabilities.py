"""Capabilities on the real kernel: names, reading the sets, and the init's drop sequence,
each applied in a forked child (they cannot be undone)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lading.errors import LadingError
from lading.linux import capabilities as caps
from lading.runtime import capabilities
from lading.runtime.capabilities import CapPlan
from lading.runtime.security import Security
from tests.conftest import Bundle
from tests.security.support import exec_in_child, in_child, process, status_caps
from tests.support import BUSYBOX, Lading, Runc

ALL_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def every_set(*names: str) -> dict[str, list[str]]:
    return {s: list(names) for s in ALL_SETS}


def test_names_and_numbers_follow_the_kernel_headers() -> None:
    assert caps.NUMBERS["CAP_CHOWN"] == 0
    assert caps.NUMBERS["CAP_SYS_ADMIN"] == 21
    assert caps.NAMES[40] == "CAP_CHECKPOINT_RESTORE"
    assert caps.last_cap() < len(caps.NAMES), "the running kernel knows capabilities this table lacks"
    assert caps.name(63) == "CAP_63"
    assert caps.members(caps.mask([0, 5, 40])) == [0, 5, 40]


def test_reading_the_sets_agrees_with_proc_status() -> None:
    status = status_caps(Path("/proc/self/status").read_text())
    sets = caps.capget()
    assert (sets.effective, sets.permitted, sets.inheritable) == (
        status["CapEff"],
        status["CapPrm"],
        status["CapInh"],
    )
    assert caps.bounding() == status["CapBnd"]
    assert caps.ambient() == status["CapAmb"]


def test_absent_capabilities_mean_empty_sets() -> None:
    assert capabilities.prepare(process()) == CapPlan()
    assert capabilities.prepare(process(capabilities={"bounding": ["CAP_KILL"]})) == CapPlan(bounding=1 << 5)


def test_unknown_capabilities_are_skipped_with_one_warning(capsys: pytest.CaptureFixture[str]) -> None:
    plan = capabilities.prepare(
        process(capabilities={"bounding": ["CAP_CHOWN", "CAP_FOO"], "ambient": ["CAP_FOO", "cap_kill"]})
    )
    assert plan == CapPlan(bounding=1)
    err = capsys.readouterr().err
    assert err.count("level=warning") == 1
    msg = "config.json: $.process.capabilities: ignoring unknown or unavailable capabilities: CAP_FOO cap_kill"
    assert f'msg="{msg}"' in err


def test_keep_caps_and_no_new_privs() -> None:
    def child() -> tuple[bool, bool, bool, bool]:
        before = (caps.keep_caps(), caps.no_new_privs())
        caps.set_keep_caps(True)
        caps.set_no_new_privs()
        return (*before, caps.keep_caps(), caps.no_new_privs())

    assert in_child(child) == (False, False, True, True)


def test_dropping_cap_chown_makes_chown_fail_while_a_granted_cap_works(tmp_path: Path) -> None:
    f = tmp_path / "owned-by-1000"
    f.write_text("")
    os.chown(f, 1000, 1000)
    plan = capabilities.prepare(process(capabilities=every_set("CAP_FOWNER")))

    def child() -> dict[str, object]:
        capabilities.before_user_switch(plan)
        capabilities.after_user_switch(plan)
        out: dict[str, object] = {"sets": caps.capget(), "bounding": caps.bounding()}
        try:
            os.chown(f, 0, 0)
            out["chown"] = "ok"
        except OSError as e:
            out["chown"] = errno.errorcode[e.errno or 0]
        os.chmod(f, 0o640)  # CAP_FOWNER: change the mode of someone else's file
        out["chmod"] = "ok"
        return out

    fowner = 1 << caps.NUMBERS["CAP_FOWNER"]
    assert in_child(child) == {
        "sets": caps.CapSets(fowner, fowner, fowner),
        "bounding": fowner,
        "chown": "EPERM",
        "chmod": "ok",
    }
    assert f.stat().st_mode & 0o777 == 0o640
    assert f.stat().st_uid == 1000

    # and the same holds for a program exec'd afterwards (uid 0: it gets the bounding set)
    def setup() -> None:
        capabilities.before_user_switch(plan)
        capabilities.after_user_switch(plan)

    script = f"chown 0:0 {f}; echo chown=$?; chmod 600 {f}; echo chmod=$?"
    code, out, err = exec_in_child(setup, [BUSYBOX, "sh", "-c", script])
    assert (code, out) == (0, "chown=1\nchmod=0\n"), err


def test_ambient_capabilities_reach_a_non_root_process() -> None:
    proc = process(
        user={"uid": 1000, "gid": 1000},
        capabilities=every_set("CAP_NET_RAW", "CAP_CHOWN"),
        noNewPrivileges=True,
    )
    security = Security(proc, None)
    code, out, err = exec_in_child(
        lambda: security.apply(proc, True), [BUSYBOX, "sh", "-c", "id -u; id -g; grep Cap /proc/self/status"]
    )
    assert code == 0, err
    uid, gid, rest = out.split("\n", 2)
    assert (uid, gid) == ("1000", "1000")
    want = 1 << caps.NUMBERS["CAP_CHOWN"] | 1 << caps.NUMBERS["CAP_NET_RAW"]
    assert status_caps(rest) == {
        "CapInh": want,
        "CapPrm": want,
        "CapEff": want,
        "CapBnd": want,
        "CapAmb": want,
    }


def test_a_non_root_process_without_ambient_caps_has_none_after_exec() -> None:
    proc = process(
        user={"uid": 1000, "gid": 1000},
        capabilities={"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
    )
    security = Security(proc, None)
    code, out, err = exec_in_child(lambda: security.apply(proc, True), [BUSYBOX, "grep", "Cap", "/proc/self/status"])
    assert code == 0, err
    assert status_caps(out) == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": 1, "CapAmb": 0}


def _lacking() -> str:
    missing = next((c for c in range(caps.last_cap() + 1) if not caps.bounding() >> c & 1), None)
    if missing is None:
        pytest.skip("this process's bounding set has every capability")
    return caps.name(missing)


@pytest.mark.parametrize("which", ["effective", "permitted", "inheritable"])
def test_a_capability_the_runtime_lacks_is_refused(which: str) -> None:
    name = _lacking()
    with pytest.raises(LadingError) as e:
        capabilities.prepare(process(capabilities={which: ["CAP_KILL", name]}))
    assert str(e.value) == (
        f"config.json: $.process.capabilities.{which}: cannot grant {name}: not in the runtime's own bounding set"
    )


def test_an_ambient_or_bounding_capability_the_runtime_lacks_is_left_out() -> None:
    name = _lacking()
    plan = capabilities.prepare(process(capabilities={"bounding": [name], "ambient": [name]}))
    assert plan.ambient == plan.bounding == 1 << caps.NUMBERS[name]  # nothing to raise, nothing kept


@pytest.mark.parametrize("which", ["effective", "inheritable", "ambient"])
def test_create_with_a_capability_the_runtime_lacks(runtime: Lading, bundle: Bundle, cid: str, which: str) -> None:
    """Calibrated on runc 1.1.5: effective, permitted or inheritable fail create ("unable to
    apply caps"), an ambient one is quietly not raised."""
    name = _lacking()
    bundle.config["process"]["capabilities"].setdefault(which, []).append(name)
    bundle.write(args=["true"])
    p = runtime("run", "--bundle", str(bundle), cid, check=False)
    if which == "ambient":
        assert p.returncode == 0, p.stderr
        return
    assert p.returncode == 1
    if isinstance(runtime, Runc):
        assert "unable to apply caps: operation not permitted" in p.stderr
    else:
        assert p.stderr.strip().splitlines() == [
            f"config.json: $.process.capabilities.{which}: cannot grant {name}: not in the runtime's own bounding set"
        ]


def test_an_unknown_capability_is_a_warning_as_with_runc(runtime: Lading, bundle: Bundle, cid: str) -> None:
    """config.md: a value that cannot be mapped MUST be logged as a warning and SHOULD NOT fail;
    runc 1.1.5 does exactly that."""
    bundle.config["process"]["capabilities"]["bounding"].append("CAP_FOO")
    bundle.write(args=["true"])
    p = runtime("run", "--bundle", str(bundle), cid, check=False)
    assert p.returncode == 0, p.stderr
    assert "CAP_FOO" in p.stderr and "level=warning" in p.stderr


def test_ambient_capabilities_that_are_not_inheritable_are_not_raised() -> None:
    proc = process(
        user={"uid": 1000, "gid": 1000},
        capabilities={"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
    )
    security = Security(proc, None)
    code, out, err = exec_in_child(lambda: security.apply(proc, True), [BUSYBOX, "grep", "CapAmb", "/proc/self/status"])
    assert code == 0, err
    assert status_caps(out) == {"CapAmb": 0}
    assert "ambient" not in err  # runc's default config asks for it, and runc says nothing
