"""Fixtures for driving lading through real clients: a local OCI image, podman and containerd.

Every client test is parametrized by runtime: ``lading`` (skipped until the runtime verbs exist)
and Debian's ``runc``, which checks the tests themselves and runs only with LADING_TEST_RUNC=1.
A test that needs a verb lading does not have yet is marked ``@pytest.mark.verbs("exec", ...)``
and is an expected failure for lading until that verb is in the command table; a known gap that
is not a missing verb is marked ``@pytest.mark.lading_xfail("why")``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.containerd import NAMESPACE, Containerd
from tests.clients.image import build_oci_archive
from tests.clients.podman import Podman, loaded_podman
from tests.clients.runtimes import Runtime, lading_has_runtime, lading_has_verb, make_runtime
from tests.support import runtime_entries

RUNTIMES = [
    pytest.param(
        "lading",
        marks=pytest.mark.skipif(not lading_has_runtime(), reason="lading's runtime verbs are not built yet"),
    ),
    pytest.param(
        "runc",
        marks=pytest.mark.skipif(
            os.environ.get("LADING_TEST_RUNC") != "1", reason="reference runtime; set LADING_TEST_RUNC=1"
        ),
    ),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "verbs(*names): runtime verbs the test needs (xfail for lading until built)")
    config.addinivalue_line("markers", "lading_xfail(reason): a known gap in lading (xfail for lading only)")


@pytest.fixture(autouse=True)
def _xfail_missing_verbs(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("verbs")
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("runtime_name") != "lading":
        return
    missing = [v for v in marker.args if not lading_has_verb(v)] if marker else []
    if missing:
        request.applymarker(pytest.mark.xfail(reason=f"lading has no {', '.join(missing)} yet", strict=False))
    for known in request.node.iter_markers("lading_xfail"):
        request.applymarker(pytest.mark.xfail(reason=known.args[0], strict=False))


@pytest.fixture(scope="session")
def oci_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("image")
    return build_oci_archive(work / "busybox.tar", work)


@pytest.fixture(scope="session", params=RUNTIMES)
def runtime_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def runtime(runtime_name: str, tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """The runtime containerd's tests use (podman gets its own, with its own state root)."""
    return make_runtime(runtime_name, tmp_path_factory.mktemp(f"runtime-{runtime_name}"))


@pytest.fixture(scope="session")
def podman_session(runtime_name: str, oci_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    with loaded_podman(tmp_path_factory.mktemp(f"podman-{runtime_name}"), runtime_name, oci_archive) as podman:
        yield podman


@pytest.fixture
def podman(podman_session: Podman) -> Iterator[Podman]:
    """podman with the image loaded; the test's containers are removed and checked for leftovers."""
    podman_session.runtime.reset_calls()
    yield podman_session
    podman_session.remove_containers()
    assert podman_session("ps", "--all", "--quiet").stdout == ""
    assert podman_session.runtime.containers() == [], "the runtime kept state for removed containers"


@pytest.fixture(scope="session")
def containerd_session(oci_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Containerd]:
    daemon = Containerd(tmp_path_factory.mktemp("containerd"))
    try:
        daemon.import_image(oci_archive)
        yield daemon
    finally:
        left = daemon.close()
        assert not left, f"containerd left behind: {left}"


@pytest.fixture
def containerd(containerd_session: Containerd, runtime: Runtime) -> Iterator[Containerd]:
    """The shared daemon; the test's containers are removed and the runtime's state checked."""
    runtime.reset_calls()
    yield containerd_session
    containerd_session.remove_containers()
    assert containerd_session.ctr("containers", "list", "--quiet").stdout == ""
    state = runtime.root / NAMESPACE  # the shim runs the runtime with --root <runc-root>/<namespace>
    assert runtime_entries(state) == [], "the runtime kept state for deleted containers"
