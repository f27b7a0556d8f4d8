"""Container metadata on disk: containers/<id>/config.v2.json and hostconfig.json, names, locks.

Any process (the CLI, a monitor's exit command, later an API server) may read or change a
container, so the rules are those of files: each change is made under the container's own flock
(``containers/<id>/lock``) and written whole (write, fsync, rename), so readers see the old or
the new file. A name is claimed by creating ``containers/names/<name>`` with O_EXCL: of two
creates with one name exactly one wins. A container directory without config.v2.json is a create
in progress while its lock is held, and the leftover of a killed create once it is not.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from lading.errors import LadingError, NotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG = "config.v2.json"
HOSTCONFIG = "hostconfig.json"
_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_HEX = frozenset("0123456789abcdef")
_ADJECTIVES = ("brave", "calm", "eager", "fond", "keen", "lucid", "merry", "quiet", "sharp", "vivid", "wise", "zen")
_NOUNS = ("curie", "darwin", "euler", "gauss", "hopper", "lovelace", "noether", "pascal", "ritchie", "turing")


def _pick(words: tuple[str, ...]) -> str:
    """A random word (os.urandom: the secrets module's imports would cost every command more)."""
    return words[int.from_bytes(os.urandom(4), "little") % len(words)]


class ConflictError(LadingError):
    """The name is taken, or the container is in a state that forbids the request."""


def atomic_write(path: Path, data: str, durable: bool = True) -> None:
    """Replace ``path`` whole; ``durable`` also syncs it first (not needed for what every start
    makes again)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.rename(tmp, path)


class Container:
    def __init__(self, cid: str, directory: Path, config: dict[str, Any], host: dict[str, Any]) -> None:
        self.id = cid
        self.dir = directory
        self.config = config  # config.v2.json: docker's container record (Config, State, Name, ...)
        self.host = host  # hostconfig.json: limits, restart policy, log options, runtime

    @property
    def name(self) -> str:
        return str(self.config["Name"]).lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        return self.config["State"]  # type: ignore[no-any-return]


class ContainerStore:
    def __init__(self, root: Path) -> None:
        self.root = root / "containers"
        self.names = self.root / "names"
        self.held: dict[str, int] = {}  # container ID -> fd of the lock this process holds

    def dir(self, cid: str) -> Path:
        return self.root / cid

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return [p for p in os.listdir(self.root) if len(p) == 64 and set(p) <= _HEX]

    # --- locks and records -----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, cid: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the container's lock; yields False if ``blocking`` is off and someone else holds it."""
        try:
            fd = os.open(self.dir(cid) / "lock", os.O_RDWR | os.O_CLOEXEC)  # made by new(), never again:
            # a lock file created while the directory is being removed would keep it from going
        except FileNotFoundError:
            raise NotFoundError(f"No such container: {cid}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            self.held[cid] = fd
            yield True
        finally:
            self.held.pop(cid, None)
            os.close(fd)

    @contextlib.contextmanager
    def waiting(self, cid: str) -> Iterator[None]:
        """Held by a `run` in the foreground: it, not the exit command, removes a --rm container."""
        fd = os.open(self.dir(cid) / "waiter", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def has_waiter(self, cid: str) -> bool:
        try:
            fd = os.open(self.dir(cid) / "waiter", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def new(self) -> Iterator[tuple[str, Path]]:
        """A new container directory, appearing only with its lock held (until the block ends)."""
        cid = os.urandom(32).hex()
        tmp = self.root / f".new-{cid}"
        tmp.mkdir(parents=True, mode=0o700)
        (tmp / "waiter").touch(mode=0o600)
        fd = os.open(tmp / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(tmp, self.dir(cid))
            self.held[cid] = fd
            yield cid, self.dir(cid)
        finally:
            self.held.pop(cid, None)
            os.close(fd)

    def load(self, cid: str) -> Container:
        d = self.dir(cid)
        try:
            config = json.loads((d / CONFIG).read_text())
            host = json.loads((d / HOSTCONFIG).read_text())
        except FileNotFoundError:
            raise NotFoundError(f"No such container: {cid}") from None
        return Container(cid, d, config, host)

    def save(self, c: Container, host: bool = False, durable: bool = True) -> None:
        """Write config.v2.json, and hostconfig.json too if ``host`` (it changes only at create;
        it is written first, since a config.v2.json means the container is complete). Not
        ``durable``: the steps of a start, which a power failure makes moot (the next boot ID
        settles the run, whichever record survived), are renamed into place without a sync."""
        if host:
            atomic_write(c.dir / HOSTCONFIG, json.dumps(c.host))
        atomic_write(c.dir / CONFIG, json.dumps(c.config), durable)

    def all(self) -> list[Container]:
        out = []
        for cid in self.ids():
            with contextlib.suppress(NotFoundError):
                out.append(self.load(cid))
        return out

    def leftovers(self) -> list[str]:
        """Directories of creates that were killed: no config.v2.json and nobody holds the lock."""
        for tmp in self.root.glob(".new-*"):  # killed before its directory got its name
            with contextlib.suppress(OSError), open(tmp / "lock") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(tmp)
        found = []
        for cid in self.ids():
            if not (self.dir(cid) / CONFIG).exists():
                with contextlib.suppress(NotFoundError), self.lock(cid, blocking=False) as mine:
                    if mine and not (self.dir(cid) / CONFIG).exists():
                        found.append(cid)
        return found

    def remove_dir(self, cid: str) -> None:
        shutil.rmtree(self.dir(cid), ignore_errors=True)

    # --- names -----------------------------------------------------------------------------------

    def claim_name(self, name: str, cid: str) -> None:
        if not _NAME_RE.fullmatch(name):
            raise LadingError(f'Invalid container name "{name}", only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        self.names.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.names / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            owner = self.name_owner(name) or "?"
            raise ConflictError(
                f'Conflict. The container name "/{name}" is already in use by container "{owner}". '
                "You have to remove (or rename) that container to be able to reuse that name."
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(cid)
            f.flush()
            os.fsync(f.fileno())

    def name_owner(self, name: str) -> str | None:
        try:
            return (self.names / name).read_text()
        except (FileNotFoundError, IsADirectoryError):
            return None
        except OSError as e:
            if e.errno == errno.ENAMETOOLONG:
                return None
            raise

    def release_name(self, name: str, cid: str) -> None:
        if self.name_owner(name) == cid:
            (self.names / name).unlink()

    def generate_name(self, cid: str) -> str:
        """A free adjective_scientist name, like docker's; claimed for ``cid``."""
        for attempt in range(100):
            name = f"{_pick(_ADJECTIVES)}_{_pick(_NOUNS)}" + (str(attempt) if attempt > 10 else "")
            with contextlib.suppress(ConflictError):
                self.claim_name(name, cid)
                return name
        raise LadingError("could not find a free container name; give one with --name")

    def release_stale_names(self) -> None:
        """Names whose container is gone (a create killed between claiming and recording)."""
        if self.names.exists():
            for name in os.listdir(self.names):
                owner = self.name_owner(name)
                if owner and not self.dir(owner).exists():
                    with contextlib.suppress(FileNotFoundError):
                        (self.names / name).unlink()

    # --- lookup ----------------------------------------------------------------------------------

    def resolve(self, text: str) -> str:
        """A full ID, a name (with or without the leading /) or a unique ID prefix, to the ID."""
        if len(text) == 64 and set(text) <= _HEX and self.dir(text).exists():
            return text
        name = text.removeprefix("/")
        owner = self.name_owner(name) if name and "/" not in name else None
        if owner and self.dir(owner).exists():
            return owner
        if text and set(text) <= _HEX:
            hits = [cid for cid in self.ids() if cid.startswith(text)]
            if len(hits) > 1:
                raise LadingError(f"Multiple IDs found with provided prefix: {text}")
            if hits:
                return hits[0]
        raise NotFoundError(f"No such container: {text}")
