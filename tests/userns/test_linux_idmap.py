"""The linux/ wrappers on their own, against the kernel: a user namespace made only to carry a
mapping, an id-mapped copy of a directory made with it, and /etc/subuid parsing."""

from __future__ import annotations

import os
from pathlib import Path

from lading.linux import mount as m
from lading.linux import namespaces as ns
from lading.linux.userns import IdRange, mapping_fd, subordinate_ranges


def owners_through_idmapped_copy(source: Path, target: Path, uids: list[IdRange], gids: list[IdRange]) -> str:
    """Attach an id-mapped copy of source on target in a child's private mount namespace and
    return what the child saw there (the host's mounts are left alone)."""
    userns = mapping_fd(uids, gids)
    src = os.open(source, os.O_PATH | os.O_CLOEXEC)
    tree = m.open_tree(src, recursive=False)
    m.set_idmap(tree, userns, recursive=False)
    os.close(src)
    os.close(userns)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            ns.unshare(ns.CLONE_NEWNS)
            m.mount(None, "/", None, m.MS_PRIVATE | m.MS_REC)
            dest = os.open(target, os.O_PATH | os.O_CLOEXEC)
            m.move_mount(tree, dest)
            seen = [f"{p.name} {p.stat().st_uid} {p.stat().st_gid}" for p in sorted(target.iterdir())]
            os.write(w, "\n".join(seen).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.close(tree)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


def test_an_id_mapped_copy_shows_mapped_owners(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    for name, uid, gid in (("a", 0, 0), ("b", 5, 7), ("c", 500, 500)):
        (source / name).write_text(name)
        os.chown(source / name, uid, gid)
    seen = owners_through_idmapped_copy(
        source, target, [IdRange(0, 2000, 100)], [IdRange(0, 3000, 10), IdRange(10, 4000, 90)]
    )
    # 500 is outside the mapping: the overflow id
    assert seen.split("\n") == ["a 2000 3000", "b 2005 3007", "c 65534 65534"]
    assert not os.listdir(target)  # the copy lived only in the child's mount namespace


def test_subordinate_ranges_by_name_or_uid(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\n1001:200000:10\nbob:300000:5\n# junk\nalice:x:1\nalice:400000:1\n")
    assert subordinate_ranges("uid", "alice", 1001, str(subuid)) == [(100000, 65536), (200000, 10), (400000, 1)]
    assert subordinate_ranges("uid", "carol", 1002, str(tmp_path / "missing")) == []
