"""The packet list's columns as a person reads them at 80x24 and 120x40, driven by Pilot: ports visible, Info
wide enough to read, interfaces told apart, the Time header naming its mode, packets without a time blank."""
from __future__ import annotations

import asyncio
import socket

import dpkt
import pytest
from packet_files import FIRST_TS_S, mixed_frame, write_mixed_pcap
from dashboard_fakes import fake_dashboard, warm_up
from screen_text import screen_lines as terminal_lines
from test_packet_list import open_store, run

import capture_files
from capture_files import OPT_IF_NAME
from ringmon.widgets.packets.packet_list import interface_labels

TCP_SOURCE, TCP_DESTINATION = "198.18.0.1.50000", "198.18.0.2.80"  # mixed_frame's TCP rows (kind 2)


def ipv6_tcp_frame(index: int) -> bytes:
    tcp = dpkt.tcp.TCP(sport=45678, dport=443, flags=dpkt.tcp.TH_ACK, data=b"x" * 10)
    ip6 = dpkt.ip6.IP6(src=socket.inet_pton(socket.AF_INET6, "2001:db8:1::10"),
                       dst=socket.inet_pton(socket.AF_INET6, "2001:db8:1::20"), nxt=6, hlim=64, data=tcp)
    ip6.plen = len(tcp)
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP6, data=ip6))


def mixed_with_ipv6(index: int) -> bytes:
    return ipv6_tcp_frame(index) if index % 6 == 5 else mixed_frame(index)


@pytest.fixture(scope="module")
def mixed_pcap(tmp_path_factory):
    return write_mixed_pcap(tmp_path_factory.mktemp("layout") / "mixed.pcap", 300, mixed_with_ipv6)


def screen_lines(packet_list) -> list[str]:
    return [packet_list.render_line(y).text for y in range(packet_list.size.height)]


def tcp_port_is_shown(line: str, source_cell: int = 2) -> bool:
    """The row of a TCP packet shows both its ports (an address may be cut in its middle, never its port)."""
    source, destination = line.split()[source_cell:source_cell + 2]
    return source.endswith("0.1.50000") and destination == TCP_DESTINATION


@pytest.mark.parametrize("size, info_min", [((80, 24), 25), ((120, 40), 50)])
def test_tcp_rows_show_their_ports_and_info_keeps_room(mixed_pcap, size, info_min):
    async def scenario(app, pilot, packet_list):
        lines = screen_lines(packet_list)
        tcp_rows = [line for line in lines[1:] if " HTTP " in line]
        assert tcp_rows and all(tcp_port_is_shown(line) for line in tcp_rows)
        ipv6_rows = [line for line in lines[1:] if " TCP " in line]  # ipv6_tcp_frame's
        assert ipv6_rows and all(".45678" in line and ".443" in line for line in ipv6_rows)
        assert packet_list.columns()[-1].width >= info_min
        assert any("GET /page2 HTTP/1.1" in line for line in tcp_rows)
        if size[0] >= 120:  # room for every address whole
            assert f" {TCP_SOURCE} " in tcp_rows[0] and any("2001:db8:1::10.45678" in line for line in ipv6_rows)

    run(open_store(mixed_pcap), scenario, size=size)


def two_namespaces_pcapng(path, names: tuple[str, ...]):
    path.write_bytes(capture_files.section_header()
                     + b"".join(capture_files.interface([(OPT_IF_NAME, name.encode())]) for name in names)
                     + b"".join(capture_files.enhanced_packet(mixed_frame(index), ticks=FIRST_TS_S * 10**6 + index,
                                                              ifid=index % len(names)) for index in range(40)))
    return path


def test_interface_column_tells_live_keys_apart_by_their_name_and_stays_narrow_at_80(tmp_path):
    """demo-a is in two namespaces: their cells differ by the end of the namespace's name."""
    names = ("ringmon-demo-1234-a/demo-a", "ringmon-demo-1234-b/demo-b", "ringmon-demo-1234-c/demo-a")
    path = two_namespaces_pcapng(tmp_path / "three.pcapng", names)

    async def scenario(app, pilot, packet_list):
        lines = screen_lines(packet_list)
        assert "Interface" in lines[0] or "Iface" in lines[0]
        shown = [line.split()[2] for line in lines[1:] if line.strip()]
        assert shown[:3] == ["demo-a@a", "demo-b", "demo-a@c"]
        assert all(tcp_port_is_shown(line, 3) for line in lines[1:] if " HTTP " in line)
        assert packet_list.columns()[-1].width >= 16  # was 4 with a 12-cell Interface and whole addresses

    run(open_store(path), scenario, size=(80, 24))


def test_interface_labels_keep_the_namespace_only_where_two_share_a_name():
    assert interface_labels(["ns-a/eth0", "ns-b/eth0", "ns-a/veth1", "lo"]) == ["eth0@a", "eth0@b", "veth1", "lo"]
    assert interface_labels(["eth0", "demo-1a/eth0", "demo-2a/eth0"]) == ["eth0", "eth0@1a", "eth0@2a"]


def test_time_header_names_the_time_mode(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        titles = []
        for _ in range(3):
            titles.append(packet_list.render_line(0).text.split("Source")[0].split(maxsplit=1)[1].strip())
            await pilot.press("t")
            await pilot.pause()
        assert titles == ["Rel. time", "Time of day", "Δ time"]

    run(open_store(mixed_pcap), scenario, size=(80, 24))


def test_a_packet_without_a_time_has_a_blank_time_and_deltas_skip_it(tmp_path):
    """pcapng simple packet blocks carry no timestamp: tshark leaves the time blank, and so does the list."""
    first_ticks = FIRST_TS_S * 10**6
    path = tmp_path / "spb.pcapng"
    path.write_bytes(capture_files.section_header() + capture_files.interface()
                     + capture_files.enhanced_packet(mixed_frame(0), ticks=first_ticks)
                     + capture_files.simple_packet(mixed_frame(1))
                     + capture_files.enhanced_packet(mixed_frame(2), ticks=first_ticks + 2500))

    async def scenario(app, pilot, packet_list):
        for expected in (["0.000000", "", "0.002500"], None, ["0.000000", "", "0.002500"]):
            mark, number, time = packet_list.columns()[:3]
            start = mark.width + number.width + 2
            times = [line[start:start + time.width].strip() for line in screen_lines(packet_list)[1:4]]
            if expected is not None:
                assert times == expected
            else:  # time of day: the middle one blank too
                assert times[1] == "" and times[0] and times[2]
            await pilot.press("t")
            await pilot.pause()

    run(open_store(path), scenario, size=(80, 24))


def test_the_footer_ends_with_palette_at_80_columns_on_the_dashboard_and_the_live_list():
    """Textual's compact footer left the cell after the docked palette key unpainted: a key under it showed. (At 80
    columns the dashboard's keys and the list's take two lines, the palette's last, alone.)"""
    async def main():
        app = fake_dashboard()
        async with app.run_test(size=(80, 24)) as pilot:
            await warm_up(pilot)
            await pilot.pause()
            assert terminal_lines(app)[-1].rstrip().endswith(" ^p")
            await pilot.press("l")
            await pilot.pause(0.3)
            assert terminal_lines(app)[-1].rstrip().endswith(" ^p")

    asyncio.run(main())
