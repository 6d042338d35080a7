"""Capture filters in tcpdump syntax, compiled to classic BPF by libpcap's own compiler (from pcapy-ng)."""
from __future__ import annotations

import ctypes

import pcapy

from ._binding import BpfInsn
from .api import FilterError

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
# pcap_open_dead() takes DLT_ values; they differ from LINKTYPE_ values for raw IP.
_DLT_FOR_LINKTYPE = {LINKTYPE_ETHERNET: pcapy.DLT_EN10MB, LINKTYPE_RAW: pcapy.DLT_RAW}
_NETMASK_UNKNOWN = 0xFFFFFFFF


def compile_program(expression: str, linktype: int, snaplen: int) -> pcapy.BPFProgram:
    """Compile `expression` for a link type with libpcap; accepted packets are cut to snaplen.
    The program both runs in user space (`.filter(bytes)`, for files) and feeds the kernel."""
    dlt = _DLT_FOR_LINKTYPE.get(linktype)
    if dlt is None:
        raise FilterError(f"filters are not supported on link type {linktype}")
    try:
        return pcapy.compile(dlt, snaplen, expression, 1, _NETMASK_UNKNOWN)
    except pcapy.PcapError as exc:
        raise FilterError(f"filter '{expression}' does not compile: {exc}") from None


def compile_filter(expression: str, linktype: int, snaplen: int) -> ctypes.Array:
    """The program as the kernel takes it (SO_ATTACH_FILTER): the kernel itself then cuts
    accepted packets to the snap length."""
    instructions = compile_program(expression, linktype, snaplen).get_bpf()
    return (BpfInsn * len(instructions))(*(BpfInsn(*insn) for insn in instructions))


def join_expression(words: list[str]) -> str | None:
    """A trailing filter given as several words, as tcpdump takes it."""
    expression = " ".join(words).strip()
    return expression or None
