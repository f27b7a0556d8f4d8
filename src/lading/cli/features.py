"""`lading features`: print the Features structure (features.md), as `runc features` does."""

from __future__ import annotations

import sys

from lading.cli.args import Namespace, Parser


def add_arguments(verb: str, parser: Parser) -> None:
    pass


def run(verb: str, args: Namespace) -> int:
    import msgspec

    from lading.runtime.features import features

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(features()), indent=4).decode() + "\n")
    return 0
