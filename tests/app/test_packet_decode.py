"""Decoding hostile packet bytes: a tree for whatever parses, 'malformed' for the rest, never an exception."""
from __future__ import annotations

import random

from fake_monitor import fake_frame

from ringmon.decode import decode_frame
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
