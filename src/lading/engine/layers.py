"""The layer store: image layers unpacked once, containers' init and writable layers, overlay mounts.

The layout is docker's overlay2 (docs/engine.md): each layer is ``overlay/<cache-id>/`` with its
files in ``diff/``, a short name in ``overlay/l/`` (so that the mount options of an image with many
layers still fit in a page), and ``lower`` listing the short names of the layers below it, top
first. ``layerdb/sha256/<chain-id>/`` finds an image layer by its chain ID, so two images sharing
a layer share its directory. A container adds two layers on top of its image's: the init layer
(``<mount-id>-init``, placeholders for the files the engine bind-mounts in at start, read-only once
``committed``) and the mount layer (``<mount-id>``, the writable upper directory), recorded in
``layerdb/mounts/<container-id>/``.

Every change happens under one lock (``layerdb/lock``: shared to add a container's layers on
image layers that are there, exclusive to add or remove any other), and a layer's layerdb entry is
renamed into place only once its directory is complete, so a crash leaves at most an unreferenced
directory, which ``gc`` removes with every layer that nothing uses any more.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from lading.digest import sha256_hex
from lading.engine.image_record import MANIFEST_TYPES, ImageRecord, blob
from lading.errors import LadingError
from lading.linux.mount import MNT_DETACH, mount, umount
from lading.linux.userns import in_user_namespace

TYPE_CHECKING = False  # the image modules bring msgspec: only unpacking a layer pays for it
if TYPE_CHECKING:
    from lading.image.store import Store

# (path in the init layer, kind): what the engine mounts over at start, and /etc/mtab
_INIT_FILES = (
    ("dev/pts", "dir"),
    ("dev/shm", "dir"),
    ("dev/console", "file"),
    ("etc/hostname", "file"),
    ("etc/hosts", "file"),
    ("etc/resolv.conf", "file"),
)


def chain_ids(diff_ids: list[str]) -> list[str]:
    """image-spec's ChainID of every layer: the first is its DiffID, then sha256("parent diff")."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else "sha256:" + sha256_hex(f"{out[-1]} {diff_id}".encode()))
    return out


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.overlay = root / "overlay"
        self.layerdb = root / "layerdb"

    @contextlib.contextmanager
    def locked(self, shared: bool = False) -> Iterator[None]:
        """``layerdb/lock``: exclusive to add or remove image layers or remove a container's;
        ``shared`` to make a container's layers on image layers that are there (any number of
        creates at once: each makes only its own directories, and no layer goes meanwhile)."""
        (self.layerdb / "sha256").mkdir(parents=True, exist_ok=True)
        (self.layerdb / "mounts").mkdir(exist_ok=True)
        (self.overlay / "l").mkdir(parents=True, exist_ok=True)
        fd = os.open(self.layerdb / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # --- image layers ----------------------------------------------------------------------------

    def _db(self, chain_id: str) -> Path:
        return self.layerdb / "sha256" / chain_id.removeprefix("sha256:")

    def _cache_id(self, chain_id: str) -> str:
        return (self._db(chain_id) / "cache-id").read_text()

    def add_image(self, root: Path, image: ImageRecord, unpack: bool = True) -> str | None:
        """Unpack the layers of ``image`` (from the image store at root) not yet here (call under
        ``locked``, exclusive); its top chain ID. Without ``unpack`` (under a shared lock), None
        if a layer is not here."""
        diff_ids = image.diff_ids
        if not diff_ids or len(diff_ids) != len(image.layers):
            raise LadingError(
                f"{image.name}: the config lists {len(diff_ids)} layers, the manifest {len(image.layers)}"
            )
        parent = ""
        for (digest, media_type), diff_id, chain in zip(image.layers, diff_ids, chain_ids(diff_ids), strict=True):
            if not (self._db(chain) / "cache-id").exists():
                if not unpack:
                    return None
                from lading.image import store
                from lading.spec import image as spec

                self._unpack(store.Store(root), digest, spec.LAYER_COMPRESSION[media_type], diff_id, chain, parent)
            parent = chain
        return parent

    def _unpack(self, store: Store, digest: str, compression: str, diff_id: str, chain: str, parent: str) -> None:
        from lading.image.unpack import Unpacker

        cache_id = os.urandom(32).hex()
        layer = self.overlay / cache_id
        try:
            lower = self._lower_of(self._cache_id(parent)) if parent else []
            self._make_layer(layer, lower)
            opaque = f"{'user' if in_user_namespace() else 'trusted'}.overlay.opaque"  # as mount's userxattr
            unpacker = Unpacker(str(layer / "diff"), overlay_whiteouts=True, opaque_xattr=opaque)
            with unpacker as u, store.open_blob(digest) as blob:
                u.apply(blob, compression, f"layer {digest}", diff_id)
            tmp = self.layerdb / "sha256" / f".tmp-{cache_id}"
            tmp.mkdir()
            _write(tmp / "diff", diff_id)
            _write(tmp / "cache-id", cache_id)
            _write(tmp / "size", str(_dir_size(layer / "diff")))
            if parent:
                _write(tmp / "parent", parent)
            os.rename(tmp, self._db(chain))
        except BaseException:
            self._remove_layer(cache_id)
            shutil.rmtree(self.layerdb / "sha256" / f".tmp-{cache_id}", ignore_errors=True)
            raise

    def _make_layer(self, layer: Path, lower: list[str]) -> str:
        """An empty layer directory with its short link; returns the link's name."""
        layer.mkdir()
        (layer / "diff").mkdir(mode=0o755)
        (layer / "work").mkdir(mode=0o700)
        link = base64.b32encode(os.urandom(16)).decode().rstrip("=")
        os.symlink(f"../{layer.name}/diff", self.overlay / "l" / link)
        _write(layer / "link", link)
        if lower:
            _write(layer / "lower", ":".join(lower))
        return link

    def _lower_of(self, cache_id: str) -> list[str]:
        """The lower list of a layer stacked on ``cache_id``: its link, then its own lowers."""
        layer = self.overlay / cache_id
        lower = (layer / "lower").read_text().split(":") if (layer / "lower").exists() else []
        return [f"l/{(layer / 'link').read_text()}", *lower]

    def _remove_layer(self, cache_id: str) -> None:
        layer = self.overlay / cache_id
        with contextlib.suppress(FileNotFoundError):
            (self.overlay / "l" / (layer / "link").read_text()).unlink()
        shutil.rmtree(layer, ignore_errors=True)

    # --- container layers ------------------------------------------------------------------------

    def add_container(self, container_id: str, mount_id: str, parent: str) -> None:
        """The init and mount layers of a container on the image layer ``parent`` (under ``locked``)."""
        lower = self._lower_of(self._cache_id(parent))
        init = self.overlay / f"{mount_id}-init"
        try:
            init_link = self._make_layer(init, lower)
            for path, kind in _INIT_FILES:
                target = init / "diff" / path
                target.parent.mkdir(mode=0o755, exist_ok=True)
                if kind == "dir":
                    target.mkdir(mode=0o755)
                else:
                    target.touch(mode=0o644)
            (init / "diff" / "etc" / "mtab").symlink_to("/proc/mounts")
            (init / "committed").touch()
            self._make_layer(self.overlay / mount_id, [f"l/{init_link}", *lower])
            record = self.layerdb / "mounts" / f".tmp-{container_id}"
            record.mkdir()
            _write(record / "init-id", f"{mount_id}-init")
            _write(record / "mount-id", mount_id)
            _write(record / "parent", parent)
            os.rename(record, self.layerdb / "mounts" / container_id)
        except BaseException:
            self.remove_container(container_id, mount_id)
            raise

    def remove_container(self, container_id: str, mount_id: str) -> None:
        """Both layers of a container and its record (under ``locked``); what is missing is skipped."""
        self.unmount(mount_id)
        self._remove_layer(mount_id)
        self._remove_layer(f"{mount_id}-init")
        for name in (container_id, f".tmp-{container_id}"):
            shutil.rmtree(self.layerdb / "mounts" / name, ignore_errors=True)

    def merged(self, mount_id: str) -> Path:
        return self.overlay / mount_id / "merged"

    def mount(self, mount_id: str) -> Path:
        """Mount the container's layers on ``merged/`` (no-op if mounted); returns merged/."""
        merged = self.merged(mount_id)
        if os.path.ismount(merged):
            return merged
        layer = self.overlay / mount_id
        if not (layer / "lower").exists():
            raise LadingError(f"the container's layer {layer} is incomplete; remove the container")
        merged.mkdir(exist_ok=True)
        # Relative l/ paths from overlay/ keep the options short however many layers there are.
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.chdir(self.overlay)
            lower = (layer / "lower").read_text()
            # in a user namespace (engine/rootless.py): overlay's xattrs in user.*, not trusted.*
            userxattr = ",userxattr" if in_user_namespace() else ""
            mount(
                "overlay",
                str(merged),
                "overlay",
                0,
                f"lowerdir={lower},upperdir={mount_id}/diff,workdir={mount_id}/work{userxattr}",
            )
        except BaseException:
            merged.rmdir()
            raise
        finally:
            os.fchdir(cwd)
            os.close(cwd)
        return merged

    def unmount(self, mount_id: str) -> None:
        """Unmount merged/ and remove it: it exists only while the container runs."""
        merged = self.merged(mount_id)
        if os.path.ismount(merged):
            umount(str(merged), MNT_DETACH)
        with contextlib.suppress(FileNotFoundError):
            merged.rmdir()

    # --- garbage collection ----------------------------------------------------------------------

    def gc(self, image_chains: set[str]) -> list[str]:
        """Remove every image layer no image (``image_chains``: top chain IDs) or container uses,
        and any directory a crash left unreferenced (under ``locked``); returns the removed chain IDs."""
        mounts = self.layerdb / "mounts"
        keep = set(image_chains)
        keep_dirs = {"l"}
        for record in mounts.iterdir():
            if record.name.startswith(".tmp-"):
                continue
            keep.add((record / "parent").read_text())
            mount_id = (record / "mount-id").read_text()
            keep_dirs |= {mount_id, f"{mount_id}-init"}
        todo = list(keep)
        while todo:
            parent = self._db(todo.pop()) / "parent"
            if parent.exists() and (p := parent.read_text()) not in keep:
                keep.add(p)
                todo.append(p)
        removed = []
        for entry in list((self.layerdb / "sha256").iterdir()):
            chain = f"sha256:{entry.name}"
            if chain in keep:
                keep_dirs.add((entry / "cache-id").read_text())
                continue
            cache = entry / "cache-id"
            if cache.exists():
                self._remove_layer(cache.read_text())
            shutil.rmtree(entry)
            if not entry.name.startswith(".tmp-"):
                removed.append(chain)
        for layer in list(self.overlay.iterdir()):
            if layer.name not in keep_dirs:
                self._remove_layer(layer.name)
        for link in (self.overlay / "l").iterdir():
            if not link.exists():
                link.unlink()
        return removed


def image_chains(root: Path) -> set[str]:
    """The top chain ID of every image in the store at ``root``: the layers that must stay.

    Read straight from the OCI image layout with the json module (image_record.blob): every
    `container rm` asks, and the image store's typed documents (msgspec) would cost more to
    import than the rest."""
    import json

    out: set[str] = set()
    try:
        index = json.loads((root / "index.json").read_bytes())
    except FileNotFoundError:
        return out
    for d in index.get("manifests", []):
        if d.get("mediaType") not in MANIFEST_TYPES:
            continue
        try:
            diff_ids = blob(root, blob(root, d["digest"])["config"]["digest"]).get("rootfs", {}).get("diff_ids") or []
        except FileNotFoundError:
            continue
        if diff_ids:
            out.add(chain_ids(diff_ids)[-1])
    return out


def collect(store: Store) -> list[str]:
    """Remove the layers no image or container uses any more (after ``image rm``)."""
    layers = LayerStore(store.root)
    if not layers.layerdb.exists():
        return []
    with layers.locked():
        return layers.gc(image_chains(store.root))
