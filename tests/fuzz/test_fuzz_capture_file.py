"""Fuzzing `ringmon capture -r`: files built block by block with any value in any field (structure-aware,
so the fuzzer reaches the checks past the framing), then cut short or with bytes flipped."""
from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st
from targets import check_capture_file

import capture_files as cf
from hostile_text import HOSTILE_BYTES
from ringcore.filter import LINKTYPE_ETHERNET

ORDERS = st.sampled_from(["<", ">"])
U32 = st.integers(0, 2**32 - 1)
# Values at the edges of each field's range are where the bugs were: favour them.
EDGY_U32 = st.one_of(st.sampled_from([0, 1, 3, 4, 12, 16, 2**16, 2**31 - 1, 2**31, 2**32 - 1]), U32)
FRAMES = st.one_of(st.binary(max_size=200), st.sampled_from([bytes.fromhex(
    "0200c6120001" "0200c6120002" "0800" "45000021000140004011b17bc6120002c6120001" "9c409c41000d0000") + b"hello"]))
INT64 = st.one_of(st.sampled_from([2**63 - 1, -(2**63), 2**40, -(2**40)]), st.integers(-(2**63), 2**63 - 1))
OPTION_VALUES = {
    cf.OPT_IF_TSRESOL: st.one_of(st.integers(0, 255).map(lambda value: bytes([value])), st.binary(max_size=3)),
    cf.OPT_IF_TSOFFSET: st.one_of(INT64.map(lambda value: struct.pack("<q", value)), st.binary(max_size=9)),
    cf.OPT_IF_NAME: st.one_of(st.sampled_from(HOSTILE_BYTES), st.binary(max_size=16)),
}
OPTIONS = st.lists(st.one_of(st.sampled_from(list(OPTION_VALUES)), st.integers(0, 2**16 - 1)).flatmap(
    lambda code: st.tuples(st.just(code), OPTION_VALUES.get(code, st.binary(max_size=12)))), max_size=4)


@st.composite
def pcapng_blocks(draw) -> bytes:
    order = draw(ORDERS)
    # a well-formed start (section, interface, packet) most of the time, so the fields past it get reached
    parts = [cf.section_header(order, draw(st.sampled_from([1, 1, 1, 0, 2]))),
             cf.interface(draw(OPTIONS), draw(EDGY_U32), LINKTYPE_ETHERNET, order),
             cf.enhanced_packet(draw(FRAMES), draw(st.integers(0, 2**64 - 1)), order=order)]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["idb", "epb", "spb", "raw", "lie", "shb"]))
        if kind == "idb":
            parts.append(cf.interface(draw(OPTIONS), draw(EDGY_U32), draw(st.sampled_from([1, 101, 0, 147, 2**16 - 1])),
                                      order))
        elif kind == "epb":
            frame = draw(FRAMES)
            parts.append(cf.enhanced_packet(frame, draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 3)),
                                            draw(st.one_of(st.none(), EDGY_U32)), draw(st.one_of(st.none(), EDGY_U32)),
                                            order))
        elif kind == "spb":
            parts.append(cf.simple_packet(draw(FRAMES), draw(st.one_of(st.none(), EDGY_U32)), order))
        elif kind == "raw":
            parts.append(draw(st.binary(max_size=64)))
        elif kind == "lie":
            parts.append(cf.block(draw(U32), draw(st.binary(max_size=40)), order, draw(EDGY_U32), draw(EDGY_U32)))
        else:
            parts.append(cf.section_header(draw(ORDERS)))
    return b"".join(parts)


@st.composite
def damaged(draw, files) -> bytes:
    """A file cut short, or with a few bytes overwritten."""
    content = bytearray(draw(files))
    for _ in range(draw(st.integers(0, 3))):
        if content:
            content[draw(st.integers(0, len(content) - 1))] = draw(st.integers(0, 255))
    return bytes(content[:draw(st.integers(0, len(content)))] if draw(st.booleans()) else content)


PCAPS = st.builds(cf.pcap, st.lists(FRAMES, max_size=4), EDGY_U32, st.sampled_from([1, 101, 147]),
                  st.integers(0, 2**32 - 1), st.dictionaries(st.integers(0, 3), EDGY_U32, max_size=2))


@given(damaged(pcapng_blocks()))
def test_fuzz_pcapng_reader(content):
    check_capture_file(content)


@given(damaged(PCAPS))
def test_fuzz_pcap_reader(content):
    check_capture_file(content)


@given(damaged(st.one_of(pcapng_blocks(), PCAPS)), st.sampled_from([("udp",), ("vlan",), ("ip6", "or", "arp")]))
def test_fuzz_reader_with_a_filter(content, filter_words):
    check_capture_file(content, *filter_words)


@given(st.binary(max_size=300))
def test_fuzz_reader_on_raw_bytes_behind_each_magic(tail):
    for magic in (b"\x0a\x0d\x0d\x0a", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d"):
        check_capture_file(magic + tail)
