"""Containers run by root whose root is not the host's root: a user namespace mapping the
container's ids onto a range of host ids, as podman --userns=auto and Kubernetes user namespaces
use. The bundles live in pytest's temp dirs, which are 0700 and host root's: everything the init
opens from the host must work for a mapped root that could not enter them itself."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Bundle
from tests.support import Lading
from tests.support_console import ConsoleSocket

BASE = 400000  # host ids the container's 0-65535 map to
SIZE = 65536


def map_ids(bundle: Bundle, uids: list[dict[str, int]] | None = None) -> Bundle:
    """A user namespace with these mappings, and the rootfs owned by the container's root (as a
    user shifts an image for it), so that mount points can be made in it."""
    subprocess.run(["chown", "-R", f"{BASE}:{BASE}", str(bundle.rootfs)], check=True)
    ids = uids or [{"containerID": 0, "hostID": BASE, "size": SIZE}]
    linux = bundle.config["linux"]
    linux["uidMappings"] = ids
    linux["gidMappings"] = ids
    linux["namespaces"].append({"type": "user"})
    bundle.config["root"]["readonly"] = False
    return bundle


def owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def test_files_made_inside_are_owned_by_the_mapped_ids(lading: Lading, bundle: Bundle) -> None:
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind].append("CAP_CHOWN")
    map_ids(bundle).write(
        args=["sh", "-c", "id -u; touch /tmp/root-made; touch /tmp/user-made; chown 1000:100 /tmp/user-made"]
    )
    p = lading("run", "--bundle", str(bundle), "mapped")
    assert p.stdout.split() == ["0"]
    assert owner(bundle.rootfs / "tmp" / "root-made") == (BASE, BASE)
    assert owner(bundle.rootfs / "tmp" / "user-made") == (BASE + 1000, BASE + 100)


def test_several_ranges_and_a_non_root_process_user(lading: Lading, bundle: Bundle) -> None:
    ranges = [
        {"containerID": 0, "hostID": BASE, "size": 1},
        {"containerID": 1, "hostID": BASE + 1000, "size": 2000},
    ]
    map_ids(bundle, ranges).write(args=["sh", "-c", "id -u; id -g; touch /tmp/made"], user={"uid": 1500, "gid": 1500})
    p = lading("run", "--bundle", str(bundle), "ranges")
    assert p.stdout.split() == ["1500", "1500"]
    assert owner(bundle.rootfs / "tmp" / "made") == (BASE + 1000 + 1499, BASE + 1000 + 1499)


def test_created_container_starts_and_execs(lading: Lading, bundle: Bundle) -> None:
    """The exec fifo and the whole create/start handshake work for a root that is not host root."""
    map_ids(bundle).write(args=["sleep", "60"])
    lading("create", "--bundle", str(bundle), "handshake")
    assert lading.state("handshake")["status"] == "created"
    lading("start", "handshake")
    assert lading.state("handshake")["status"] == "running"
    assert lading("exec", "handshake", "id", "-u").stdout.split() == ["0"]
    uid_map = Path(f"/proc/{lading.state('handshake')['pid']}/uid_map").read_text().split()
    assert uid_map == ["0", str(BASE), str(SIZE)]
    lading("delete", "--force", "handshake")


def test_bind_source_only_host_root_can_enter(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    """A source below a 0700 directory of host root is opened before the init becomes the
    container's root, as runc does; without that it would be "source does not exist"."""
    locked = tmp_path / "locked"
    (locked / "data").mkdir(parents=True)
    locked.chmod(0o700)
    (locked / "data").chmod(0o777)
    (locked / "data" / "hello").write_text("hi\n")
    (locked / "data" / "hello").chmod(0o644)
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(locked / "data"), "options": ["rbind"]}
    )
    map_ids(bundle).write(args=["cat", "/data/hello"])
    assert lading("run", "--bundle", str(bundle), "locked").stdout == "hi\n"


def test_id_mapped_bind_mount_shows_the_right_owners(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    """idmap with the container's own mapping: host ids 0 and 1000 show as 0 and 1000 inside."""
    data = tmp_path / "data"
    data.mkdir()
    for name, uid in (("root-file", 0), ("user-file", 1000)):
        (data / name).write_text(name)
        os.chown(data / name, uid, uid)
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind", "idmap"]}
    )
    map_ids(bundle).write(args=["sh", "-c", "stat -c '%n %u %g' /data/*; touch /data/new"])
    out = lading("run", "--bundle", str(bundle), "idmapped").stdout
    assert out.split("\n")[:2] == ["/data/root-file 0 0", "/data/user-file 1000 1000"]
    assert owner(data / "new") == (0, 0)  # written through the mapping: host root's, as inside


def test_id_mapped_bind_mount_with_its_own_mapping(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    """mounts[].uidMappings without a user namespace: the mount alone shifts the owners."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("x")
    os.chown(data / "f", 5, 6)
    ids = [{"containerID": 0, "hostID": 2000, "size": 100}]
    bundle.config["mounts"].append(
        {
            "destination": "/data",
            "type": "bind",
            "source": str(data),
            "options": ["bind", "idmap"],
            "uidMappings": ids,
            "gidMappings": ids,
        }
    )
    bundle.write(args=["stat", "-c", "%u %g", "/data/f"])
    assert lading("run", "--bundle", str(bundle), "ownmap").stdout.split() == ["2005", "2006"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": BASE, "size": 10}] * 2),
            "config.json: $.linux.uidMappings[1]: container ids overlap those of config.json: $.linux.uidMappings[0]",
        ),
        (
            lambda c: c["linux"].update(uidMappings=[{"containerID": 1, "hostID": BASE, "size": 10}]),
            "config.json: $.linux.uidMappings: the container's root (0) is not mapped",
        ),
        (
            lambda c: c["process"].update(user={"uid": 70000, "gid": 0}),
            "config.json: $.process.user.uid: 70000 is not mapped in the user namespace",
        ),
        (
            lambda c: c["mounts"].append({"destination": "/x", "type": "tmpfs", "source": "t", "options": ["idmap"]}),
            "config.json: $.mounts[7]: only bind mounts can be id-mapped",
        ),
    ],
)
def test_bad_mappings_get_one_line_and_leave_nothing(lading: Lading, bundle: Bundle, edit, message) -> None:
    map_ids(bundle)
    edit(bundle.config)
    bundle.write(args=["true"])
    p = lading("create", "--bundle", str(bundle), "bad", check=False)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1].endswith(message), p.stderr
    assert "Traceback" not in p.stderr


def test_idmap_without_any_mapping_is_refused(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(tmp_path), "options": ["rbind", "idmap"]}
    )
    bundle.write(args=["true"])
    p = lading("create", "--bundle", str(bundle), "nomap", check=False)
    assert p.returncode == 1
    assert (
        "config.json: $.mounts[7]: idmap without uidMappings needs the container's own user namespace mappings"
        in p.stderr
    )


def test_joining_a_user_namespace_and_one_it_owns(lading: Lading, bundle: Bundle, tmp_path: Path) -> None:
    """A second container joins the first's user and network namespaces by path (the user
    namespace first, so that the network namespace it owns can be joined), as a pod does."""
    map_ids(bundle).write(args=["sleep", "60"])
    lading("run", "--detach", "--bundle", str(bundle), "first")
    pid = lading.state("first")["pid"]
    second = Bundle(tmp_path / "second")
    second.path.mkdir()
    second.config["root"] = {"path": str(bundle.rootfs), "readonly": False}
    namespaces = [n for n in second.config["linux"]["namespaces"] if n["type"] != "network"]
    second.config["linux"]["namespaces"] = [
        *namespaces,
        {"type": "user", "path": f"/proc/{pid}/ns/user"},
        {"type": "network", "path": f"/proc/{pid}/ns/net"},
    ]
    second.write(args=["sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/net"])
    out = lading("run", "--bundle", str(second), "second").stdout.split("\n")
    assert out[0] == "0"
    assert out[1].split() == ["0", str(BASE), str(SIZE)]
    assert out[2] == os.readlink(f"/proc/{pid}/ns/net")
    lading("delete", "--force", "first")


def test_time_offsets_in_a_user_namespace(lading: Lading, bundle: Bundle) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    map_ids(bundle).write(args=["cat", "/proc/uptime"])
    uptime = float(lading("run", "--bundle", str(bundle), "timens").stdout.split()[0])
    assert uptime >= 86400 * 365


def test_console_socket_for_a_mapped_root(lading: Lading, bundle: Bundle) -> None:
    """The console socket (connected by the runtime) and the pty from the container's own devpts
    work for a root that is not host root."""
    map_ids(bundle).write(terminal=True, args=["sh", "-c", "tty; id -u"])
    with ConsoleSocket(lading.tmp / "console.sock") as console:
        lading("create", "--bundle", str(bundle), "--console-socket", str(console.path), "tty")
        console.accept()
        lading("start", "tty")
        out = console.read_to_hangup()
    assert out.split() == [b"/dev/pts/0", b"0"]
    lading("delete", "--force", "tty")


def test_devices_are_bound_from_the_host(lading: Lading, bundle: Bundle) -> None:
    """A user namespace cannot mknod: the default devices and linux.devices are the host's nodes,
    bind-mounted (as runc does), and usable."""
    bundle.config["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
    script = "stat -c '%n %t:%T' /dev/null /dev/fuse; echo x > /dev/null; head -c 3 /dev/zero | wc -c"
    map_ids(bundle).write(args=["sh", "-c", script])
    out = lading("run", "--bundle", str(bundle), "devices").stdout.split("\n")
    assert out[:3] == ["/dev/null 1:3", "/dev/fuse a:e5", "3"]


def test_a_listed_default_device_is_bound_once(lading: Lading, bundle: Bundle) -> None:
    """linux.devices naming a default device (what `--privileged` lists): the config's entry is
    the one made, not bound twice over (a bind mount cannot be unlinked)."""
    bundle.config["linux"]["devices"] = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3}]
    map_ids(bundle).write(args=["sh", "-c", "echo x > /dev/null && stat -c '%n %t:%T' /dev/null"])
    assert lading("run", "--bundle", str(bundle), "listed-null").stdout == "/dev/null 1:3\n"


def test_additional_groups_under_a_mapped_root(lading: Lading, bundle: Bundle) -> None:
    """Root writes the maps with setgroups allowed, so the process gets its additional groups."""
    map_ids(bundle).write(args=["id", "-G"], user={"uid": 0, "gid": 0, "additionalGids": [100, 1]})
    assert lading("run", "--bundle", str(bundle), "groups").stdout.split() == ["0", "1", "100"]
