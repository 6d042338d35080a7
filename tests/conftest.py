"""Shared fixtures: veth pairs between test-owned network namespaces (helpers live in tests/netns.py)."""

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs mounted for the test and unmounted after it: a disk that fills."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True, timeout=netns.RUN_TIMEOUT_S)
    netns.require(mounted.returncode == 0, f"cannot mount a small tmpfs: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True, timeout=netns.RUN_TIMEOUT_S)


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


@pytest.fixture
def installation_readable_by_nobody() -> Iterator[None]:
    """After -Z the process must still read its Python installation (lazy imports); a system install is
    readable by all, this machine's interpreter may sit under root's 0700 home: let others traverse its
    parents for the test, and restore their modes after."""
    changed: list[tuple[Path, int]] = []
    for directory in reversed(Path(sys.executable).resolve().parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append((directory, stat.S_IMODE(mode)))
    try:
        yield
    finally:
        for directory, mode in changed:
            os.chmod(directory, mode)
