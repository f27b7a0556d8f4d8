"""The process `exec` starts: a process.json, or the container's own process with the flags applied.

As with runc, ``--process FILE`` is the whole process (the other process flags are ignored);
otherwise the container's ``process`` from config.json (as recorded at create) is the template:
the command line replaces ``args``, ``--cwd``, ``--apparmor`` and ``--process-label`` replace
theirs, ``--env`` entries are appended (a later one wins), ``--cap`` adds to every capability set,
``--user`` and ``--additional-gids`` change the user, ``--tty`` sets ``terminal`` (off unless
given), and ``--no-new-privs`` turns noNewPrivileges on.
"""

from __future__ import annotations

from lading.errors import LadingError
from lading.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lading.spec.runtime_config import Process


class ProcessFlags(Record):
    args: list[str] = []  # noqa: RUF012  # a Record default, never mutated
    tty: bool = False
    cwd: str | None = None
    env: list[str] = []  # noqa: RUF012
    user: str | None = None
    additional_gids: list[int] = []  # noqa: RUF012
    caps: list[str] = []  # noqa: RUF012
    no_new_privs: bool = False
    apparmor: str | None = None
    process_label: str | None = None


def from_file(path: str) -> Process:
    """Decode a process.json; errors name the file and the JSON path."""
    from lading.spec.decode import decode, read_document
    from lading.spec.runtime_config import Process

    return decode(read_document(path), Process, path)


def from_flags(template: Process, flags: ProcessFlags) -> Process:
    """The container's process changed as the command-line flags say."""
    from lading.spec.model import replace
    from lading.spec.runtime_config import LinuxCapabilities

    if not flags.args:
        raise LadingError("exec: a command is required (or --process FILE)")
    if flags.cwd is not None and not flags.cwd.startswith("/"):
        raise LadingError(f"--cwd: {flags.cwd!r} is not an absolute path")
    user = template.user
    if flags.user:
        uid, gid = parse_user(flags.user)
        user = replace(user, uid=uid, gid=user.gid if gid is None else gid)
    if flags.additional_gids:
        user = replace(user, additional_gids=[*(user.additional_gids or []), *flags.additional_gids])
    caps = template.capabilities
    if flags.caps:
        caps = caps or LinuxCapabilities()
        caps = replace(
            caps,
            **{
                name: [*(getattr(caps, name) or []), *flags.caps]
                for name in ("bounding", "effective", "inheritable", "permitted", "ambient")
            },
        )
    return replace(
        template,
        args=list(flags.args),
        terminal=flags.tty,
        cwd=flags.cwd or template.cwd,
        env=[*(template.env or []), *flags.env],
        user=user,
        capabilities=caps,
        no_new_privileges=template.no_new_privileges or flags.no_new_privs,
        apparmor_profile=flags.apparmor or template.apparmor_profile,
        selinux_label=flags.process_label or template.selinux_label,
    )


def parse_user(text: str) -> tuple[int, int | None]:
    """``uid`` or ``uid:gid``, numeric as runc takes them."""
    uid_text, sep, gid_text = text.partition(":")
    try:
        uid = int(uid_text)
        gid = int(gid_text) if sep else None
    except ValueError:
        raise LadingError(f"--user: expected <uid>[:<gid>] with numeric ids, got {text!r}") from None
    if not 0 <= uid < 2**32 or (gid is not None and not 0 <= gid < 2**32):
        raise LadingError(f"--user: ids must be between 0 and 4294967295, got {text!r}")
    return uid, gid
