"""Applying layers: every file type and attribute, whiteouts, and hand-crafted hostile layers
that try to write, link or delete outside the target directory."""

from __future__ import annotations

import errno
import gzip
import io
import os
import stat
from pathlib import Path

import pytest

from lading.errors import LadingError
from lading.image.unpack import Unpacker
from tests.image.oci import E, compress, sha, tar_bytes


def apply(root: Path, *layers: list[E] | bytes, compression: str = "") -> None:
    with Unpacker(str(root)) as u:
        for i, layer in enumerate(layers):
            data = layer if isinstance(layer, bytes) else tar_bytes(layer)
            u.apply(io.BytesIO(compress(data, compression)), compression, f"layer {i}", sha(data))


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the target that no layer may touch."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_text("precious\n")
    return d


def untouched(outside: Path) -> None:
    assert sorted(os.listdir(outside)) == ["victim"]
    assert (outside / "victim").read_text() == "precious\n"
    assert (outside / "victim").stat().st_nlink == 1


def test_file_types_and_attributes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(
        root,
        [
            E("./", "dir", mode=0o755),
            E("usr/bin", "dir", mode=0o711, uid=2, gid=3, mtime=1_500_000_000),
            E("usr/bin/su", data=b"#!/bin/sh\n", mode=0o4755),
            E("usr/bin/tool", data=b"x" * 3_000_000, mode=0o750, uid=1000, gid=1001, mtime=1_234_567_890),
            E("usr/bin/tool2", "hardlink", link="usr/bin/tool"),
            E("usr/bin/sh", "symlink", link="/bin/busybox", mtime=1_111_111_111),
            E("dev/null", "char", mode=0o666, dev=(1, 3)),
            E("dev/loop9", "block", mode=0o660, dev=(7, 9)),
            E("run/fifo", "fifo", mode=0o640),
            E("xattr", data=b"x", xattrs={"user.lading": "value"}),
            E("caps", data=b"y", mode=0o755, xattrs={"trusted.lading": "t"}),
        ],
    )
    bin_ = root / "usr" / "bin"
    st = bin_.stat()
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid, st.st_mtime) == (0o711, 2, 3, 1_500_000_000)
    assert (bin_ / "su").stat().st_mode & 0o7777 == 0o4755
    st = (bin_ / "tool").stat()
    assert (st.st_size, st.st_mode & 0o7777, st.st_uid, st.st_gid) == (3_000_000, 0o750, 1000, 1001)
    assert st.st_mtime == 1_234_567_890
    assert (bin_ / "tool2").stat().st_ino == st.st_ino and st.st_nlink == 2
    assert os.readlink(bin_ / "sh") == "/bin/busybox"
    assert os.lstat(bin_ / "sh").st_mtime == 1_111_111_111
    dev = os.lstat(root / "dev" / "null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    blk = os.lstat(root / "dev" / "loop9")
    assert stat.S_ISBLK(blk.st_mode) and blk.st_mode & 0o777 == 0o660
    assert stat.S_ISFIFO(os.lstat(root / "run" / "fifo").st_mode)
    try:
        assert os.getxattr(root / "xattr", "user.lading") == b"value"
    except OSError as e:
        if e.errno != errno.ENOTSUP:
            raise
    assert os.getxattr(root / "caps", "trusted.lading") == b"t"
    assert (root / "dev").stat().st_mode & 0o777 == 0o755  # implied parents


def test_whiteouts_only_hide_lower_layers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(
        root,
        [
            E("a/x", data=b"1"),
            E("a/y", data=b"2"),
            E("b/z", data=b"3"),
            E("c", data=b"4"),
            E("d/e/f", data=b"5"),
        ],
        [
            E("a/new", data=b"new"),  # before the opaque marker in the same layer: kept
            E("a/.wh..wh..opq"),
            E("b/.wh.z"),
            E(".wh.c"),
            E(".wh.d"),  # a whole directory
            E("c2", data=b"c2"),
            E(".wh.c2"),  # same layer: does not remove c2
            E(".wh.absent"),
        ],
    )
    assert sorted(os.listdir(root)) == ["a", "b", "c2"]
    assert sorted(os.listdir(root / "a")) == ["new"]
    assert os.listdir(root / "b") == []


def test_replacing_entries_across_layers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(
        root,
        [E("p/q", data=b"file"), E("dir/inner", data=b"x"), E("f", data=b"old", mode=0o600)],
        [E("p", data=b"now a file"), E("dir", "symlink", link="p"), E("f", data=b"new", mode=0o644)],
    )
    assert (root / "p").read_bytes() == b"now a file"
    assert os.readlink(root / "dir") == "p"
    assert (root / "f").read_bytes() == b"new" and (root / "f").stat().st_mode & 0o777 == 0o644


def test_compressions_and_long_names(tmp_path: Path) -> None:
    long = "d" * 120 + "/" + "n" * 150
    layer = tar_bytes([E(long, data=b"long"), E("caf\udce9", data=b"latin-1 name")])
    for how in ("gzip", "zstd", ""):
        root = tmp_path / f"root-{how or 'plain'}"
        apply(root, layer, compression=how)
        assert (root / long).read_bytes() == b"long"
        assert (root / os.fsdecode(b"caf\xe9")).read_bytes() == b"latin-1 name"
    # a multi-member gzip stream (as pigz and concatenation produce)
    half = len(layer) // 2
    multi = gzip.compress(layer[:half]) + gzip.compress(layer[half:])
    with Unpacker(str(tmp_path / "multi")) as u:
        u.apply(io.BytesIO(multi), "gzip", "multi", sha(layer))
    assert (tmp_path / "multi" / long).read_bytes() == b"long"


def test_diff_id_and_corrupt_layers(tmp_path: Path) -> None:
    data = tar_bytes([E("a", data=b"a")])
    with (
        Unpacker(str(tmp_path / "r")) as u,
        pytest.raises(LadingError, match="image config says sha256:0000"),
    ):
        u.apply(io.BytesIO(data), "", "layer x", "sha256:" + "0" * 64)
    with Unpacker(str(tmp_path / "r2")) as u, pytest.raises(LadingError, match="layer y: not a tar archive"):
        u.apply(io.BytesIO(b"hello world" * 100), "", "layer y")
    with Unpacker(str(tmp_path / "r3")) as u, pytest.raises(LadingError, match="layer z: unexpected end"):
        u.apply(io.BytesIO(data[:700]), "", "layer z")
    with Unpacker(str(tmp_path / "r4")) as u, pytest.raises(LadingError, match="corrupt gzip data"):
        u.apply(io.BytesIO(b"\x1f\x8b\x08\x00garbage" * 10), "gzip", "layer g")


# --- hostile layers ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "./../../../../tmp/escape"])
def test_dotdot_is_rejected(tmp_path: Path, outside: Path, name: str) -> None:
    with pytest.raises(LadingError, match=r"entry '.*' points outside the root directory"):
        apply(tmp_path / "root", [E(name, data=b"x")])
    assert not (tmp_path / "escape").exists()
    untouched(outside)


def test_absolute_paths_are_contained(tmp_path: Path, outside: Path) -> None:
    apply(tmp_path / "root", [E(f"{outside}/victim", data=b"pwned"), E("/abs", data=b"a")])
    assert (tmp_path / "root" / str(outside).lstrip("/") / "victim").read_bytes() == b"pwned"
    assert (tmp_path / "root" / "abs").read_bytes() == b"a"
    untouched(outside)


def test_entries_below_symlinks_stay_inside(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    apply(
        root,
        [
            E("abs", "symlink", link=str(outside)),
            E("rel", "symlink", link="../../../../../../.." + str(outside)),
            E("up", "symlink", link="../.."),
        ],
        [
            E("abs/victim", data=b"pwned"),
            E("rel/new", data=b"pwned"),
            E("up/escaped", data=b"pwned"),
            E("abs/sub", "dir"),
        ],
    )
    untouched(outside)
    inner = root / str(outside).lstrip("/")
    assert (inner / "victim").read_bytes() == b"pwned" and (inner / "new").read_bytes() == b"pwned"
    assert (inner / "sub").is_dir()
    assert (root / "escaped").read_bytes() == b"pwned"
    assert not (tmp_path / "escaped").exists()


def test_symlink_in_the_same_layer_is_contained(tmp_path: Path, outside: Path) -> None:
    apply(tmp_path / "root", [E("evil", "symlink", link=str(outside)), E("evil/victim", data=b"pwned")])
    untouched(outside)


def test_replacing_a_symlink_never_writes_through_it(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "root"
    apply(
        root,
        [E("f", "symlink", link=f"{outside}/victim"), E("d", "symlink", link=str(outside))],
        [E("f", data=b"pwned", mode=0o777), E("d", "dir", mode=0o777), E("d/victim", data=b"pwned")],
    )
    untouched(outside)
    assert (root / "f").read_bytes() == b"pwned" and not (root / "f").is_symlink()
    assert (outside.stat().st_mode & 0o777) != 0o777


def test_hardlinks_cannot_reach_outside(tmp_path: Path, outside: Path) -> None:
    with pytest.raises(LadingError, match="points outside the root"):
        apply(tmp_path / "r1", [E("hl", "hardlink", link="../outside/victim")])
    with pytest.raises(LadingError, match="which does not exist"):
        apply(tmp_path / "r2", [E("hl", "hardlink", link=f"{outside}/victim")])
    with pytest.raises(LadingError, match="which does not exist"):
        apply(tmp_path / "r3", [E("l", "symlink", link=str(outside)), E("hl", "hardlink", link="l/victim")])
    untouched(outside)


def test_whiteouts_cannot_delete_outside(tmp_path: Path, outside: Path) -> None:
    with pytest.raises(LadingError, match="points outside the root"):
        apply(tmp_path / "r1", [E("../outside/.wh.victim")])
    with pytest.raises(LadingError, match="names no file"):
        apply(tmp_path / "r2", [E("a", "dir"), E("a/.wh..."), E("x")])
    apply(
        tmp_path / "r3",
        [
            E("l", "symlink", link=str(outside)),
            E("m", "symlink", link="../../.."),
            E("n", "symlink", link=str(outside)),
        ],
        [E("l/.wh.victim"), E("m/outside/.wh.victim"), E("n/.wh..wh..opq"), E(".wh.n")],
    )
    untouched(outside)
    assert not (tmp_path / "r3" / "n").exists()


def test_unpack_cli_refuses_hostile_image(tmp_path: Path, image) -> None:
    from tests.image.oci import Image, Layout

    lay = Layout(tmp_path / "layout")
    lay.add(
        "evil",
        Image([tar_bytes([E("ok", data=b"x"), E("../../../escape", data=b"x")])], config={"Cmd": ["x"]}),
    )
    image("import", str(tmp_path / "layout"), "localhost/evil:1")
    p = image("unpack", "localhost/evil:1", str(tmp_path / "out"), check=False)
    assert p.returncode == 1
    assert p.stderr.strip().endswith("entry '../../../escape' points outside the root directory"), p.stderr
    assert len(p.stderr.splitlines()) == 1
    assert not (tmp_path.parent / "escape").exists()
