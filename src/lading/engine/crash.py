"""Crash points: the reliability tests SIGKILL one process at a chosen step
(``LADING_ENGINE_CRASH_AT=step``; ``step,step`` for two processes killed in one start, say the
command and its monitor), instead of racing a timer.

A step applies to the one process it is meant for, never to a later one by inheritance (the
monitor's exit command, which may restart the container, would otherwise die at the same step
of its own start). So the engine command takes the variable out of its environment as it starts
(:func:`take`): nothing it runs inherits it. The one step meant for another process,
:data:`MONITOR_CREATE` (the monitor is SIGKILLed while its create child runs), is handed to the
monitor that command launches as an argument (``monitor.launch``), and only its create child
acts on it.
"""

from __future__ import annotations

import os

VARIABLE = "LADING_ENGINE_CRASH_AT"
# The monitor's create child (engine/own_runtime.py) SIGKILLs the monitor as it starts, before the
# runtime has registered the container.
MONITOR_CREATE = "monitor-create"
# The command dies while it waits for its monitor's report (monitor.launch), create not yet over.
LAUNCHING = "start-launching"

_steps: frozenset[str] = frozenset()


def take() -> None:
    """At the engine command's start: the steps are this command's, and no process it starts gets them."""
    global _steps
    _steps = frozenset(os.environ.pop(VARIABLE, "").split(",")) - {""}


def armed(step: str) -> bool:
    return step in _steps


def point(step: str) -> None:
    """Die here (SIGKILL, as kill -9 would) if the test asked for this step."""
    if step in _steps:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
