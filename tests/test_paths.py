"""lading.linux.paths and files.exists, the stand-ins for os.path and os.makedirs, give posixpath's results."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest

from lading.linux import files, paths

PATHS = [
    "",
    "/",
    "//",
    "///",
    "////a",
    "//a/b",
    "///a/b",
    "a",
    "a/",
    "a//b",
    "./a",
    "a/./b/.",
    "..",
    "../..",
    "../a/../../b",
    "/..",
    "/../a",
    "/a/b/../../..",
    "a/b/../../..",
    "/a/b/",
    "/a/b//",
    "/run/lading",
    "/sys/fs/cgroup/unified",
    ".",
    "./",
]


@pytest.mark.parametrize("path", PATHS)
def test_path_functions_are_posixpaths(path: str) -> None:
    assert paths.normpath(path) == posixpath.normpath(path)
    assert paths.dirname(path) == posixpath.dirname(path)
    assert paths.abspath(path) == posixpath.abspath(path)
    for other in PATHS:
        assert paths.join(path, other) == posixpath.join(path, other), other
        assert paths.join(path, other, path) == posixpath.join(path, other, path), other
        if path:
            assert paths.relpath(path, other or ".") == posixpath.relpath(path, other or "."), other
    if path:
        assert paths.relpath(path) == posixpath.relpath(path)
    else:
        with pytest.raises(ValueError, match="no path specified"):
            paths.relpath(path)


def test_realpath_resolves_links_as_posixpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "abs").symlink_to(tmp_path / "d")
    (tmp_path / "rel").symlink_to("d/e/..")
    (tmp_path / "d" / "up").symlink_to("../rel/e")
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    (tmp_path / "dangling").symlink_to("nowhere/x")
    monkeypatch.chdir(tmp_path / "d")
    names = ["abs", "rel", "d/up", "abs/up/..", "loop1/x", "dangling/y", "missing/../d", "abs/../rel/e"]
    for name in [*(str(tmp_path / n) for n in names), "up", "../rel", "e/../..", ".", ""]:
        assert paths.realpath(name) == posixpath.realpath(name), name


def test_exists_isdir_isfile(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    (tmp_path / "link").symlink_to("f")
    (tmp_path / "dlink").symlink_to(".")
    (tmp_path / "bad").symlink_to("missing")
    for name in ["f", "link", "dlink", "bad", "missing", ".", "f/x", "a\0b"]:
        p = str(tmp_path / name)
        assert (files.exists(p), paths.isdir(p), paths.isfile(p)) == (
            os.path.exists(p),
            os.path.isdir(p),
            os.path.isfile(p),
        ), name


def test_makedirs(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        paths.makedirs(str(tmp_path / "a" / "b" / "c"), 0o711)
        paths.makedirs(str(tmp_path / "a" / "b" / "c"), 0o711)  # exists: nothing to do
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o755  # parents: 0o777 less the umask
    assert (tmp_path / "a" / "b" / "c").stat().st_mode & 0o777 == 0o711
    (tmp_path / "file").write_text("")
    with pytest.raises(FileExistsError):
        paths.makedirs(str(tmp_path / "file"), 0o711)
    with pytest.raises(NotADirectoryError):
        paths.makedirs(str(tmp_path / "file" / "d"), 0o711)


def test_fsencode_fsdecode() -> None:
    assert paths.basename("/a/b") == posixpath.basename("/a/b") == "b"
    assert paths.basename("/a/") == posixpath.basename("/a/") == ""
    for name in ["plain", "caf\u00e9", "bad\udcff"]:
        assert paths.fsencode(name) == os.fsencode(name)
        assert paths.fsdecode(os.fsencode(name)) == os.fsdecode(os.fsencode(name))
