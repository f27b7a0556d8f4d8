"""os.path's functions (and os.makedirs, fsencode and fsdecode) for the verbs that make a container
or a process (create, run, exec) and the init, which go without os as the light verbs do (see
runtime/store.py): os.path is posixpath, which imports os. Each gives posixpath's result for the
str paths lading passes (tests/test_paths.py compares them). exists is in linux/files.py, which
the light verbs load: this module is for the verbs that make something.
"""

from __future__ import annotations

import posix
import sys

from lading.linux.files import exists

# fixed when the interpreter starts: asked once, not for each of the sixty paths the init opens
_ENCODING, _ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def fsencode(path: str) -> bytes:
    """os.fsencode(path)."""
    return path.encode(_ENCODING, _ERRORS)


def fsdecode(name: bytes) -> str:
    """os.fsdecode(name), e.g. of a value in posix.environ (os.environ decodes each so)."""
    return name.decode(_ENCODING, _ERRORS)


def isdir(path: str) -> bool:
    """os.path.isdir(path)."""
    return _is(path, 0o040000)  # stat.S_IFDIR


def isfile(path: str) -> bool:
    """os.path.isfile(path)."""
    return _is(path, 0o100000)  # stat.S_IFREG


def _is(path: str, kind: int) -> bool:
    """Whether path (links followed) is a file of that kind (its S_IFMT bits), as genericpath says."""
    try:
        st = posix.stat(path)
    except (OSError, ValueError):
        return False
    return st.st_mode & 0o170000 == kind


def makedirs(path: str, mode: int) -> None:
    """os.makedirs(path, mode, exist_ok=True) for a path without a trailing slash: its missing
    parents are made with mode 0o777, as os.makedirs makes them."""
    parent = dirname(path)
    if parent and parent != path and not exists(parent):
        try:
            makedirs(parent, 0o777)
        except FileExistsError:
            pass
    try:
        posix.mkdir(path, mode)
    except OSError:
        if not isdir(path):
            raise


def join(a: str, *p: str) -> str:
    """os.path.join(a, *p)."""
    path = a
    for b in p:
        if b.startswith("/"):
            path = b
        elif not path or path.endswith("/"):
            path += b
        else:
            path += "/" + b
    return path


def dirname(p: str) -> str:
    """os.path.dirname(p)."""
    head = p[: p.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def basename(p: str) -> str:
    """os.path.basename(p)."""
    return p[p.rfind("/") + 1 :]


def normpath(path: str) -> str:
    """os.path.normpath(path): POSIX keeps two leading slashes, three or more are one."""
    if not path:
        return "."
    initial_slashes = 2 if path.startswith("//") and not path.startswith("///") else int(path.startswith("/"))
    comps: list[str] = []
    for comp in path.split("/"):
        if comp in ("", "."):
            continue
        if comp != ".." or (not initial_slashes and not comps) or (comps and comps[-1] == ".."):
            comps.append(comp)
        elif comps:
            comps.pop()
    return "/" * initial_slashes + "/".join(comps) or "."


def abspath(path: str) -> str:
    """os.path.abspath(path)."""
    if not path.startswith("/"):
        path = join(posix.getcwd(), path)
    return normpath(path)


def relpath(path: str, start: str = ".") -> str:
    """os.path.relpath(path, start)."""
    if not path:
        raise ValueError("no path specified")
    start_list, path_list = _names(start), _names(path)
    i, common = 0, min(len(start_list), len(path_list))
    while i < common and start_list[i] == path_list[i]:
        i += 1
    return "/".join([".."] * (len(start_list) - i) + path_list[i:]) or "."


def _names(path: str) -> list[str]:
    """The names of abspath(path) (posixpath.relpath's lists), without normpath's join of them
    and split again: a third of the cost, for the init's mount of each cgroup hierarchy."""
    if not path.startswith("/"):
        path = join(posix.getcwd(), path)
    names: list[str] = []
    for name in path.split("/"):
        if name == "..":
            if names:
                names.pop()
        elif name and name != ".":
            names.append(name)
    return names


def realpath(path: str) -> str:
    """os.path.realpath(path): every symbolic link resolved (a component that does not exist is
    kept as it is, a loop left unresolved), then made absolute."""
    return abspath(_join_real("", path, {})[0])


def _join_real(path: str, rest: str, seen: dict[str, str | None]) -> tuple[str, bool]:
    """posixpath._joinrealpath, not strict: path joined with rest, the links in rest resolved;
    False with a symlink loop."""
    if rest.startswith("/"):
        rest = rest[1:]
        path = "/"
    while rest:
        name, _, rest = rest.partition("/")
        if not name or name == ".":
            continue
        if name == "..":
            if path:
                name = path[path.rfind("/") + 1 :]
                path = dirname(path)
                if name == "..":
                    path = join(path, "..", "..")
            else:
                path = ".."
            continue
        newpath = join(path, name)
        try:
            is_link = posix.lstat(newpath).st_mode & 0o170000 == 0o120000  # stat.S_ISLNK
        except OSError:
            is_link = False
        if not is_link:
            path = newpath
            continue
        if newpath in seen:
            resolved = seen[newpath]
            if resolved is not None:
                path = resolved
                continue
            return join(newpath, rest), False  # a loop: the rest as it is
        seen[newpath] = None
        path, ok = _join_real(path, posix.readlink(newpath), seen)
        if not ok:
            return join(path, rest), False
        seen[newpath] = path
    return path, True
