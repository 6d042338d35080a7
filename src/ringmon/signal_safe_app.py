"""Signals and a full-screen Textual app: SIGTERM and SIGHUP end it as `q` does, and Textual's own
suspend/resume handlers run from its event loop; its long-lived objects are frozen out of the garbage
collector once built. The dashboard and `ringmon read` are both such apps."""
from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from textual.app import App

ReturnType = TypeVar("ReturnType")
GC_FREEZE_AFTER_S = 1.0  # the screens are built by then


class SignalSafeApp(App[ReturnType], Generic[ReturnType]):
    """Call `defer_driver_signals()` (and `freeze_once_built()`) from on_mount, `restore_driver_signals()` (and
    `unfreeze()`) from on_unmount."""

    def __init__(self) -> None:
        super().__init__()
        self.event_loop: asyncio.AbstractEventLoop | None = None  # set once running: signals end the app through it
        self._driver_signal_handlers: dict[int, Callable] = {}

    def defer_driver_signals(self) -> None:
        """Textual's driver suspends and resumes the terminal from SIGTSTP/SIGCONT handlers, which run between
        any two bytecodes of the main thread: when the terminal closed (SIGHUP, then SIGCONT), a resume inside
        the exit's output queue deadlocked the dashboard. Its handlers run from the event loop instead."""
        loop = self.event_loop = asyncio.get_running_loop()
        for signum in (signal.SIGTSTP, signal.SIGCONT):
            handler = signal.getsignal(signum)
            if callable(handler):
                self._driver_signal_handlers[signum] = handler
                signal.signal(signum, lambda number, frame, handler=handler: loop.call_soon_threadsafe(
                    handler, number, frame))

    def restore_driver_signals(self) -> None:
        for signum, handler in self._driver_signal_handlers.items():  # the loop is about to close
            signal.signal(signum, handler)

    def freeze_once_built(self) -> None:
        """Once the screens are built, their objects (~90,000 for the dashboard, ~70,000 for the packet list)
        live as long as the app: left to the collector, every full collection walks them all, stalling the UI
        for ~100 ms (bench/dashboard_bench.py) and slowing a find through a file (~7 %). Frozen, they are never
        scanned again. Call from on_mount, and `unfreeze()` from on_unmount."""
        self.set_timer(GC_FREEZE_AFTER_S, gc.freeze)

    def unfreeze(self) -> None:
        gc.unfreeze()  # what the app held can be collected once it is gone (tests run many apps)


@contextlib.contextmanager
def exit_app_on_signals(app: SignalSafeApp, received: list[int],
                        signals: Sequence[int] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """SIGTERM/SIGHUP end the app like `q` does, so every caller's cleanup (finally) still runs; each one
    is added to `received`, so the exit status can still say how the app ended."""
    def end(signum: int, _frame) -> None:
        received.append(signum)
        # A handler runs between any two bytecodes of the main thread, maybe inside Textual's output queue:
        # exiting from here re-entered it and deadlocked (seen when tmux closed the terminal). Once the
        # app runs, the exit is handed to its event loop, which runs it in turn.
        if app.event_loop is not None:
            app.event_loop.call_soon_threadsafe(app.exit)
        else:
            app.exit()

    previous = {signum: signal.signal(signum, end) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
