"""Checks of the public API that could crash the interpreter, run in a forked child: a crash in C (a segfault, an
abort) fails that test instead of killing pytest and every test after it."""
from __future__ import annotations

import inspect
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Mapping

import pytest

from ringcore import RingcoreError

CHILD_TIMEOUT_S = 60


def run_isolated(body: Callable[[], object], timeout_s: float = CHILD_TIMEOUT_S) -> None:
    """Call body() in a forked child; fail the test with the child's traceback, or with the signal it died of."""
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)

    def child() -> None:
        try:
            body()
            report = None
        except BaseException:  # noqa: BLE001 - every failure goes back to the parent as text
            report = traceback.format_exc()
        writer.send(report)
        os._exit(0)

    process = context.Process(target=child, daemon=True)
    process.start()
    writer.close()
    # a report, or EOF when the child died before it could send one
    finished = reader.poll(timeout_s)
    if not finished:
        process.kill()
        process.join()
        pytest.fail(f"the child did not finish in {timeout_s} s")
    try:
        report = reader.recv()
    except EOFError:
        report = None
    process.join(timeout=CHILD_TIMEOUT_S)
    if process.exitcode is not None and process.exitcode < 0:
        pytest.fail(f"the child died of {signal.Signals(-process.exitcode).name}: the call crashed the interpreter")
    if report is not None:
        pytest.fail(report, pytrace=False)


def public_calls(cls: type) -> set[str]:
    """Names of the public methods and properties a class defines itself."""
    return {name for name, value in vars(cls).items()
            if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))}


def assert_every_call_raises_after_close(cls: type, make_closed: Callable[[], object],
                                         calls: Mapping[str, Callable[[object], object]],
                                         ends: tuple[str, ...] = ("close",),
                                         kept: Mapping[str, Callable[[object], object]] | None = None) -> None:
    """Each of `calls` (one per public method or property of cls, but the `ends` that close it and may repeat,
    and the `kept` ones that still answer once closed) on a closed object raises RingcoreError saying it is
    closed; the ends repeat quietly, and each kept call returns without reaching C."""
    kept = kept or {}
    unchecked = public_calls(cls) - set(calls) - set(ends) - set(kept)
    assert not unchecked, f"{cls.__name__} calls with no check after close: {sorted(unchecked)}"

    def body() -> None:
        closed = make_closed()
        for end in ends:
            getattr(closed, end)()
        for call in kept.values():
            call(closed)
        for name, call in calls.items():
            try:
                call(closed)
            except RingcoreError as error:
                assert "closed" in str(error), f"{cls.__name__}.{name}: {error}"
            else:
                raise AssertionError(f"{cls.__name__}.{name} on a closed {cls.__name__} did not raise")

    run_isolated(body)
