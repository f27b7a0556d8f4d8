"""`lading image ...`: pull, ls, inspect, rm, tag, import, export, unpack, bundle.

The image store (``--storage-root``, default /var/lib/lading, or the user's data directory when
not root) has nothing to do with the runtime's state directory (the global ``--root``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from lading.errors import LadingError

# Subcommands with their own flags: parsed with argparse (lading.cli.main reads this).
ARGPARSE = True

_SUBCOMMANDS = {
    "pull": "pull an image from a registry",
    "ls": "list images in the store",
    "inspect": "show an image's manifest and config",
    "rm": "remove images and the blobs only they used",
    "tag": "give an image another name",
    "import": "import from an OCI layout directory, oci-archive or docker save tarball",
    "export": "export an image to an OCI image layout directory",
    "unpack": "apply an image's layers to a directory",
    "bundle": "create a runtime bundle (config.json + rootfs) from an image",
}


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--storage-root",
        default=argparse.SUPPRESS,
        help="image store directory, an OCI image layout (default /var/lib/lading; when not root, "
        "$XDG_DATA_HOME/lading or ~/.local/share/lading)",
    )
    parser.add_argument("--storage-root", default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p: dict[str, argparse.ArgumentParser] = {
        name: sub.add_parser(name, help=h, description=h, parents=[common]) for name, h in _SUBCOMMANDS.items()
    }
    platform_help = "os/arch[/variant] to choose from multi-platform images (default: this host's)"

    p["pull"].add_argument("reference", help="e.g. busybox, library/busybox:1.36, host:5000/ns/name@sha256:...")
    p["pull"].add_argument("--platform", default="", help=platform_help)
    p["pull"].add_argument("--creds", default="", help="USERNAME[:PASSWORD] for the registry")
    p["pull"].add_argument("--insecure", action="store_true", help="allow plain HTTP and unverified TLS")
    p["pull"].add_argument("--retries", type=int, default=3, help="retries of transient failures (default 3)")
    p["pull"].add_argument("-q", "--quiet", action="store_true", help="no progress output")

    p["ls"].add_argument("-q", "--quiet", action="store_true", help="print names only")
    p["ls"].add_argument("--format", choices=["table", "json"], default="table")

    p["inspect"].add_argument("image")
    p["rm"].add_argument("images", nargs="+", metavar="IMAGE")
    p["tag"].add_argument("image")
    p["tag"].add_argument("name", help="the new name")

    p["import"].add_argument("source", help="OCI layout directory, oci-archive, or docker save tarball")
    p["import"].add_argument("name", nargs="?", help="name to store it under (default: the name in the source)")
    p["import"].add_argument("--platform", default="", help=platform_help)

    p["export"].add_argument("image")
    p["export"].add_argument("dest", help="OCI image layout directory (created, or added to)")
    p["export"].add_argument("--ref-name", default="", help="ref.name in the layout (default: the image's tag)")

    p["unpack"].add_argument("image")
    p["unpack"].add_argument("dest", metavar="DIR")

    b = p["bundle"]
    b.add_argument("image")
    b.add_argument("dest", metavar="DIR")
    b.add_argument("cmd_args", nargs=argparse.REMAINDER, metavar="COMMAND", help="replaces the image's Cmd")
    b.add_argument("--entrypoint", default=None, help="replaces the image's Entrypoint (a JSON array or one word)")
    b.add_argument("-e", "--env", action="append", default=[], help="NAME=VALUE to add to the environment")
    b.add_argument("-u", "--user", default=None, help="user[:group] (names resolved in the image)")
    b.add_argument("-w", "--workdir", default=None, help="working directory")
    b.add_argument("-t", "--tty", action="store_true", help="allocate a terminal (process.terminal)")
    b.add_argument("--read-only", action="store_true", help="make the root filesystem read-only")


def default_storage_root() -> str:
    """/var/lib/lading for root; an unprivileged user's images live in its data directory, as
    rootless podman's do."""
    import os

    if os.geteuid() == 0:
        return "/var/lib/lading"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "lading")


def run(verb: str, args: argparse.Namespace) -> int:
    from lading.image.store import Store

    store = Store(args.storage_root or default_storage_root())
    command = args.subcommand
    handler = globals()[f"_{command}"]
    return int(handler(store, args))


def _platform(text: str) -> Any:
    from lading.image import platform

    return platform.parse(text) if text else platform.host()


def _pull(store: Any, args: argparse.Namespace) -> int:
    from lading.image import auth, reference
    from lading.image.progress import Progress
    from lading.image.pull import PullOptions, pull

    ref = reference.parse(args.reference)
    creds = auth.parse_creds(args.creds) if args.creds else auth.from_config(ref.domain)
    opts = PullOptions(
        platform=_platform(args.platform),
        creds=creds,
        insecure=args.insecure,
        retries=max(0, args.retries),
        explicit_platform=bool(args.platform),
    )
    progress = Progress(sys.stderr, quiet=args.quiet)
    desc = pull(store, ref, opts, progress)
    print(f"Digest: {desc.digest}")
    print(str(ref))
    return 0


def _ls(store: Any, args: argparse.Namespace) -> int:
    import msgspec

    from lading.image.progress import human
    from lading.image.store import Store
    from lading.spec import image as spec

    assert isinstance(store, Store)
    rows = []
    for name, d in store.images():
        size = d.size
        if d.mediaType in spec.MANIFEST_TYPES and store.has(d.digest):
            m = spec.decode(store.read_blob(d.digest), spec.Manifest, d.digest)
            size = m.config.size + sum(layer.size for layer in m.layers)
        rows.append((name, d.digest, str(d.platform or ""), size))
    if args.quiet:
        for name, *_ in rows:
            print(name)
    elif args.format == "json":
        keys = ("name", "digest", "platform", "size")
        print(msgspec.json.encode([dict(zip(keys, r, strict=True)) for r in rows]).decode())
    else:
        print(f"{'NAME':<50} {'DIGEST':<19} {'PLATFORM':<16} SIZE")
        for name, digest, plat, size in rows:
            print(f"{name:<50} {digest[:19]:<19} {plat:<16} {human(size)}")
    return 0


def _inspect(store: Any, args: argparse.Namespace) -> int:
    import msgspec

    from lading.image.images import load

    img = load(store, args.image)
    out = {
        "name": img.name,
        "digest": img.descriptor.digest,
        "mediaType": img.descriptor.mediaType,
        "manifest": msgspec.to_builtins(img.manifest),
        "config": json.loads(store.read_blob(img.manifest.config.digest)),
    }
    print(json.dumps(out, indent=2))
    return 0


def _rm(store: Any, args: argparse.Namespace) -> int:
    from lading.image.images import resolve_name

    for text in args.images:
        name, _ = resolve_name(store, text)
        store.remove_ref(name)
        print(f"Untagged: {name}")
    for digest in store.gc():
        print(f"Deleted: {digest}")
    from lading.engine.layers import collect

    if os.geteuid() != 0 and (store.root / "layerdb").exists():
        from pathlib import Path

        from lading.engine import rootless  # the rootless engine's layers belong to its mapped ids
        from lading.engine.roots import Roots

        roots = Roots(store.root, Path(os.path.abspath(rootless.roots(str(store.root), None)[1])))
        lock = rootless.enter(roots)
        try:
            collect(store)
        finally:
            rootless.leave(roots, lock)
    else:
        collect(store)
    return 0


def _tag(store: Any, args: argparse.Namespace) -> int:
    from lading.image import reference
    from lading.image.images import resolve_name

    _, d = resolve_name(store, args.image)
    store.set_ref(str(reference.parse(args.name)), d)
    return 0


def _import(store: Any, args: argparse.Namespace) -> int:
    from lading.image.transfer import import_source

    for name in import_source(store, args.source, args.name, _platform(args.platform)):
        print(name)
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    from lading.image import reference
    from lading.image.images import load
    from lading.image.transfer import export_layout

    img = load(store, args.image)
    ref_name = args.ref_name
    if not ref_name:
        try:
            ref_name = reference.parse(img.name).tag or img.descriptor.digest
        except LadingError:
            ref_name = img.descriptor.digest
    export_layout(store, img, args.dest, ref_name)
    return 0


def _unpack(store: Any, args: argparse.Namespace) -> int:
    from lading.image.bundle import unpack
    from lading.image.images import load

    unpack(store, load(store, args.image), args.dest)
    return 0


def _bundle(store: Any, args: argparse.Namespace) -> int:
    from lading.image.bundle import bundle
    from lading.image.convert import Overrides
    from lading.image.images import load

    entrypoint = None
    if args.entrypoint is not None:
        text = args.entrypoint.strip()
        try:
            entrypoint = json.loads(text) if text.startswith("[") else ([text] if text else [])
        except ValueError:
            entrypoint = None
        if not isinstance(entrypoint, list) or not all(isinstance(a, str) for a in entrypoint):
            raise LadingError("--entrypoint: expected a word or a JSON array of strings")
    command = args.cmd_args[1:] if args.cmd_args[:1] == ["--"] else args.cmd_args
    overrides = Overrides(
        entrypoint=entrypoint,
        cmd=command or None,
        env=tuple(args.env),
        user=args.user,
        cwd=args.workdir,
        terminal=args.tty,
        readonly=args.read_only,
    )
    bundle(store, load(store, args.image), args.dest, overrides)
    return 0
