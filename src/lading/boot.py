"""How a lading command starts when it is a program of its own, not pip's wrapper.

Every runtime verb is a fresh process (podman and containerd exec the runtime for each step), so
what runs before the verb is written out here, once, for the two places that start lading: the
launcher install.sh puts at /usr/local/bin/lading (cli/launcher.py, run as ``python -IS``) and
the engine, which runs lading's runtime as ``python -I -S -c CODE`` (engine/roots.py). The code
loads lading.precompiled by its path and calls its ``start``, which:

- puts lading's directory and msgspec's first on sys.path (there is no site processing);
- collects cyclic garbage after 100 000 new objects instead of 700: a verb's start-up makes
  tens of thousands of objects that live to its end (module code, tables, the decoded config),
  which the default thresholds would traverse again and again (about a sixth of the time
  ``run`` spends importing and decoding);
  long-running commands still collect;
- imports lading's modules from the file lading.precompiled built at install time, when there is
  one;

then runs the command line and exits without the interpreter's teardown (cli/main.py:
main_exit).
"""

from __future__ import annotations

import os

from lading import precompiled

GC_THRESHOLD = 100_000


def in_process() -> None:
    """The same start for a runtime verb run in a forked child of a process that started
    otherwise (the engine's monitor: engine/own_runtime.py): the collector's threshold, and
    lading's modules from the precompiled file."""
    import gc

    gc.set_threshold(GC_THRESHOLD)
    precompiled.install(precompiled.path_for(os.path.dirname(os.path.abspath(__file__))))


def paths() -> list[str]:
    """What a fresh ``python -I -S`` of this lading needs on sys.path: lading's directory (the one
    holding the package), then msgspec's when it is another (a runtime verb imports msgspec to
    word a malformed document's error)."""
    import sys

    own = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    # found along this process's sys.path: importlib.util would find it too, at a cost every
    # engine command pays
    found = next((p for p in sys.path if p and os.path.isdir(os.path.join(p, "msgspec"))), None)
    return [own] if found in (None, own) else [own, found]


def code(paths: list[str]) -> str:
    """The start-up code, given ``paths``: lading's directory (the one holding the package), then
    msgspec's when it is another."""
    return setup(paths) + "from lading.cli.main import main_exit\nmain_exit()\n"


def setup(paths: list[str]) -> str:
    """The part of :func:`code` before the command line runs. lading.precompiled is loaded from
    its own file, not found along sys.path: that search (and the one for the lading package,
    which then comes from the precompiled file too) lists directories and costs more than the
    module itself. The rest is its :func:`~lading.precompiled.start`, in compiled form."""
    package = os.path.join(paths[0], "lading")
    return (
        "from _frozen_importlib import _load\n"
        "from _frozen_importlib_external import spec_from_file_location\n"
        f"precompiled = _load(spec_from_file_location('lading.precompiled', {package + '/precompiled.py'!r}))\n"
        f"precompiled.start({paths!r}, {precompiled.path_for(package)!r}, {GC_THRESHOLD})\n"
    )
