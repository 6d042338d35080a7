"""Decoding hostile packet bytes: a tree for whatever parses, 'malformed' for the rest, never an exception."""
from __future__ import annotations

import random

import dpkt
from fake_monitor import fake_frame

from ringcore import SlotMeta
from ringmon.decode import DecodedNode, decode_frame
from ringmon.decode.summary import packet_line
from ringmon.widgets.packets.hex_dump import hex_dump_text


def test_frame_decodes_into_one_node_per_layer_outermost_first():
    layers = decode_frame(fake_frame(3))
    assert [layer.label.split()[0] for layer in layers] == ["Ethernet", "IPv4", "UDP", "Payload"]
    assert "protocol: 17 (udp)" in [child.label for child in layers[1].children]


def test_truncated_and_garbage_frames_become_malformed_nodes():
    frame = fake_frame(3)
    assert decode_frame(frame[:5])[0].malformed
    assert decode_frame(frame[:20])[-1].label.startswith("IPv4: malformed")
    rng = random.Random(4)
    for _ in range(3000):
        mutated = bytearray(frame)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        decode_frame(bytes(mutated[:rng.randint(0, len(mutated))]))
        decode_frame(rng.randbytes(rng.randint(0, 120)))


def test_hex_dump_escapes_every_byte_outside_printable_ascii():
    dump = hex_dump_text(bytes(range(256))).plain
    ascii_column = "".join(line[-16:] for line in dump.splitlines())
    assert ascii_column == "".join(chr(byte) if 0x20 <= byte < 0x7F else "·" for byte in range(256))
    assert all(ch.isprintable() for ch in dump.replace("\n", ""))


def _udp_frame(payload_len: int, udp_len: int | None = None, ip_len: int | None = None) -> bytes:
    udp = dpkt.udp.UDP(sport=40000, dport=40001, data=bytes(payload_len))
    udp.ulen = len(udp) if udp_len is None else udp_len
    ip = dpkt.ip.IP(src=bytes([198, 18, 0, 2]), dst=bytes([198, 18, 0, 1]), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    frame = bytearray(bytes(dpkt.ethernet.Ethernet(src=bytes(6), dst=bytes(6), data=ip)))
    if ip_len is not None:  # dpkt writes the true total length when it packs; a lie goes in afterwards
        frame[16:18] = ip_len.to_bytes(2, "big")
    return bytes(frame)


def _line(frame: bytes, wirelen: int | None = None) -> str:
    return packet_line(frame, SlotMeta(0, len(frame), wirelen or len(frame), 0, 0, 0), "eth0")


def _malformed(layers: list[DecodedNode]) -> list[str]:
    return [child.label for layer in layers if layer.malformed for child in layer.children if child.malformed]


def test_a_udp_length_that_disagrees_with_the_ip_payload_is_malformed_in_line_and_tree():
    frame = _udp_frame(142, udp_len=8)  # the demo's old datagrams: every UDP length 8
    assert "malformed: UDP length 8 != 150" in _line(frame)
    assert _malformed(decode_frame(frame)) == ["malformed: UDP length 8 != 150"]


def test_an_ip_total_length_beyond_the_bytes_on_the_wire_is_malformed_but_a_capture_cut_is_not():
    frame = _udp_frame(100)  # IPv4 total length 128
    cut = frame[:60]
    assert "malformed: IPv4 total length 128 > 46 bytes" in _line(cut)
    assert _malformed(decode_frame(cut)) == ["malformed: IPv4 total length 128 > 46 bytes"]
    # the same bytes, but the capture kept 60 of the 142 the wire carried: nothing wrong with the packet
    assert "malformed" not in _line(cut, wirelen=len(frame))
    assert _malformed(decode_frame(cut, wirelen=len(frame))) == []


def test_an_ip_total_length_shorter_than_its_header_is_malformed():
    assert "malformed: IPv4 total length 12 < header length 20" in _line(_udp_frame(10, ip_len=12))


def test_well_formed_and_padded_frames_have_no_length_warning():
    short = _udp_frame(2)  # 44 bytes: padded to Ethernet's 60 on the wire, IP length still right
    for frame in (fake_frame(3), _udp_frame(1000), short + bytes(16)):
        assert "malformed" not in _line(frame)
        assert _malformed(decode_frame(frame)) == []
