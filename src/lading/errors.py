"""The one exception type every layer raises for a user-facing failure.

The message is a single line meant for the person at the terminal (or for podman/containerd,
which copy it from the log file): it names what failed and why, e.g.
``config.json: $.process.user.uid: expected an integer, got "root"``.
"""


class LadingError(Exception):
    """A failure to report as one line and exit status 1."""


class NotFoundError(LadingError):
    """The named container, image or file does not exist."""
