"""Shared fixtures: veth pairs between test-owned network namespaces (helpers live in tests/netns.py)."""

import contextlib

import pytest

import netns


@pytest.fixture
def make_veth_pair():
    """Factory for VethPairs; every pair it made is torn down when the test ends, pass or fail."""
    netns.require_netns_privileges()
    with contextlib.ExitStack() as pairs:
        yield lambda: pairs.enter_context(netns.veth_pair())


@pytest.fixture
def veth_pair(make_veth_pair) -> netns.VethPair:
    return make_veth_pair()


@pytest.fixture(scope="session", autouse=True)
def _delete_leftover_namespaces():
    # Backstop for a namespace whose owner never reached its own cleanup (e.g. an interrupted setup).
    yield
    netns.delete_namespaces_of_this_process()


@pytest.fixture
def namespace():
    """One fresh test namespace (its own lo, down); deleted when the test ends, pass or fail."""
    netns.require_netns_privileges()
    ns = netns.create_namespace()
    try:
        yield ns
    finally:
        netns.delete_namespace(ns)
