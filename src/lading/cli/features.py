"""`lading features`: print the Features structure (features.md), as `runc features` does."""

from __future__ import annotations

import argparse
import sys


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    pass


def run(verb: str, args: argparse.Namespace) -> int:
    import msgspec

    from lading.runtime.features import features

    sys.stdout.write(msgspec.json.format(msgspec.json.encode(features()), indent=4).decode() + "\n")
    return 0
