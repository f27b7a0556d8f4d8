"""Write the `lading` executable: a short script that starts the interpreter with ``-IS``.

pip's console-script wrapper runs site processing (every ``.pth`` file in site-packages) and
imports ``re`` before lading's first line; podman and containerd exec the runtime for every verb,
so that is paid on every container step. The launcher instead starts Python isolated (``-I``: no
environment variables, no user site, no script directory on sys.path) and without ``site``
(``-S``), then runs lading/boot.py's code: the two directories lading needs put on sys.path by
hand (where the ``lading`` package is and where ``msgspec`` is: the same directory in an
ordinary install, two in an editable one), and lading's modules served from the file
lading.precompiled builds here, at install time, instead of a search of sys.path for each (an
edited module is still imported from its source).

usage: python -m lading.cli.launcher PATH    (run with the interpreter lading is installed in)
"""

from __future__ import annotations

import os
import sys


def launcher_text(python: str, paths: list[str]) -> str:
    from lading import boot

    return f"#!{python} -IS\n" + boot.code(paths)


def import_roots() -> list[str]:
    """The sys.path entries that hold lading and its dependency, in that order, without repeats."""
    import msgspec

    import lading

    roots = []
    for module in (lading, msgspec):
        root = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__ or "")))
        if root not in roots:
            roots.append(root)
    return roots


def write_launcher(path: str, python: str = sys.executable) -> None:
    """Write the launcher to path atomically (it may be the command other processes are running)."""
    import lading
    from lading import precompiled, precompiled_build

    package_dir = os.path.dirname(os.path.abspath(lading.__file__ or ""))
    try:
        precompiled_build.build(package_dir, precompiled.path_for(package_dir))
    except OSError as e:  # a read-only package directory: the launcher imports the normal way
        sys.stderr.write(f"lading launcher: modules not precompiled: {e}\n")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(launcher_text(os.path.abspath(python), import_roots()))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__.rsplit("usage: ", 1)[1].strip())
    write_launcher(sys.argv[1])
