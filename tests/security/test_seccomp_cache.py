"""The runtime's cache of compiled seccomp filters (runtime/seccomp_cache.py): a container made
from the cache ends with exactly the program libseccomp compiles for its profile, as the kernel
holds it (read back with PTRACE_SECCOMP_GET_FILTER), and an entry that is corrupted, another
profile's, or not this user's alone is never loaded: it is compiled again and replaced."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from lading.digest import sha256_hex
from lading.runtime import seccomp_cache
from lading.runtime.seccomp import prepare
from lading.runtime.store import SECCOMP_CACHE
from tests.conftest import Bundle
from tests.security.default_profile import profile
from tests.security.support import installed_filters, seccomp
from tests.support import Lading

ALLOW_ALL = bytes.fromhex("060000000000ff7f")  # ret SECCOMP_RET_ALLOW: no confinement at all


def _running(lading: Lading, bundle: Bundle, cid: str) -> int:
    """Create and start a `sleep` container; the pid of its process."""
    bundle.write(args=["sleep", "600"])
    lading("create", "--bundle", str(bundle), cid)
    lading("start", cid)
    pid = int(json.loads(lading("state", cid).stdout)["pid"])
    lading.track(cid, pid)
    return pid


def _confinement(pid: int) -> tuple[list[bytes], list[str]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return installed_filters(pid), [line for line in status if line.startswith("Seccomp")]


def _entries(lading: Lading) -> list[Path]:
    cache = lading.root / SECCOMP_CACHE
    return sorted(cache.iterdir()) if cache.exists() else []


def _compiled(bundle: Bundle) -> bytes:
    return prepare(seccomp(**bundle.config["linux"]["seccomp"])).program


def test_a_filter_from_the_cache_is_the_one_libseccomp_compiles(lading: Lading, bundle: Bundle) -> None:
    bundle.config["linux"]["seccomp"] = profile()
    expected = _compiled(bundle)
    first = _running(lading, bundle, "first")  # compiled, and kept
    (entry,) = _entries(lading)
    assert entry.stat().st_mode & 0o777 == 0o600 and entry.parent.stat().st_mode & 0o777 == 0o700
    second = _running(lading, bundle, "second")  # from the cache
    assert _entries(lading) == [entry]
    assert _confinement(first) == _confinement(second) == ([expected], ["Seccomp:\t2", "Seccomp_filters:\t1"])
    bundle.config["linux"]["seccomp"]["defaultErrnoRet"] = 38  # another profile: another entry
    third = _running(lading, bundle, "third")
    assert len(_entries(lading)) == 2
    assert installed_filters(third) == [_compiled(bundle)] != [expected]
    for cid in ("first", "second", "third"):
        lading("delete", "--force", cid)


def _forged(entry: Path) -> bytes:
    """The entry with an allow-everything program and that program's own digest."""
    magic, key, flags, _, _ = entry.read_bytes().split(b"\n", 4)
    return b"\n".join([magic, key, flags, sha256_hex(ALLOW_ALL).encode(), ALLOW_ALL])


def _flipped(entry: Path) -> None:
    data = entry.read_bytes()
    entry.write_bytes(data[:-8] + ALLOW_ALL)  # the program changed, its digest not


def _truncated(entry: Path) -> None:
    entry.write_bytes(entry.read_bytes()[:-4])


def _another_profiles(entry: Path) -> None:
    """A sound entry of another key, put under this one's name."""
    magic, _, rest = entry.read_bytes().split(b"\n", 2)
    entry.write_bytes(b"\n".join([magic, b"0" * 64, rest]))


def _foreign_owner(entry: Path) -> None:
    entry.write_bytes(_forged(entry))
    os.chown(entry, 65534, 65534)


def _group_writable(entry: Path) -> None:
    entry.write_bytes(_forged(entry))
    entry.chmod(0o620)


def _a_link(entry: Path) -> None:
    elsewhere = entry.parent.parent.parent / "planted"  # beside the state root
    elsewhere.write_bytes(_forged(entry))
    entry.unlink()
    entry.symlink_to(elsewhere)


def _foreign_directory(entry: Path) -> None:
    entry.write_bytes(_forged(entry))
    entry.parent.chmod(0o777)


TAMPERED: dict[str, Callable[[Path], None]] = {
    "program changed, digest not": _flipped,
    "truncated": _truncated,
    "another profile's entry": _another_profiles,
    "another user's file": _foreign_owner,
    "group-writable file": _group_writable,
    "a symlink": _a_link,
    "a directory others may write": _foreign_directory,
}


@pytest.mark.parametrize("case", TAMPERED)
def test_an_entry_that_is_not_sound_is_never_loaded(lading: Lading, bundle: Bundle, case: str) -> None:
    bundle.config["linux"]["seccomp"] = profile()
    expected = _compiled(bundle)
    _running(lading, bundle, "first")
    (entry,) = _entries(lading)
    sound = entry.read_bytes()
    TAMPERED[case](entry)
    pid = _running(lading, bundle, "second")
    assert installed_filters(pid) == [expected]  # compiled again, not the planted program
    if case != "a directory others may write":  # the cache is not written in such a directory
        assert not entry.is_symlink() and entry.read_bytes() == sound  # and replaced by a sound entry
        assert entry.stat().st_uid == os.geteuid() and entry.stat().st_mode & 0o777 == 0o600
    for cid in ("first", "second"):
        lading("delete", "--force", cid)
    (lading.root.parent / "planted").unlink(missing_ok=True)  # a_link's


def test_the_cache_keeps_the_newest_entries(tmp_path: Path) -> None:
    """Profiles that every container makes up cannot fill the state root."""
    cache = tmp_path / SECCOMP_CACHE
    for i in range(seccomp_cache.MAX_ENTRIES):
        seccomp_cache.store(str(cache), f"{i:064x}", 0, ALLOW_ALL)
        os.utime(cache / f"{i:064x}", ns=(i * 10**9, i * 10**9))
    newest = "f" * 64
    seccomp_cache.store(str(cache), newest, 0, ALLOW_ALL)
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == seccomp_cache.MAX_ENTRIES and f"{0:064x}" not in names and newest in names
    assert seccomp_cache.load(str(cache), newest) == (0, ALLOW_ALL)
    shutil.rmtree(cache)
