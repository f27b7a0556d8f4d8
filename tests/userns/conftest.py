"""Fixtures: one unprivileged test user per session, and per test a `lading` run as that user
with a bundle in its home (what a rootless user has), checked for leaks like the root runner."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.spec.defaults import default_config
from tests.conftest import Bundle
from tests.image.conftest import registry, test_images  # noqa: F401 (fixtures the image tests share)
from tests.support import Lading, open_fds
from tests.userns.support import UnprivilegedUser, create_user, remove_user, user_python


class UserLading(Lading):
    """`lading` run through an interpreter the test user can reach (see user_python)."""

    def argv(self) -> list[str]:
        return [user_python(), "-m", "lading"]


@pytest.fixture(scope="session")
def unprivileged() -> Iterator[UnprivilegedUser]:
    user = create_user()
    if user.run(user_python(), "-c", "import lading, msgspec", check=False).returncode != 0:
        remove_user(user)
        pytest.fail("the test user cannot import lading and msgspec: the checkout must be readable by other users")
    yield user
    left = remove_user(user)
    assert not left, f"the rootless tests left behind: {left}"


@pytest.fixture
def user_without_ranges() -> Iterator[UnprivilegedUser]:
    """A user with no /etc/subuid and /etc/subgid entries (made for the test, removed after)."""
    user = create_user(subordinate_ids=False)
    yield user
    left = remove_user(user)
    assert not left, f"the test left behind: {left}"


@pytest.fixture
def user_dir(unprivileged: UnprivilegedUser) -> Iterator[Path]:
    """A fresh directory in the test user's home, owned by it; removed after the test."""
    path = unprivileged.home / f"t-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    unprivileged.own(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def rootless(unprivileged: UnprivilegedUser, user_dir: Path) -> Iterator[Lading]:
    """`lading` run by the test user with a private --root; fails the test if anything leaks."""
    runner = UserLading(user_dir, prefix=unprivileged.prefix())
    fds_before = open_fds()
    yield runner
    leaks = runner.leftovers()
    runner.cleanup()
    assert not leaks, f"the test left behind: {leaks}"
    assert not open_fds() - fds_before


@pytest.fixture
def user_bundle(unprivileged: UnprivilegedUser, user_dir: Path, busybox_template: Path) -> Bundle:
    """The busybox bundle, owned by the test user, with the config `lading spec --rootless`
    writes for that user (its own uid and gid as the container's root)."""
    b = Bundle(user_dir / "bundle")
    b.path.mkdir()
    shutil.copytree(busybox_template, b.rootfs, symlinks=True)
    unprivileged.own(b.path)
    b.config = default_config(rootless=True)
    b.config["process"]["terminal"] = False
    b.config["linux"]["uidMappings"][0]["hostID"] = unprivileged.uid
    b.config["linux"]["gidMappings"][0]["hostID"] = unprivileged.gid
    return b
