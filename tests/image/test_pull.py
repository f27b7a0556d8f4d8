"""`lading image pull` against a real docker-registry on 127.0.0.1 (images pushed by skopeo)."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.conftest import BuiltImages, ImageCLI, RunningRegistry
from tests.image.oci import sha, skopeo_push
from tests.image.servers import FaultyProxy, Registry, TokenServer, free_port, htpasswd
from tests.support import lading_argv, lading_env


def manifest_of(image: ImageCLI, name: str) -> dict:
    return json.loads(image("inspect", name).stdout)


def test_pull_unpack_and_inspect(image: ImageCLI, registry: RunningRegistry, tmp_path: Path) -> None:
    ref = f"{registry.host}/test/busybox:1"
    out = image("pull", "--insecure", ref).stdout
    assert out.splitlines()[-1] == ref
    info = manifest_of(image, ref)
    assert info["config"]["architecture"] == "amd64"
    assert out.splitlines()[0] == f"Digest: {info['digest']}"
    assert ref in image("ls").stdout
    # the store is an OCI layout other tools read
    assert (image.store / "oci-layout").exists()
    idx = json.loads((image.store / "index.json").read_text())
    assert idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == ref
    skopeo = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{image.store}:{ref}"], capture_output=True, text=True, check=True
    )
    assert json.loads(skopeo.stdout)["layers"] == info["manifest"]["layers"]
    # nothing left in ingest but lock files
    assert not [p for p in (image.store / "ingest").iterdir() if not p.name.endswith(".lock")]

    image("unpack", ref, str(tmp_path / "root"))
    assert (tmp_path / "root" / "bin" / "busybox").is_file()
    assert os.readlink(tmp_path / "root" / "bin" / "sh") == "busybox"


def test_whiteouts_across_layers(image: ImageCLI, registry: RunningRegistry, tmp_path: Path) -> None:
    ref = f"{registry.host}/test/layers:1"
    image("pull", "--insecure", ref)
    root = tmp_path / "root"
    image("unpack", ref, str(root))
    assert (root / "opt" / "keep").read_text() == "keep\n"
    assert not (root / "opt" / "gone").exists()  # .wh.gone
    assert not (root / "bin" / "vi").exists() and (root / "bin" / "ls").exists()
    assert sorted(os.listdir(root / "data")) == ["new"]  # opaque: lower entries gone, this layer's kept
    assert (root / "data").stat().st_mode & 0o7777 == 0o750
    st = (root / "etc" / "motd").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1, 1, 0o600)
    assert st.st_mtime == 1_600_000_000
    assert (root / "home" / "app").stat().st_uid == 1


def test_zstd_layers(image: ImageCLI, registry: RunningRegistry, tmp_path: Path) -> None:
    ref = f"{registry.host}/test/zstd:1"
    image("pull", "--insecure", ref)
    assert all(layer["mediaType"].endswith("+zstd") for layer in manifest_of(image, ref)["manifest"]["layers"])
    image("unpack", ref, str(tmp_path / "root"))
    assert (tmp_path / "root" / "opt" / "gone").read_text() == "gone\n"


def test_docker_schema2_media_types(image: ImageCLI, registry: RunningRegistry, test_images: BuiltImages) -> None:
    ref = f"{registry.host}/test/docker-v2s2:1"
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--format", "v2s2",
         f"oci:{test_images.layout}:layers", f"docker://{ref}"],
        check=True, capture_output=True, env={**os.environ, "HOME": str(image.store.parent)},
    )  # fmt: skip
    image("pull", "--insecure", ref)
    info = manifest_of(image, ref)
    assert info["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert info["manifest"]["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {x["mediaType"] for x in info["manifest"]["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    image("unpack", ref, str(image.store.parent / "root"))
    assert (image.store.parent / "root" / "data" / "new").read_text() == "new\n"


def test_pull_by_digest_and_normalized_names(image: ImageCLI, registry: RunningRegistry) -> None:
    digest = manifest_of_pulled(image, f"{registry.host}/test/busybox:1")
    other = ImageCLI(image.store.parent / "store2")
    ref = f"{registry.host}/test/busybox@{digest}"
    other("pull", "--insecure", ref)
    assert manifest_of(other, ref)["digest"] == digest
    assert manifest_of(other, digest[7:19])["digest"] == digest  # by digest prefix


def manifest_of_pulled(image: ImageCLI, ref: str) -> str:
    image("pull", "--insecure", "-q", ref)
    return str(manifest_of(image, ref)["digest"])


def test_platform_selection(image: ImageCLI, registry: RunningRegistry, tmp_path: Path) -> None:
    ref = f"{registry.host}/test/multi:1"
    image("pull", "--insecure", ref)
    image("unpack", ref, str(tmp_path / "host"))
    assert (tmp_path / "host" / "arch").read_text() == "amd64\n"
    image("pull", "--insecure", "--platform", "linux/arm64", ref)
    assert manifest_of(image, ref)["config"]["architecture"] == "arm64"
    image("unpack", ref, str(tmp_path / "arm"))
    assert (tmp_path / "arm" / "arch").read_text() == "arm64\n"
    p = image("pull", "--insecure", "--platform", "linux/s390x", ref, check=False)
    assert p.returncode == 1
    assert "no image for platform linux/s390x; available: linux/amd64, linux/arm64/v8" in p.stderr


def test_errors_users_understand(image: ImageCLI, registry: RunningRegistry) -> None:
    cases = {
        f"{registry.host}/test/nonexistent:1": "unknown image",
        f"{registry.host}/test/busybox:nope": "unknown tag 'nope'",
        f"127.0.0.1:{free_port()}/test/busybox:1": "is down or not listening",
        "Bad/Name": "invalid image reference",
    }
    for ref, message in cases.items():
        p = image("pull", "--insecure", "--retries", "0", ref, check=False)
        assert p.returncode == 1, p
        assert message in p.stderr, (ref, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "Traceback" not in p.stderr
    assert image.blobs() == set()


def test_corrupt_blob_is_never_stored(image: ImageCLI, registry: RunningRegistry) -> None:
    proxy = FaultyProxy(registry.host)
    try:
        proxy.corrupt = True
        p = image("pull", "--insecure", f"{proxy.host}/test/busybox:1", check=False)
        assert p.returncode == 1 and "content does not match" in p.stderr, p.stderr
        config_and_layers = image.blobs()
        assert config_and_layers == set()
        assert json.loads((image.store / "index.json").read_text())["manifests"] == []
    finally:
        proxy.stop()


@pytest.fixture
def proxy(registry: RunningRegistry) -> Iterator[FaultyProxy]:
    p = FaultyProxy(registry.host)
    yield p
    p.stop()


def test_dropped_connection_resumes(image: ImageCLI, proxy: FaultyProxy, test_images: BuiltImages) -> None:
    proxy.cut, proxy.faults_left = 300_000, 1
    image("pull", "--insecure", f"{proxy.host}/test/busybox:1")
    assert "bytes=300000-" in proxy.ranges  # the second request asked only for the rest
    info = manifest_of(image, f"{proxy.host}/test/busybox:1")
    (layer,) = info["manifest"]["layers"]
    assert layer["digest"] in image.blobs()


def test_failed_pull_leaves_nothing_visible_then_resumes(image: ImageCLI, proxy: FaultyProxy) -> None:
    ref = f"{proxy.host}/test/busybox:1"
    proxy.cut, proxy.faults_left = 300_000, 100
    p = image("pull", "--insecure", "--retries", "0", ref, check=False)
    assert p.returncode == 1 and "unreachable" in p.stderr, p.stderr
    index = json.loads((image.store / "index.json").read_text())
    assert index["manifests"] == []
    partials = list((image.store / "ingest").glob("*.partial"))
    assert len(partials) == 1 and partials[0].stat().st_size == 300_000
    layer = "sha256:" + partials[0].name.removesuffix(".partial").removeprefix("sha256-")
    assert layer not in image.blobs()
    proxy.faults_left = 0
    proxy.ranges.clear()
    image("pull", "--insecure", ref)
    assert "bytes=300000-" in proxy.ranges
    assert layer in image.blobs()
    assert not list((image.store / "ingest").glob("*.partial"))


def test_ctrl_c_leaves_no_partial_blob_or_index(image: ImageCLI, proxy: FaultyProxy) -> None:
    proxy.cut, proxy.faults_left, proxy.stall = 300_000, 1, True
    argv = [*lading_argv(), "image", "pull", "--storage-root", str(image.store), "--insecure"]
    proc = subprocess.Popen([*argv, f"{proxy.host}/test/busybox:1"], env=lading_env(), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            partials = list((image.store / "ingest").glob("*.partial")) if image.store.exists() else []
            if partials and partials[0].stat().st_size >= 300_000:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the download never started")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert json.loads((image.store / "index.json").read_text())["manifests"] == []
    for blob in image.store.glob("blobs/sha256/*"):  # whatever is visible is complete and verified
        assert sha(blob.read_bytes()) == f"sha256:{blob.name}"
    layer = next((image.store / "ingest").glob("*.partial")).name.removesuffix(".partial").replace("-", ":")
    assert layer not in image.blobs()


def test_concurrent_pulls_download_shared_layer_once(
    image: ImageCLI, proxy: FaultyProxy, test_images: BuiltImages
) -> None:
    argv = [*lading_argv(), "image", "pull", "--storage-root", str(image.store), "--insecure", "-q"]
    procs = [
        subprocess.Popen([*argv, f"{proxy.host}/test/{tag}:1"], env=lading_env(), stderr=subprocess.PIPE)
        for tag in ("busybox", "layers", "zstd")
    ]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    base_gzip = {d for d, n in proxy.blob_gets.items() if n > 1}
    assert not base_gzip, f"downloaded more than once: {proxy.blob_gets}"
    names = image("ls", "-q").stdout.split()
    assert len(names) == 3


def test_progress_on_a_terminal(image: ImageCLI, registry: RunningRegistry) -> None:
    main, sub = pty.openpty()
    try:
        argv = [*lading_argv(), "image", "pull", "--storage-root", str(image.store), "--insecure"]
        p = subprocess.run(
            [*argv, f"{registry.host}/test/layers:1"],
            env=lading_env(),
            stderr=sub,
            stdout=subprocess.PIPE,
            timeout=60,
        )
        assert p.returncode == 0
        os.close(sub)
        sub = -1
        out = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(main)
        if sub >= 0:
            os.close(sub)
    text = out.decode()
    assert "\x1b[" in text and "Pull complete" in text and "total: [" in text


# --- authentication ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory, test_images: BuiltImages) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("basic")
    reg = Registry(tmp / "reg", extra=htpasswd(tmp / "htpasswd", "alice", "s3cret"))
    try:
        skopeo_push(test_images.layout, "busybox", f"{reg.host}/private/busybox:1", creds="alice:s3cret")
        yield reg.host
    finally:
        reg.stop()


def test_basic_auth(image: ImageCLI, basic_registry: str, tmp_path: Path) -> None:
    ref = f"{basic_registry}/private/busybox:1"
    env = {"DOCKER_CONFIG": str(tmp_path / "docker"), "REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": ""}
    p = image("pull", "--insecure", ref, check=False, env=env)
    assert p.returncode == 1 and "requires authentication" in p.stderr, p.stderr
    p = image("pull", "--insecure", "--creds", "alice:wrong", ref, check=False, env=env)
    assert p.returncode == 1 and "authentication to" in p.stderr and "failed as 'alice'" in p.stderr, p.stderr
    image("pull", "--insecure", "--creds", "alice:s3cret", ref, env=env)
    # from the docker config
    other = ImageCLI(tmp_path / "store2")
    (tmp_path / "docker").mkdir()
    auth = __import__("base64").b64encode(b"alice:s3cret").decode()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"auths": {basic_registry: {"auth": auth}}}))
    other("pull", "--insecure", ref, env=env)
    assert ref in other("ls", "-q").stdout


def test_token_auth(image: ImageCLI, tmp_path_factory: pytest.TempPathFactory, test_images: BuiltImages) -> None:
    tmp = tmp_path_factory.mktemp("token")
    tokens = TokenServer(tmp / "tokens", "bob", "hunter2")
    reg = Registry(tmp / "reg", extra=tokens.registry_auth())
    try:
        skopeo_push(test_images.layout, "busybox", f"{reg.host}/team/busybox:1", creds="bob:hunter2")
        ref = f"{reg.host}/team/busybox:1"
        env = {"DOCKER_CONFIG": str(tmp / "nodocker"), "REGISTRY_AUTH_FILE": "", "XDG_RUNTIME_DIR": ""}
        p = image("pull", "--insecure", ref, check=False, env=env)
        assert p.returncode == 1 and "authentication to" in p.stderr and "anonymously" in p.stderr, p.stderr
        p = image("pull", "--insecure", "--creds", "bob:nope", ref, check=False, env=env)
        assert p.returncode == 1 and "failed as 'bob'" in p.stderr, p.stderr
        tokens.requests.clear()
        image("pull", "--insecure", "--creds", "bob:hunter2", ref, env=env)
        assert any("scope=repository%3Ateam%2Fbusybox%3Apull" in r for r in tokens.requests), tokens.requests
        digest = sha(test_images.base_layer)
        assert json.loads(image("inspect", ref).stdout)["config"]["rootfs"]["diff_ids"] == [digest]
    finally:
        reg.stop()
        tokens.stop()


def test_tls_registry(image: ImageCLI, tmp_path_factory: pytest.TempPathFactory, test_images: BuiltImages) -> None:
    tmp = tmp_path_factory.mktemp("tls")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    reg = Registry(tmp / "reg", extra=f"  tls:\n    certificate: {cert}\n    key: {key}\n")
    try:
        skopeo_push(test_images.layout, "busybox", f"{reg.host}/secure/busybox:1")
        ref = f"{reg.host}/secure/busybox:1"
        p = image("pull", "--retries", "0", ref, check=False)
        assert p.returncode == 1 and "TLS failed" in p.stderr and "--insecure" in p.stderr, p.stderr
        image("pull", "--insecure", ref)  # plain HTTP answered 400: TLS without verification
        assert ref in image("ls", "-q").stdout
    finally:
        reg.stop()
