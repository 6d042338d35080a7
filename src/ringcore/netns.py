"""Entering a network namespace for the calling thread, so a capture can open interfaces that live there."""
from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

from .api import PrivilegeError, RingcoreError

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.setns.restype = ctypes.c_int


def _setns(fd: int, what: str) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        if err == 1:  # EPERM
            raise PrivilegeError(f"entering network namespace {what} needs CAP_SYS_ADMIN (run as root)")
        raise RingcoreError(f"entering network namespace {what} failed: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the body in namespace `name` (as made by `ip netns add`); None stays where we are.

    setns() moves only the calling thread; sockets opened inside keep
    their namespace after the thread moves back.
    """
    if name is None:
        yield
        return
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RingcoreError(f"no network namespace named {name} (see 'ip netns list')") from None
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target, name)
            try:
                yield
            finally:
                _setns(home, "of this process")
        finally:
            os.close(home)
    finally:
        os.close(target)
