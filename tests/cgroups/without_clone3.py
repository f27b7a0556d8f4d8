"""Run a command where clone3 fails with ENOSYS, as under a seccomp profile written before the
call existed (or on Linux before 5.3): ``python without_clone3.py COMMAND ARGS...``. glibc's fork
uses clone, so everything else works; the filter is inherited by whatever the command starts."""

from __future__ import annotations

import errno
import os
import sys

from lading.linux import seccomp


def main() -> None:
    nr = seccomp.resolve_syscall("clone3")
    assert nr is not None
    with seccomp.Builder(seccomp.ACT_ALLOW) as b:
        b.add_rule(seccomp.act_errno(errno.ENOSYS), nr)
        program = b.export_bpf()
    seccomp.load(program)  # as root: no no_new_privs needed
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
