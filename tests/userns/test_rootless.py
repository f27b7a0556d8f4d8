"""lading run by an unprivileged user, beside runc run by the same user on the same bundle."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Bundle
from tests.support import Lading
from tests.userns.support import UnprivilegedUser, user_python


def test_rootless_run_maps_the_user_to_root(
    rootless: Lading, user_bundle: Bundle, unprivileged: UnprivilegedUser
) -> None:
    user_bundle.config["root"]["readonly"] = False
    user_bundle.write(args=["sh", "-c", "id; touch /tmp/made-inside"])
    p = rootless("run", "--bundle", str(user_bundle), "c1")
    assert "uid=0(root) gid=0(root)" in p.stdout
    made = user_bundle.rootfs / "tmp" / "made-inside"
    assert (made.stat().st_uid, made.stat().st_gid) == (unprivileged.uid, unprivileged.gid)


def test_rootless_state_root_follows_xdg_runtime_dir(unprivileged: UnprivilegedUser, user_dir: Path) -> None:
    p = unprivileged.run(user_python(), "-m", "lading", "list", "--quiet")
    assert p.stdout == ""
    made = unprivileged.runtime_dir / "lading"
    assert made.is_dir() and made.stat().st_uid == unprivileged.uid
