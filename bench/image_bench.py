"""Image benchmark: lading against umoci (unpack) and skopeo (pull), side by side in one run.

    sudo PYTHONPATH=src:. python bench/image_bench.py [--mb 120] [--runs 3]

Setup (not timed): a multi-layer image of at least 100 MB built from this host's /usr (three
layers of files plus one with a single large file), written as an OCI layout with gzip layers,
imported into a lading store and pushed by skopeo to a docker-registry on 127.0.0.1.

Timed, each run into a fresh directory, tools alternating:
- unpack: ``lading image bundle`` vs ``umoci unpack`` (both write rootfs + config.json)
- pull: ``lading image pull`` vs ``skopeo copy docker://... oci:DIR`` from the local registry

Reported: median seconds, MB/s (uncompressed bytes for unpack, compressed for pull), and peak
RSS of the process (from wait4). Unpack memory is also measured on a small image, to show that
it does not grow with layer size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parent.parent),
    str(Path(__file__).resolve().parent.parent / "src"),
]

from tests.image.oci import LAYER_TYPES, Layout  # noqa: E402
from tests.image.servers import Registry  # noqa: E402

LADING = [sys.executable, "-m", "lading"]


def run(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command, which must succeed.

    The peak comes from GNU time (its child's rusage), not from our own wait4: a process started
    straight from this one would inherit this process's RSS as the floor of its ru_maxrss."""
    with tempfile.NamedTemporaryFile("r", prefix="lading-image-bench-rss-") as rss:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if p.returncode != 0:
            raise SystemExit(f"{argv} failed ({p.returncode}): {p.stderr}")
        return elapsed, int(rss.read().split()[-1]) / 1024


def tar_layer(paths: list[Path], out: Path) -> int:
    """Tar the given host paths (relative to /) into ``out``; returns the uncompressed size."""
    rel = [str(p.relative_to("/")) for p in paths]
    subprocess.run(["tar", "-C", "/", "--numeric-owner", "-cf", str(out), *rel], check=True)
    return out.stat().st_size


def gzip_file(src: Path, dst: Path) -> None:
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(src, "rb") as f, open(dst, "wb") as out:
        while chunk := f.read(1 << 20):
            out.write(comp.compress(chunk))
        out.write(comp.flush())


def pick_host_files(budget: int) -> list[list[Path]]:
    """Three layers of /usr subtrees adding up to about ``budget`` bytes."""
    chosen: list[Path] = []
    total = 0
    for top in ("/usr/lib/python3", "/usr/share/perl", "/usr/lib/x86_64-linux-gnu", "/usr/share", "/usr/bin"):
        for p in sorted(Path(top).glob("*")) if Path(top).exists() else []:
            if total >= budget:
                break
            du = int(subprocess.run(["du", "-sb", str(p)], capture_output=True, text=True).stdout.split()[0] or 0)
            if du > budget // 3:
                continue
            chosen.append(p)
            total += du
    third = max(1, len(chosen) // 3)
    return [chosen[:third], chosen[third : 2 * third], chosen[2 * third :]]


def build_image(tmp: Path, mb: int, name: str) -> tuple[Path, int, int]:
    """An OCI layout ``tmp/name`` with tag ``bench``; returns (layout, uncompressed, compressed bytes)."""
    import json

    lay = Layout(tmp / name)
    work = tmp / f"{name}-work"
    work.mkdir()
    layers: list[Path] = []
    for i, group in enumerate(pick_host_files(mb * 1_000_000 * 3 // 4)):
        out = work / f"l{i}.tar"
        tar_layer(group, out)
        layers.append(out)
    big = work / "big"
    big.mkdir()
    with open(big / "blob.bin", "wb") as f:
        f.write(os.urandom(mb * 1_000_000 // 4))
    bigtar = work / "l3.tar"
    subprocess.run(["tar", "-C", str(big), "-cf", str(bigtar), "blob.bin"], check=True)
    layers.append(bigtar)
    descs, diff_ids, raw_total, comp_total = [], [], 0, 0
    for layer in layers:
        gz = layer.with_suffix(".tar.gz")
        gzip_file(layer, gz)
        digest = sha_file(gz)
        diff_ids.append(sha_file(layer))
        raw_total += layer.stat().st_size
        comp_total += gz.stat().st_size
        shutil.move(str(gz), lay.path / "blobs" / "sha256" / digest[7:])
        descs.append(
            {
                "mediaType": LAYER_TYPES["gzip"],
                "digest": digest,
                "size": (lay.path / "blobs" / "sha256" / digest[7:]).stat().st_size,
            }
        )
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()  # fmt: skip
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": lay.blob(config), "size": len(config)},
                           "layers": descs}).encode()  # fmt: skip
    lay.index.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "digest": lay.blob(manifest), "size": len(manifest),
                      "annotations": {"org.opencontainers.image.ref.name": "bench"}})  # fmt: skip
    lay._write()
    shutil.rmtree(work)
    return lay.path, raw_total, comp_total


def sha_file(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def measure(
    runs: int, tools: dict[str, Callable[[int], list[str]]], cleanup: Callable[[], None]
) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
    for i in range(runs):
        order = list(tools) if i % 2 == 0 else list(reversed(tools))
        for name in order:
            cleanup()
            subprocess.run(["sync"], check=True)
            results[name].append(run(tools[name](i)))
    cleanup()
    return results


def report(title: str, mbytes: float, results: dict[str, list[tuple[float, float]]]) -> None:
    print(f"\n{title} ({mbytes:.0f} MB)")
    print(f"  {'tool':<28} {'median s':>9} {'MB/s':>8} {'peak RSS MB':>12}")
    for name, rows in results.items():
        secs = statistics.median(r[0] for r in rows)
        rss = max(r[1] for r in rows)
        print(f"  {name:<28} {secs:>9.2f} {mbytes / secs:>8.1f} {rss:>12.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=120, help="approximate uncompressed image size")
    ap.add_argument("--runs", type=int, default=3)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (unpacking preserves ownership and device nodes)")
    tmp = Path(tempfile.mkdtemp(prefix="lading-image-bench-"))
    os.environ["PYTHONPATH"] = os.pathsep.join(sys.path[:2])  # for every lading child below
    env = dict(os.environ)
    registry = None
    try:
        print("building the images ...", flush=True)
        layout, raw, comp = build_image(tmp, opts.mb, "big")
        small, small_raw, _ = build_image(tmp, max(4, opts.mb // 20), "small")
        print(f"big image: {raw / 1e6:.0f} MB in 4 layers ({comp / 1e6:.0f} MB gzip); small: {small_raw / 1e6:.0f} MB")
        store = tmp / "store"
        for lay, name in ((layout, "localhost/bench:big"), (small, "localhost/bench:small")):
            subprocess.run(
                [*LADING, "image", "import", "--storage-root", str(store), f"{lay}:bench", name],
                check=True,
                env=env,
            )

        out = tmp / "out"

        def fresh() -> None:
            shutil.rmtree(out, ignore_errors=True)

        unpack = measure(
            opts.runs,
            {
                "lading image bundle": lambda i: [
                    *LADING,
                    "image",
                    "bundle",
                    "--storage-root",
                    str(store),
                    "localhost/bench:big",
                    str(out),
                ],
                "umoci unpack": lambda i: ["umoci", "unpack", "--image", f"{layout}:bench", str(out)],
            },
            fresh,
        )
        report("unpack", raw / 1e6, unpack)
        _, small_rss = run(
            [
                *LADING,
                "image",
                "unpack",
                "--storage-root",
                str(store),
                "localhost/bench:small",
                str(tmp / "small-out"),
            ]
        )
        fresh()
        _, big_rss = run([*LADING, "image", "unpack", "--storage-root", str(store), "localhost/bench:big", str(out)])
        fresh()
        print(
            f"  lading unpack peak RSS: {small_rss:.1f} MB for {small_raw / 1e6:.0f} MB,"
            f" {big_rss:.1f} MB for {raw / 1e6:.0f} MB"
        )

        registry = Registry(tmp / "registry")
        ref = f"{registry.host}/bench/image:1"
        subprocess.run(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "-q",
                "--dest-tls-verify=false",
                f"oci:{layout}:bench",
                f"docker://{ref}",
            ],
            check=True,
        )
        pulled = tmp / "pulled"

        def fresh_pull() -> None:
            shutil.rmtree(pulled, ignore_errors=True)

        pull = measure(
            opts.runs,
            {
                "lading image pull": lambda i: [
                    *LADING,
                    "image",
                    "pull",
                    "-q",
                    "--insecure",
                    "--storage-root",
                    str(pulled),
                    ref,
                ],
                "skopeo copy": lambda i: [
                    "skopeo",
                    "--insecure-policy",
                    "copy",
                    "-q",
                    "--src-tls-verify=false",
                    f"docker://{ref}",
                    f"oci:{pulled}:bench",
                ],
            },
            fresh_pull,
        )
        report("pull from the local registry", comp / 1e6, pull)
    finally:
        if registry is not None:
            registry.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
