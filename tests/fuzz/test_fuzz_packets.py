"""Fuzzing the packet line (decode/summary.py) and the decode tree (decode/) with frames built layer by layer
with any value in any header field (so dpkt gets past Ethernet), and with plain bytes."""
from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from targets import check_packet

from hostile_text import HOSTILE_BYTES, HOSTILE_STRINGS
from ringcore.filter import LINKTYPE_ETHERNET, LINKTYPE_RAW

U8, U16, U32 = st.integers(0, 2**8 - 1), st.integers(0, 2**16 - 1), st.integers(0, 2**32 - 1)
PAYLOADS = st.one_of(st.binary(max_size=120), st.sampled_from(HOSTILE_BYTES))
IP_PROTOCOLS = st.one_of(st.sampled_from([1, 6, 17, 58, 0, 43, 44, 60, 4, 41, 47]), U8)


@st.composite
def dns(draw) -> bytes:
    labels = draw(st.lists(st.one_of(st.binary(min_size=1, max_size=20), st.sampled_from(HOSTILE_BYTES)), max_size=4))
    name = b"".join(bytes([min(len(label), 63)]) + label[:63] for label in labels) + draw(st.sampled_from([b"\0", b"\xc0\x0c", b""]))
    return struct.pack("!HHHHHH", draw(U16), draw(U16), draw(st.integers(0, 3)), draw(st.integers(0, 2)), 0, 0) + name + draw(st.binary(max_size=8))


@st.composite
def http_or_tls(draw) -> bytes:
    """The first bytes of an HTTP head or a TLS record (a ClientHello's), then anything."""
    head = draw(st.sampled_from([b"GET / HTTP/1.1\r\nHost: ", b"HTTP/1.1 200 OK\r\n", b"\x16\x03\x01",
                                 b"\x16\x03\x03\x00\x30\x01\x00\x00\x2c\x03\x03" + bytes(32)]))
    return head + draw(st.one_of(PAYLOADS, st.binary(max_size=60)))


@st.composite
def transport(draw, protocol: int) -> bytes:
    payload = draw(st.one_of(PAYLOADS, dns(), http_or_tls()))
    if protocol == 17:
        length = draw(st.one_of(st.just(8 + len(payload)), U16))
        return struct.pack("!HHHH", draw(st.sampled_from([53, 40000])), draw(st.one_of(st.just(53), U16)), length, 0) + payload
    if protocol == 6:
        ports = st.one_of(st.sampled_from([53, 80, 443]), U16)
        return struct.pack("!HHIIBBHHH", draw(ports), draw(ports), draw(U32), draw(U32), draw(U8), draw(U8), draw(U16), 0, 0) + payload
    return struct.pack("!BBH", draw(U8), draw(U8), 0) + payload


@st.composite
def ip_packet(draw) -> bytes:
    protocol = draw(IP_PROTOCOLS)
    body = draw(transport(protocol))
    if draw(st.booleans()):
        options = draw(st.binary(max_size=40))
        hl = draw(st.one_of(st.just(5 + len(options) // 4), st.integers(0, 15)))
        total = draw(st.one_of(st.just(hl * 4 + len(body)), U16))
        flags = draw(st.sampled_from([0x4000, 0, 0x2000, 0x2010, 0x0010, draw(U16)]))
        return (struct.pack("!BBHHHBBH4s4s", 0x40 | hl, 0, total, draw(U16), flags, 64, protocol, 0,
                            bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1])) + options[:len(options) // 4 * 4] + body)
    plen = draw(st.one_of(st.just(len(body)), U16))
    return struct.pack("!IHBB16s16s", 0x60000000, plen, protocol, 64, bytes(16), bytes(15) + b"\1") + body


@st.composite
def frames(draw) -> bytes:
    tags = b"".join(b"\x81\x00" + struct.pack("!H", draw(U16)) for _ in range(draw(st.integers(0, 3))))
    ethertype = draw(st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x88\x47", b"\x00\x2e", b"\xff\xff"]))
    body = draw(st.one_of(ip_packet(), PAYLOADS))
    frame = bytes.fromhex("0200c6120001" "0200c6120002") + tags + ethertype + body
    return frame[:draw(st.integers(0, len(frame)))] if draw(st.integers(0, 4)) == 0 else frame


EXTRA_WIRE = st.one_of(st.just(0), st.integers(0, 2**16), st.just(2**32))
# ns since 1970: now-ish, and out to where no calendar reaches (a pcapng if_tsoffset is 64-bit seconds)
TIMESTAMPS = st.one_of(st.integers(0, 2**62), st.sampled_from([2**63 - 1, -(2**63), 2**63 * 10**9, -(2**63) * 10**9]),
                       st.integers(-(2**100), 2**100))
IFNAMES = st.one_of(st.sampled_from(HOSTILE_STRINGS), st.text(max_size=16))
# A packet costs about a tenth of a file (no file, no command): the same time buys more examples.
MORE_EXAMPLES = settings(max_examples=settings.default.max_examples * 5)


@MORE_EXAMPLES
@given(frames(), EXTRA_WIRE, TIMESTAMPS, IFNAMES)
def test_fuzz_packet_line_and_decode_tree_of_built_frames(frame, extra_wire, ts_ns, ifname):
    check_packet(frame, LINKTYPE_ETHERNET, len(frame) + extra_wire, ts_ns, ifname)


@MORE_EXAMPLES
@given(ip_packet(), EXTRA_WIRE)
def test_fuzz_packet_line_of_raw_ip(packet, extra_wire):
    check_packet(packet, LINKTYPE_RAW, len(packet) + extra_wire)


@MORE_EXAMPLES
@given(st.binary(max_size=300), st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_RAW, 0, 108, 113, 276, 228, 229, 147]))
def test_fuzz_packet_line_and_decode_tree_of_plain_bytes(data, linktype):
    check_packet(data, linktype)
