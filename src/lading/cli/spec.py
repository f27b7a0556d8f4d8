"""`lading spec`: write a starter config.json into a bundle, as `runc spec` does."""

from __future__ import annotations

import os

from lading.cli.args import Namespace, Parser
from lading.errors import LadingError


def add_arguments(verb: str, parser: Parser) -> None:
    parser.add_argument("-b", "--bundle", default="", help="path to the root of the bundle directory")
    parser.add_argument(
        "--rootless",
        dest="spec_rootless",
        action="store_true",
        help="generate a configuration for a rootless container",
    )


def run(verb: str, args: Namespace) -> int:
    from lading import jsonlite
    from lading.spec.defaults import default_config

    bundle = args.bundle or "."
    if not os.path.isdir(bundle):
        raise LadingError(f"bundle {bundle}: no such directory")
    text = jsonlite.dumps(default_config(rootless=args.spec_rootless), indent="\t")
    try:
        fd = os.open(os.path.join(bundle, "config.json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except FileExistsError:
        raise LadingError("File config.json exists. Remove it first") from None
    except OSError as e:
        raise LadingError(f"{os.path.join(bundle, 'config.json')}: {(e.strerror or str(e)).lower()}") from None
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return 0
