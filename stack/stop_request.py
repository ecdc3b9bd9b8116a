"""Ctrl-C and SIGTERM as a stop request the main thread can wait on, without a lock.

A Python signal handler runs in the main thread between two bytecodes, perhaps while that
thread holds a lock, and perhaps inside the handler of the signal before. A handler that sets a
threading.Event takes the Event's lock, so it can deadlock on its own thread: a burst of
SIGTERMs (`kill` of `make run`'s process group, an impatient Ctrl-C) once left the stack
hanging. So the handler only sets a flag, and the signal wakes the waiter through a pipe
(`signal.set_wakeup_fd`: the interpreter's C handler writes to it, in the signal's context).
"""

from __future__ import annotations

import os
import select
import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOP_NUMBERS = {int(sig) for sig in STOP_SIGNALS}


class StopRequest:
    """Set by SIGINT or SIGTERM once `install`ed; `wait` sleeps until then or a timeout."""

    def __init__(self) -> None:
        self._requested = False
        self._wake_read, self._wake_write = os.pipe()
        for fd in (self._wake_read, self._wake_write):
            os.set_blocking(fd, False)

    def install(self) -> None:
        """Main thread only (as `signal.signal` is)."""
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._requested = True  # a plain store: no lock, so safe at any bytecode boundary

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float) -> bool:
        """True once a stop was requested; False if `timeout` seconds pass first."""
        if self._requested:
            return True
        readable, _, _ = select.select([self._wake_read], [], [], timeout)
        if readable and self._drain() & _STOP_NUMBERS:
            # The pipe holds the signals' numbers: no need to wait for the Python handler,
            # which may run a few bytecodes later when another thread took the signal.
            self._requested = True
        return self._requested

    def _drain(self) -> set[int]:
        numbers: set[int] = set()
        while True:
            try:
                chunk = os.read(self._wake_read, 512)
            except BlockingIOError:
                return numbers
            if not chunk:
                return numbers
            numbers.update(chunk)
