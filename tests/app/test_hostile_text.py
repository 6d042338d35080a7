"""Every display path that shows text from a packet or a file, fed text built to attack a terminal:
none of the escape sequences, C1 controls, bidi overrides or undecodable bytes reaches what is shown."""
from __future__ import annotations

import asyncio
import struct

import dpkt
import pytest
from textual.app import App, ComposeResult

from hostile_text import HOSTILE_BYTES, HOSTILE_STRINGS, assert_terminal_safe
from ringcore import SlotMeta, SlotView
from ringcore.filter import LINKTYPE_ETHERNET, LINKTYPE_RAW
from ringmon.decode import DecodedNode, decode_frame
from ringmon.formatting import escape
from ringmon.decode.summary import LineFormat, LinePrinter, packet_line
from ringmon.screens.slot_inspector import slot_header
from ringmon.widgets.packets.decode_tree import PacketTree
from ringmon.widgets.packets.hex_dump import hex_dump_text

ETHERNET_HEADER = bytes.fromhex("0200c6120001" "0200c6120002")


def _udp_frame(payload: bytes, sport: int = 5353, dport: int = 53) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes([198, 18, 0, 2]), dst=bytes([198, 18, 0, 1]), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return ETHERNET_HEADER + b"\x08\x00" + bytes(ip)


def _dns_query(name: bytes) -> bytes:
    """A DNS query whose name is `name` as raw label bytes (dpkt would encode a str as UTF-8 first)."""
    labels = b"".join(bytes([len(label)]) + label for label in name.split(b".") if label)
    return struct.pack("!HHHHHH", 0x1B1B, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", 1, 1)


def _hostile_frames() -> list[bytes]:
    frames = []
    for hostile in HOSTILE_BYTES:
        frames.append(_udp_frame(_dns_query(hostile[:63] or b"x")))  # a name the line shows
        frames.append(_udp_frame(hostile, 40000, 40001))  # a payload nobody decodes
        for ethertype in (b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x81\x00", b"\x88\xb5"):
            frames.append(ETHERNET_HEADER + ethertype + hostile)  # layers dpkt fails on, with hostile bytes
    return frames


def _meta(frame: bytes, ts_ns: int = 1_700_000_000 * 10**9) -> SlotMeta:
    return SlotMeta(0, len(frame), len(frame), ts_ns, 0, 0)


@pytest.mark.parametrize("text", HOSTILE_STRINGS + tuple(raw.decode("utf-8", "surrogateescape") for raw in HOSTILE_BYTES))
def test_escape_leaves_only_printable_ascii(text):
    shown = escape(text)
    assert shown.isascii() and shown.isprintable()
    assert_terminal_safe(shown)


def test_escape_shows_a_byte_that_was_not_utf8_as_that_byte():
    assert escape(b"eth\xff\x9b0".decode("utf-8", "surrogateescape")) == r"eth\xff\x9b0"


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_RAW])
def test_packet_lines_of_hostile_packets_are_one_printable_ascii_line(linktype):
    for frame in _hostile_frames():
        data = frame if linktype == LINKTYPE_ETHERNET else frame[14:]
        for ifname in HOSTILE_STRINGS:
            line = packet_line(data, _meta(data), ifname, linktype)
            assert line.isascii() and line.isprintable(), repr(line)


@pytest.mark.parametrize("line_format", [
    LineFormat(link_header=True, verbose=1), LineFormat(dump="hex_ascii", dump_link=True), LineFormat(dump="ascii"),
    LineFormat(quiet=True, time_style=3),
], ids=["-e -v", "-XX", "-A", "-q -ttt"])
def test_every_line_of_every_output_flag_is_printable_ascii(line_format):
    printer = LinePrinter(line_format)
    for frame in _hostile_frames():
        for line in printer.line(frame, _meta(frame), "eth0").split("\n"):
            # the one control character: the tab tcpdump starts a hex dump's lines with (never a packet's)
            assert line.removeprefix("\t0x").isascii() and line.removeprefix("\t0x").isprintable(), repr(line)


def test_a_hostile_dns_name_is_shown_escaped_in_the_packet_line():
    frame = _udp_frame(_dns_query(b"a\x1b]0;pwned\x07.b\xc2\x9b31m.c\xe2\x80\xae"))
    line = packet_line(frame, _meta(frame), "eth0")
    assert r"A? a\x1b]0;pwned\x07.b\x9b31m.c\u202e." in line


def _labels(nodes: list[DecodedNode]) -> list[str]:
    return [label for node in nodes for label in (node.label, *_labels(node.children))]


def test_decode_tree_labels_of_hostile_packets_are_terminal_safe():
    for frame in _hostile_frames():
        for label in _labels(decode_frame(frame)):
            assert "\n" not in label
            assert_terminal_safe(label)


def test_a_decode_node_escapes_its_label_whoever_builds_it():
    # the class: a label made from packet text (a dpkt error quoting bytes, a future protocol's field)
    for text in HOSTILE_STRINGS:
        assert_terminal_safe(DecodedNode(f"DNS: malformed: {text}").label)


def test_the_packet_tree_widget_shows_only_escaped_labels():
    class TreeApp(App[None]):
        def compose(self) -> ComposeResult:
            yield PacketTree()

    async def shown_labels() -> list[str]:
        app = TreeApp()
        async with app.run_test():
            tree = app.query_one(PacketTree)
            layers = [DecodedNode(f"Layer {text}", [DecodedNode(f"field: {text}")]) for text in HOSTILE_STRINGS]
            tree.show(layers + decode_frame(_hostile_frames()[1]))
            nodes = [tree.root]
            labels = []
            while nodes:
                node = nodes.pop()
                labels.append(node.label.plain)
                nodes.extend(node.children)
            return labels

    labels = asyncio.run(shown_labels())
    assert len(labels) > 2 * len(HOSTILE_STRINGS)
    for label in labels:
        assert_terminal_safe(label, lines=1)


def test_hex_dump_of_hostile_bytes_is_terminal_safe():
    data = b"".join(HOSTILE_BYTES) + bytes(range(256))
    dump = hex_dump_text(data).plain
    assert_terminal_safe(dump, lines=-(-len(data) // 16))


@pytest.mark.parametrize("ifname", HOSTILE_STRINGS)
def test_slot_inspector_header_escapes_the_interface_name(ifname):
    frame = _hostile_frames()[0]
    slot = SlotView(3, len(frame), len(frame), 2**63 - 1, 7, 0, frame)
    header = slot_header(ifname, slot, "free").plain
    assert_terminal_safe(header, lines=2)
    assert escape(ifname) in header
