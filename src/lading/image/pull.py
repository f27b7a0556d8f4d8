"""``image pull``: resolve a reference on its registry, pick the platform, fetch into the store.

Order matters for the store's guarantees: layers and config first (each verified as it lands),
then the manifest, and only then the name in index.json, so a pull that dies part way leaves
nothing named and nothing unverified. Layers download concurrently; a dropped connection resumes
from the bytes already written (an HTTP Range request) instead of starting over.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from dataclasses import dataclass

from lading import log
from lading.errors import LadingError
from lading.image import platform as platforms
from lading.image.auth import Credentials
from lading.image.progress import Progress
from lading.image.reference import Reference
from lading.image.registry import _TRANSIENT, Registry, unreachable
from lading.image.store import Store
from lading.spec import image as spec

_CHUNK = 1 << 20
_PARALLEL = 3


@dataclass
class PullOptions:
    platform: spec.Platform
    creds: Credentials | None = None
    insecure: bool = False
    retries: int = 3
    explicit_platform: bool = False


class _Cancelled(Exception):
    pass


def digest_of(data: bytes, like: str = "sha256:") -> str:
    alg = like.partition(":")[0]
    return f"{alg}:{hashlib.new(alg, data).hexdigest()}"


def check_manifest(m: spec.Manifest, source: str) -> None:
    if m.config.mediaType not in spec.CONFIG_TYPES:
        raise LadingError(f"{source}: $.config.mediaType: {m.config.mediaType!r} is not an image config")
    for i, layer in enumerate(m.layers):
        if layer.mediaType not in spec.LAYER_COMPRESSION:
            raise LadingError(f"{source}: $.layers[{i}].mediaType: unsupported layer type {layer.mediaType!r}")


def pull(store: Store, ref: Reference, opts: PullOptions, progress: Progress) -> spec.Descriptor:
    reg = Registry(ref.api_host, ref.path, opts.creds, opts.insecure, opts.retries)
    try:
        with store.writing():
            return _pull(store, reg, ref, opts, progress)
    finally:
        reg.close()


def _pull(store: Store, reg: Registry, ref: Reference, opts: PullOptions, progress: Progress) -> spec.Descriptor:
    body, media_type, _ = reg.manifest(ref.digest or ref.tag)
    digest = digest_of(body, ref.digest or "sha256:")
    if ref.digest and digest != ref.digest:
        raise LadingError(f"{ref}: the registry sent a manifest whose digest is {digest}")
    chosen: spec.Platform | None = None
    if media_type in spec.INDEX_TYPES:
        index = spec.decode(body, spec.Index, f"{ref} (index {digest})")
        d = platforms.choose(index.manifests, opts.platform, str(ref))
        body, media_type, _ = reg.manifest(d.digest)
        digest = digest_of(body, d.digest)
        if digest != d.digest or len(body) != d.size:
            raise LadingError(f"{ref}: manifest {d.digest} from the registry does not match its digest or size")
        if d.mediaType in spec.MANIFEST_TYPES:
            media_type = d.mediaType
        chosen = d.platform
    if media_type in (spec.DOCKER_MANIFEST_V1_SIGNED, spec.DOCKER_MANIFEST_V1):
        raise LadingError(f"{ref}: docker schema 1 manifests are not supported (deprecated since 2017)")
    if media_type not in spec.MANIFEST_TYPES:
        raise LadingError(f"{ref}: unsupported manifest media type {media_type!r}")
    source = f"{ref} (manifest {digest})"
    manifest = spec.decode(body, spec.Manifest, source)
    check_manifest(manifest, source)

    config_data = _small_blob(store, reg, manifest.config)
    config = spec.decode(config_data, spec.ImageConfig, f"{ref} (config {manifest.config.digest})")
    have = spec.Platform(architecture=config.architecture, os=config.os, variant=config.variant)
    if chosen is None and not platforms.matches(opts.platform, have):
        if opts.explicit_platform:
            raise LadingError(f"{ref}: no image for platform {opts.platform}; the image is for {have}")
        log.warning(f"{ref}: the image is for {have}, not this host ({opts.platform})")

    _layers(store, reg, manifest.layers, opts.retries, progress)
    store.put(body, digest)
    desc = spec.Descriptor(mediaType=media_type, digest=digest, size=len(body), platform=chosen or have)
    store.set_ref(str(ref), desc)
    return desc


def _small_blob(store: Store, reg: Registry, d: spec.Descriptor) -> bytes:
    if not store.has(d.digest):
        if d.size > 4 << 20:
            raise LadingError(f"{reg.host}/{reg.repository}: config {d.digest} is implausibly large ({d.size} bytes)")
        resp = reg.blob(d.digest)
        store.put(resp.read_all(d.size), d.digest)
    return store.read_blob(d.digest)


def _layers(store: Store, reg: Registry, layers: list[spec.Descriptor], retries: int, progress: Progress) -> None:
    unique = list({d.digest: d for d in layers}.values())
    cancel = threading.Event()
    for d in unique:
        progress.add(short(d.digest), d.size, "Already exists" if store.has(d.digest) else "Waiting")
    todo = collections.deque(unique)
    errors: list[BaseException] = []

    def worker() -> None:  # plain threads: concurrent.futures would import logging on every pull
        while not cancel.is_set():
            try:
                d = todo.popleft()
            except IndexError:
                return
            try:
                _download(store, reg, d, retries, progress, cancel)
            except BaseException as e:
                errors.append(e)
                cancel.set()  # the others stop at their next chunk; what they wrote stays for a resume

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(_PARALLEL, len(unique)))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C: unblock the downloads and let them stop
        cancel.set()
        reg.abort()
        for t in threads:
            t.join()
        raise
    finally:
        progress.close()
    if errors:
        raise errors[0]


def short(digest: str) -> str:
    return digest.partition(":")[2][:12]


def _download(
    store: Store, reg: Registry, d: spec.Descriptor, retries: int, progress: Progress, cancel: threading.Event
) -> None:
    key = short(d.digest)
    delay = 0.5
    for attempt in range(retries + 1):
        with store.ingest(d.digest, d.size) as ing:
            if ing is None:
                progress.status(key, "Already exists")
                return
            try:
                resp = reg.blob(d.digest, ing.offset)
                if resp.status == 200 and ing.offset:
                    ing.restart()
                progress.status(key, "Downloading", ing.offset)
                while chunk := resp.chunk(_CHUNK):
                    if cancel.is_set():
                        raise _Cancelled
                    ing.write(chunk)
                    progress.advance(key, len(chunk))
                ing.commit()
                progress.status(key, "Pull complete", d.size)
                return
            except _Cancelled:
                reg.close()
                return
            except _TRANSIENT as e:
                reg.close()
                if attempt == retries or cancel.is_set():
                    raise unreachable(reg.host, e) from None
                log.info(f"{key}: {e!r} after {ing.offset} bytes; resuming in {delay:.1f}s")
                progress.status(key, f"Retrying ({attempt + 1}/{retries})")
        time.sleep(delay)
        delay = min(delay * 2, 8)
