"""Run a test body in a forked child, so a crash in C (a segfault, an abort) fails that test instead of killing
pytest and every test after it."""
from __future__ import annotations

import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable

import pytest

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
