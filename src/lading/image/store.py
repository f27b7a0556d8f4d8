"""The content store: an OCI image layout (oci-layout, index.json, blobs/ALG/HEX) on disk.

Other tools read it as they read any image layout (``skopeo inspect oci:/var/lib/lading:NAME``).
The rules that keep it trustworthy:

- A blob is written to ``ingest/`` first, hashed and counted as it streams in, and renamed into
  ``blobs/`` only when its digest and size match; a blob that does not match is never stored,
  and a crash or Ctrl-C leaves at most an ingest file (which a later pull resumes from).
- index.json is replaced atomically (write, fsync, rename) under an exclusive lock, so readers
  see the old or the new index, never a mix, and concurrent writers do not lose updates.
- A per-blob lock makes concurrent pulls of images that share a layer download it once: the
  second waits for the first and then finds the blob present.
- ``image rm`` collects unreferenced blobs under an exclusive "gc" lock that every pull holds
  shared, so it never deletes a blob a pull has stored but not yet referenced.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lading.errors import LadingError, NotFoundError
from lading.spec import image as spec

DEFAULT_ROOT = "/var/lib/lading"
MAX_DOCUMENT = 4 << 20  # manifests, indexes and configs are read whole; nothing legitimate is this big
_CHUNK = 1 << 20


def hasher(digest: str) -> hashlib._Hash:
    return hashlib.new(digest.partition(":")[0])


class Ingest:
    """A blob being written: bytes already on disk (``offset``), then ``write`` and ``commit``."""

    def __init__(self, store: Store, digest: str, size: int, partial: Path) -> None:
        self.store, self.digest, self.size, self.partial = store, digest, size, partial
        self._hash = hasher(digest)
        self._file: IO[bytes] = open(partial, "a+b")  # noqa: SIM115 - closed by close()
        self._file.seek(0)
        self.offset = 0
        while chunk := self._file.read(_CHUNK):  # resume: rehash what an earlier attempt wrote
            self._hash.update(chunk)
            self.offset += len(chunk)
        if size >= 0 and self.offset > size:
            self.restart()

    def restart(self) -> None:
        """Forget what was written (the server sent the whole blob instead of the range asked for)."""
        self._file.seek(0)
        self._file.truncate()
        self._hash = hasher(self.digest)
        self.offset = 0

    def write(self, data: bytes) -> None:
        if self.size >= 0 and self.offset + len(data) > self.size:
            self.restart()
            raise LadingError(f"blob {self.digest}: more data than its size {self.size}")
        self._file.write(data)
        self._hash.update(data)
        self.offset += len(data)

    def commit(self) -> None:
        """Verify digest and size, then make the blob visible; a mismatch discards the data."""
        self._file.flush()
        actual = f"{self.digest.partition(':')[0]}:{self._hash.hexdigest()}"
        if actual != self.digest or (self.size >= 0 and self.offset != self.size):
            got = f"got {actual}, {self.offset} bytes" + (f", expected {self.size}" if self.size >= 0 else "")
            self.restart()
            raise LadingError(f"blob {self.digest}: content does not match ({got})")
        os.fsync(self._file.fileno())
        dest = self.store.blob_path(self.digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.partial, 0o644)
        os.rename(self.partial, dest)

    def close(self) -> None:
        self._file.close()


class Store:
    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    # --- layout -------------------------------------------------------------------------------

    def _init(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "ingest").mkdir(exist_ok=True)
        layout = self.root / "oci-layout"
        if not layout.exists():
            self._atomic_write(layout, b'{"imageLayoutVersion":"1.0.0"}')
        if not (self.root / "index.json").exists():
            self._atomic_write(self.root / "index.json", b'{"schemaVersion":2,"manifests":[]}')

    def _atomic_write(self, path: Path, data: bytes) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _flock(self, name: str, exclusive: bool = True) -> Iterator[None]:
        self._init()
        fd = os.open(self.root / "ingest" / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) while adding blobs, so ``gc`` cannot remove them before they are referenced."""
        return self._flock("gc.lock", exclusive=False)

    # --- blobs --------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        alg, _, hexpart = digest.partition(":")
        return self.root / "blobs" / alg / hexpart

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: str) -> IO[bytes]:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store {self.root}") from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as f:
            data = f.read(MAX_DOCUMENT + 1)
        if len(data) > MAX_DOCUMENT:
            raise LadingError(f"blob {digest}: larger than {MAX_DOCUMENT} bytes, not a JSON document")
        return data

    @contextlib.contextmanager
    def ingest(self, digest: str, size: int = -1) -> Iterator[Ingest | None]:
        """Write one blob, or yield None if it is (or, after waiting for another writer, became) present."""
        self._init()
        name = digest.replace(":", "-")
        with self._flock(f"{name}.lock"):
            if self.has(digest):
                yield None
                return
            ing = Ingest(self, digest, size, self.root / "ingest" / f"{name}.partial")
            try:
                yield ing
            finally:
                ing.close()

    def put_stream(self, f: IO[bytes]) -> tuple[str, int]:
        """Store a blob whose digest is not known in advance (docker save layers); (digest, size)."""
        import tempfile

        self._init()
        h, size = hashlib.sha256(), 0
        with tempfile.NamedTemporaryFile(dir=self.root / "ingest", prefix="stream-", delete=False) as tmp:
            try:
                while chunk := f.read(_CHUNK):
                    tmp.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
                digest = "sha256:" + h.hexdigest()
                dest = self.blob_path(digest)
                os.chmod(tmp.name, 0o644)
                os.rename(tmp.name, dest)
            except BaseException:
                os.unlink(tmp.name)
                raise
        return digest, size

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store a small blob given whole; verify it against ``digest`` if one is expected."""
        digest = digest or "sha256:" + hashlib.sha256(data).hexdigest()
        with self.ingest(digest, len(data)) as ing:
            if ing is not None:
                ing.restart()
                ing.write(data)
                ing.commit()
        return digest

    # --- index --------------------------------------------------------------------------------

    def index(self) -> spec.Index:
        path = self.root / "index.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return spec.Index(schemaVersion=2, manifests=[])
        return spec.decode(data, spec.Index, str(path))

    def _write_index(self, idx: spec.Index) -> None:
        import msgspec

        idx.mediaType = spec.OCI_INDEX
        self._atomic_write(self.root / "index.json", msgspec.json.encode(idx))

    def images(self) -> list[tuple[str, spec.Descriptor]]:
        """(name, manifest descriptor) for every named image, in index order."""
        return [(d.annotations.get(spec.REF_NAME, ""), d) for d in self.index().manifests]

    def set_ref(self, name: str, desc: spec.Descriptor) -> None:
        """Point ``name`` at ``desc`` (replacing what it named before)."""
        with self._flock("index.lock"):
            idx = self.index()
            entry = spec.Descriptor(
                mediaType=desc.mediaType,
                digest=desc.digest,
                size=desc.size,
                platform=desc.platform,
                annotations={**desc.annotations, spec.REF_NAME: name},
            )
            idx.manifests = [d for d in idx.manifests if d.annotations.get(spec.REF_NAME) != name] + [entry]
            self._write_index(idx)

    def remove_ref(self, name: str) -> spec.Descriptor:
        with self._flock("index.lock"):
            idx = self.index()
            found = [d for d in idx.manifests if d.annotations.get(spec.REF_NAME) == name]
            if not found:
                raise NotFoundError(f"no such image: {name}")
            idx.manifests = [d for d in idx.manifests if d.annotations.get(spec.REF_NAME) != name]
            self._write_index(idx)
            return found[0]

    # --- garbage collection -------------------------------------------------------------------

    def reachable(self, roots: list[spec.Descriptor]) -> set[str]:
        """Every digest the given descriptors reference, following indexes and manifests."""
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            d = todo.pop()
            if d.digest in seen:
                continue
            seen.add(d.digest)
            if not self.has(d.digest):
                continue
            if d.mediaType in spec.INDEX_TYPES:
                todo.extend(spec.decode(self.read_blob(d.digest), spec.Index, d.digest).manifests)
            elif d.mediaType in spec.MANIFEST_TYPES:
                m = spec.decode(self.read_blob(d.digest), spec.Manifest, d.digest)
                todo.append(m.config)
                todo.extend(m.layers)
        return seen

    def gc(self) -> list[str]:
        """Remove every blob no image references; returns the digests removed."""
        removed: list[str] = []
        with self._flock("gc.lock"), self._flock("index.lock"):
            keep = self.reachable(self.index().manifests)
            for algdir in (self.root / "blobs").iterdir():
                for blob in algdir.iterdir():
                    digest = f"{algdir.name}:{blob.name}"
                    if digest not in keep:
                        blob.unlink()
                        removed.append(digest)
        return removed
