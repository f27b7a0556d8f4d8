"""Crash points: the reliability tests SIGKILL one process at a chosen step
(``LADING_ENGINE_CRASH_AT=step``), instead of racing a timer.

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

_step: str | None = None


def take() -> None:
    """At the engine command's start: the step is this command's, and no process it starts gets it."""
    global _step
    _step = os.environ.pop(VARIABLE, None)


def armed(step: str) -> bool:
    return _step == step


def point(step: str) -> None:
    """Die here (SIGKILL, as kill -9 would) if the test asked for this step."""
    if _step == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
