"""Capture sessions for the tests on real interfaces (the veth pairs are tests/conftest.py's)."""

import pytest

from ringcore import Monitor


@pytest.fixture
def monitor():
    """A Monitor whose callers consume the rings themselves (rx_poll); closed after the test."""
    session = Monitor(drain=False)
    yield session
    session.close()


@pytest.fixture
def drained():
    """A Monitor whose rings are consumed by C drain threads; closed after the test."""
    session = Monitor(drain=True)
    yield session
    session.close()
