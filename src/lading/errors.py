"""The one exception type every layer raises for a user-facing failure, and the one way any
failure is put into words.

The message is a single line meant for the person at the terminal (or for podman/containerd,
which copy it from the log file): it names what failed and why, e.g.
``config.json: $.process.user.uid: expected an integer, got "root"``. Whatever else escapes (an
OSError from a read-only or full filesystem, a missing directory, a bug) is put into one line by
:func:`describe` at the single boundary each front end has (the command line's, an API
server's), so no traceback ever reaches a user.
"""


class LadingError(Exception):
    """A failure to report as one line and exit status 1."""


class NotFoundError(LadingError):
    """The named container, image or file does not exist."""


def describe(exc: BaseException) -> str:
    """One line for any failure: a LadingError's own text, an OSError's path and reason
    (``/run/x/state.json: Read-only file system``), anything else by its type."""
    if isinstance(exc, LadingError):
        return str(exc)
    if isinstance(exc, OSError):
        why = exc.strerror or str(exc)
        if exc.filename is None:
            return why
        if exc.filename2 is None:
            return f"{exc.filename}: {why}"
        return f"{exc.filename} -> {exc.filename2}: {why}"
    text = str(exc)
    return f"internal error: {type(exc).__name__}: {text}" if text else f"internal error: {type(exc).__name__}"
