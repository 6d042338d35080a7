"""Capture filters in tcpdump syntax, compiled to classic BPF by libpcap's own compiler (from pcapy-ng)."""
from __future__ import annotations

import ctypes
import socket

import pcapy

from . import _binding as rc
from ._binding import BpfInsn
from .api import Direction, FilterError, RingcoreError
from .netns import in_netns

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
# libpcap's handles speak DLT_ values; they differ from LINKTYPE_ values for raw IP.
DLT_FOR_LINKTYPE = {LINKTYPE_ETHERNET: pcapy.DLT_EN10MB, LINKTYPE_RAW: pcapy.DLT_RAW}
_NETMASK_UNKNOWN = 0xFFFFFFFF
# libpcap's MAXIMUM_SNAPLEN: what a file's packets are compiled for, whatever snap length the file claims
FILE_SNAPLEN = 262144
_SO_GET_FILTER = 26  # asm-generic/socket.h; not in Python's socket module
_BPF_MAXINSNS = 4096
# The probe socket's kernel ring: it lives only while the filter compiles.
_PROBE_BUFFER_BYTES = 1 << 16
_PCAP_ERROR_IFACE_NOT_UP = -9  # pcap.h; pcapy's activate() returns libpcap's status
_libc = ctypes.CDLL(None, use_errno=True)
# -Q: libpcap's own primitives; on a live Linux socket they test the packet's type (SKF_AD_PKTTYPE), sent by
# this host (PACKET_OUTGOING) or not, in the kernel
_DIRECTION_PRIMITIVES = {Direction.IN: "inbound", Direction.OUT: "outbound"}


def compile_program(expression: str, linktype: int, snaplen: int) -> pcapy.BPFProgram:
    """Compile `expression` for a link type with libpcap; accepted packets are cut to snaplen.
    For packets as stored in files (`.filter(bytes)`), VLAN tags in place; a live socket needs
    compile_live_filter."""
    dlt = DLT_FOR_LINKTYPE.get(linktype)
    if dlt is None:
        raise FilterError(f"filters are not supported on link type {linktype}")
    try:
        return pcapy.compile(dlt, snaplen, expression, 1, _NETMASK_UNKNOWN)
    except pcapy.PcapError as exc:
        raise FilterError(f"filter '{expression}' does not compile: {exc}") from None


class UserSpaceFilter:
    """A capture filter run in user space on packets read from a file (a store), compiled by libpcap once per
    link type it meets; a link type libpcap cannot filter raises FilterError."""

    def __init__(self, expression: str):
        self.expression = expression
        self._programs: dict[int, pcapy.BPFProgram] = {}

    def accepts(self, data: bytes, linktype: int) -> bool:
        program = self._programs.get(linktype)
        if program is None:
            program = compile_program(self.expression, linktype, FILE_SNAPLEN)
            self._programs[linktype] = program
        return program.filter(data) != 0


def kernel_expression(expression: str | None, direction: Direction) -> str | None:
    """What the kernel runs for a capture filter taking only one direction (-Q), or None: everything."""
    primitive = _DIRECTION_PRIMITIVES.get(direction)
    if primitive is None:
        return expression
    return f"{primitive} and ({expression})" if expression else primitive


def compile_live_filter(expression: str | None, ifname: str, linktype: int, snaplen: int,
                        netns: str | None = None, direction: Direction = Direction.INOUT) -> ctypes.Array:
    """The program tcpdump attaches for `expression` (with -Q's `direction`) on the live interface: read back
    from a libpcap socket opened there. A dead handle will not do: on a live Linux socket the kernel has taken
    the 802.1Q tag out of the packet before the filter runs, and only a live handle makes libpcap test
    it where it went (the SKF_AD_VLAN_TAG* extensions); the netmask for `ip broadcast` is the
    interface's too. The kernel cuts accepted packets to `snaplen` (the program's return value). Every error
    names the interface: one of several may have a link type the expression does not compile for."""
    if expression:
        try:
            compile_program(expression, linktype, snaplen)  # says what is wrong with the expression itself first
        except FilterError as exc:
            raise FilterError(f"{ifname}: {exc}") from None
    kernel = kernel_expression(expression, direction)
    try:
        with in_netns(netns):
            handle = pcapy.create(ifname)
    except pcapy.PcapError as exc:
        raise RingcoreError(f"{ifname}: opening it to compile the filter failed: {exc}") from None
    handle.set_snaplen(snaplen)
    handle.set_buffer_size(_PROBE_BUFFER_BYTES)
    with in_netns(netns):
        status = handle.activate()
    try:
        if status == _PCAP_ERROR_IFACE_NOT_UP:
            raise FilterError(f"{ifname} is down: a capture filter is compiled for it once it is up (as tcpdump's)")
        if status < 0:
            raise RingcoreError(f"{ifname}: opening it to compile the filter failed (libpcap error {status})")
        if handle.datalink() != DLT_FOR_LINKTYPE.get(linktype):
            raise FilterError(f"{ifname}: libpcap sees link type {handle.datalink()} where the capture has {linktype}")
        try:
            handle.setfilter(kernel)
        except pcapy.PcapError as exc:
            raise FilterError(f"{ifname}: filter '{kernel}' does not compile: {exc}") from None
        return _attached_program(handle.getfd(), ifname, kernel)
    finally:
        handle.close()


def _attached_program(fd: int, ifname: str, expression: str) -> ctypes.Array:
    program = (BpfInsn * _BPF_MAXINSNS)()
    # SO_GET_FILTER counts in instructions, not bytes (so not socket.getsockopt)
    length = ctypes.c_uint32(_BPF_MAXINSNS)
    if _libc.getsockopt(fd, socket.SOL_SOCKET, _SO_GET_FILTER, program, ctypes.byref(length)) != 0 or not length.value:
        # libpcap filters in user space what the kernel cannot run; we have nowhere to do that
        raise FilterError(f"{ifname}: filter '{expression}' cannot run in the kernel")
    return (BpfInsn * length.value).from_buffer_copy(program)


def join_expression(words: list[str]) -> str | None:
    """A trailing filter given as several words, as tcpdump takes it."""
    expression = " ".join(words).strip()
    return expression or None


def libpcap_versions() -> tuple[str, str]:
    """The libpcaps ringmon runs, in tcpdump --version's words: the system's, which the C library links (display
    filters), then pcapy-ng's own copy, which compiles capture filters."""
    bundled = ctypes.CDLL(pcapy.__file__)  # its libpcap's symbols are reached through it
    bundled.pcap_lib_version.restype = ctypes.c_char_p
    return rc.lib.pcap_lib_version().decode(), bundled.pcap_lib_version().decode()
