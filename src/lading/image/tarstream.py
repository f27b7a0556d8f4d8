"""Reading a layer: decompression (none, gzip, zstd) and a streaming tar parser.

Streams end to end with bounded memory: the compressed blob is read in chunks, decompressed in
chunks of at most 1 MiB, and a file's content is handed out as it arrives, so unpacking a
10 GB layer needs no more memory than a 1 MB one. Every uncompressed byte is hashed on the way
through, so the layer's DiffID (the image config's ``rootfs.diff_ids``) can be checked.

The tar parser covers what layer tars contain: ustar and GNU headers, GNU long names and link
names, PAX extended and global headers (path, linkpath, size, uid, gid, mtime, and xattrs as
``SCHILY.xattr.*``), and base-256 numbers. It only reports entries: deciding where they go, and
making sure that is inside the target directory, is unpack.py's job.

zstd comes from Debian's ``zstd`` program, run as a filter: Python 3.11 has no zstd module, and
one subprocess per zstd layer costs nothing next to the data, where a PyPI binding would add a
compiled dependency for a format most registries still rarely serve.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from lading.errors import LadingError

_IN_CHUNK = 256 << 10
_OUT_CHUNK = 1 << 20
BLOCK = 512

REGULAR, HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = "0", "1", "2", "3", "4", "5", "6"


class LayerSource:
    """Uncompressed bytes of one layer blob, hashed as they are produced."""

    def __init__(self, f: IO[bytes], compression: str, name: str) -> None:
        self.name = name
        self._f = f
        self._hash = hashlib.sha256()
        self._buf = memoryview(b"")
        self._pos = 0
        self._eof = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: io.BufferedReader | None = None
        self._gz: zlib._Decompress | None = None
        if compression == "gzip":
            self._gz = zlib.decompressobj(wbits=31)
        elif compression == "zstd":
            if shutil.which("zstd") is None:
                raise LadingError(f"{name}: a zstd-compressed layer needs the zstd program (apt-get install zstd)")
            stdin: IO[bytes] | int = f
            try:
                f.fileno()
            except (OSError, AttributeError):  # not a real file: feed the pipe from a thread
                stdin = subprocess.PIPE
            self._proc = proc = subprocess.Popen(
                ["zstd", "-dcq"], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            if proc.stdin is not None:
                threading.Thread(target=_feed, args=(f, proc.stdin), daemon=True).start()
            assert isinstance(proc.stdout, io.BufferedReader)
            self._out = proc.stdout
        elif compression:
            raise LadingError(f"{name}: unsupported compression {compression!r}")

    def _produce(self) -> bytes:
        if self._out is not None:
            return self._out.read1(_OUT_CHUNK)
        if self._gz is None:
            return self._f.read(_OUT_CHUNK)
        gz = self._gz
        while True:
            if gz.unconsumed_tail:
                out = gz.decompress(gz.unconsumed_tail, _OUT_CHUNK)
            elif gz.eof:
                rest = gz.unused_data or self._f.read(_IN_CHUNK)
                if not rest.strip(b"\0"):
                    return b""  # end of the last member (and any zero padding after it)
                gz = self._gz = zlib.decompressobj(wbits=31)  # a multi-member gzip file
                out = gz.decompress(rest, _OUT_CHUNK)
            else:
                data = self._f.read(_IN_CHUNK)
                if not data:
                    raise LadingError(f"{self.name}: truncated gzip stream")
                out = gz.decompress(data, _OUT_CHUNK)
            if out:
                return out

    def _fill(self) -> bool:
        if self._eof:
            return False
        try:
            data = self._produce()
        except zlib.error as e:
            raise LadingError(f"{self.name}: corrupt gzip data: {e}") from None
        if not data:
            self._eof = True
            self._finish()
            return False
        self._hash.update(data)
        self._buf = memoryview(data)
        self._pos = 0
        return True

    def _finish(self) -> None:
        if self._proc is not None:
            assert self._proc.stderr is not None
            err = self._proc.stderr.read().decode(errors="replace").strip()
            if self._proc.wait() != 0:
                raise LadingError(f"{self.name}: corrupt zstd data: {err}")

    def read(self, n: int) -> memoryview:
        """Up to n bytes (fewer only at a chunk boundary; empty at the end)."""
        if self._pos >= len(self._buf) and not self._fill():
            return memoryview(b"")
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def read_exact(self, n: int) -> bytes:
        parts = []
        while n:
            chunk = self.read(n)
            if not chunk:
                raise LadingError(f"{self.name}: unexpected end of the tar archive")
            parts.append(bytes(chunk))
            n -= len(chunk)
        return b"".join(parts)

    def skip(self, n: int) -> None:
        while n:
            chunk = self.read(n)
            if not chunk:
                raise LadingError(f"{self.name}: unexpected end of the tar archive")
            n -= len(chunk)

    def drain(self) -> str:
        """Read to the end; returns the digest of all uncompressed bytes (the DiffID)."""
        while self.read(_OUT_CHUNK):
            pass
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        if self._proc is not None:
            for pipe in (self._proc.stdout, self._proc.stderr):
                if pipe is not None:
                    pipe.close()
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()


def _feed(src: IO[bytes], pipe: IO[bytes]) -> None:
    try:
        while chunk := src.read(_IN_CHUNK):
            pipe.write(chunk)
    except (BrokenPipeError, ValueError):
        pass  # the reader stopped early (an error, or the end of the archive)
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()


@dataclass
class Entry:
    name: str
    type: str
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _number(field_: bytes, what: str, source: str) -> int:
    if field_ and field_[0] & 0x80:  # base-256 (GNU) for values too big for octal
        value = int.from_bytes(field_, "big", signed=False) & ~(0x80 << (8 * (len(field_) - 1)))
        if field_[0] & 0x40:
            value -= 1 << (8 * len(field_) - 1)
        return value
    text = field_.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise LadingError(f"{source}: bad tar header: {what} {text!r} is not a number") from None


def _text(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes, source: str) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise LadingError(f"{source}: bad PAX header record") from None
        record = data[space + 1 : pos + length - 1]  # without the trailing newline
        key, _, value = record.partition(b"=")
        if length <= 0 or space < 0 or pos + length > len(data):
            raise LadingError(f"{source}: bad PAX header record")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos += length
    return records


def _pax_time(value: bytes) -> int:
    whole, _, frac = value.decode().partition(".")
    sign = -1 if whole.startswith("-") else 1
    return int(whole) * 10**9 + sign * int((frac + "000000000")[:9] or 0)


def entries(src: LayerSource) -> Iterator[Entry]:
    """The entries of a tar stream; after each one, its content must be consumed with
    ``src.read``/``src.skip`` (exactly ``entry.size`` bytes) before asking for the next."""
    global_pax: dict[str, bytes] = {}
    pax: dict[str, bytes] = {}
    long_name = long_link = ""
    source = src.name
    while True:
        first = bytes(src.read(BLOCK))
        if not first:
            return  # no end-of-archive marker: tolerated, as GNU tar does
        header = first + src.read_exact(BLOCK - len(first)) if len(first) < BLOCK else first
        if header == bytes(BLOCK):
            return  # end-of-archive marker (a second zero block and padding are drained by the caller)
        try:
            stored = _number(header[148:156], "checksum", source)
        except LadingError:
            stored = -1
        if stored != sum(header[:148]) + 256 + sum(header[156:]):
            raise LadingError(f"{source}: not a tar archive (header checksum mismatch)")
        kind = chr(header[156]) if header[156] else REGULAR
        size = _number(header[124:136], "size", source)
        if kind in "xgLK":
            data = src.read_exact(size)
            src.skip(-size % BLOCK)
            if kind == "x":
                pax.update(_pax(data, source))
            elif kind == "g":
                global_pax.update(_pax(data, source))
            elif kind == "L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            else:
                long_link = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue
        name = _text(header[0:100])
        if header[257:263] == b"ustar\0" and header[345]:
            name = _text(header[345:500]) + "/" + name
        attrs = {**global_pax, **pax}
        entry = Entry(
            name=long_name or name,
            type="0" if kind == "7" else kind,
            mode=_number(header[100:108], "mode", source) & 0o7777,
            uid=_number(header[108:116], "uid", source),
            gid=_number(header[116:124], "gid", source),
            size=size,
            mtime_ns=_number(header[136:148], "mtime", source) * 10**9,
            linkname=long_link or _text(header[157:257]),
            devmajor=_number(header[329:337], "devmajor", source),
            devminor=_number(header[337:345], "devminor", source),
        )
        for key, value in attrs.items():
            if key == "path":
                entry.name = value.decode("utf-8", "surrogateescape")
            elif key == "linkpath":
                entry.linkname = value.decode("utf-8", "surrogateescape")
            elif key in ("uid", "gid", "size"):
                setattr(entry, key, int(value))
            elif key == "mtime":
                entry.mtime_ns = _pax_time(value)
            elif key.startswith("SCHILY.xattr."):
                entry.xattrs[key[len("SCHILY.xattr.") :]] = value
            elif key.startswith("GNU.sparse"):
                raise LadingError(f"{source}: {entry.name}: sparse files are not supported in layers")
        pax, long_name, long_link = {}, "", ""
        if entry.type in (HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO):
            entry.size = 0  # these carry no data, whatever the size field says
        yield entry
        # the consumer has read exactly entry.size bytes; skip the padding to the next header
        src.skip(-entry.size % BLOCK)


def copy_to_fd(src: LayerSource, fd: int, size: int) -> None:
    """Write the next ``size`` bytes of the stream to ``fd``."""
    while size:
        chunk = src.read(min(size, _OUT_CHUNK))
        if not chunk:
            raise LadingError(f"{src.name}: unexpected end of the tar archive")
        size -= len(chunk)
        while chunk:
            n = os.write(fd, chunk)
            chunk = chunk[n:]
