"""The packet list on a file tcpdump wrote on a veth pair: every row's number, time, addresses, ports, protocol
and length agree with what tshark decodes of the same packets."""
from __future__ import annotations

import asyncio

from packet_files import mixed_frame
from readback import tshark_fields
from test_packet_list import open_store, rows

import netns
from ringmon.read_app import ReadApp

FRAME_COUNT = 200
TSHARK_FIELDS = ("frame.number", "frame.time_relative", "ip.src", "ip.dst", "arp.src.proto_ipv4",
                 "arp.dst.proto_ipv4", "tcp.srcport", "udp.srcport", "tcp.dstport", "udp.dstport",
                 "frame.protocols", "frame.len")


def _expected(fields: tuple[str, ...]) -> tuple[str, str, str, str, str]:
    number, relative, ip_src, ip_dst, arp_src, arp_dst, tcp_sport, udp_sport, tcp_dport, udp_dport, _, length = fields
    sport, dport = tcp_sport or udp_sport, tcp_dport or udp_dport
    source = (ip_src or arp_src) + (f".{sport}" if sport else "")
    destination = (ip_dst or arp_dst) + (f".{dport}" if dport else "")
    seconds, _, fraction = relative.partition(".")
    return number, f"{seconds}.{fraction[:6]}", source, destination, length


def test_every_row_agrees_with_tshark_on_a_file_tcpdump_wrote(veth_pair, tmp_path):
    path = tmp_path / "tcpdump.pcap"
    with netns.tcpdump_alongside(veth_pair.ns_a, veth_pair.if_a, "", str(path)):
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, [mixed_frame(index) for index in range(FRAME_COUNT)])
    expected = tshark_fields(path, *TSHARK_FIELDS)
    assert len(expected) >= FRAME_COUNT

    async def main():
        app = ReadApp(open_store(path), path.name)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            packet_list = app.screen.packet_list
            seen: dict[int, list[str]] = {}
            while len(seen) < len(expected):
                seen.update((int(cells[0]), cells) for cells in rows(packet_list))
                await pilot.press("pagedown")
                await pilot.pause()
            for fields in expected:
                number, relative, source, destination, length = _expected(fields)
                cells = seen[int(number)]
                assert cells[:4] == [number, relative, source, destination], (fields, cells)
                assert cells[4].lower() in fields[-2].split(":"), (fields, cells)  # tshark names every layer
                assert cells[5] == length

    asyncio.run(main())
