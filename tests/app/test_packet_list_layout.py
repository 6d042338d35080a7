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
from ringmon.read_app import ReadApp
from ringmon.widgets.packets.packet_list import interface_labels, layout_columns

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


def address_cells(line: str, columns) -> tuple[str, str]:
    """The Source and Destination cells of a drawn row, by the columns' widths (a cut cell has no spaces)."""
    start = 0
    cells = {}
    for column in columns:
        cells[column.title] = line[start:start + column.width]
        start += column.width + 1
    source = next(text for title, text in cells.items() if title in ("Source", "Src"))
    destination = next(text for title, text in cells.items() if title in ("Destination", "Dest."))
    return source.strip(), destination.strip()


@pytest.mark.parametrize("size", [(60, 18), (80, 24), (120, 40)], ids=["60x18", "80x24", "120x40"])
def test_info_gives_way_then_time_and_addresses_stay_whole_or_visibly_cut(mixed_pcap, size):
    """Info is cut first (at its end, …), then the time column goes (the Info header says so); an address is cut
    only after both, in its middle with an ellipsis and its port kept: never silently."""
    async def scenario(app, pilot, packet_list):
        lines = screen_lines(packet_list)
        columns = packet_list.columns()
        tcp_rows = [line for line in lines[1:] if " HTTP " in line]
        ipv6_rows = [line for line in lines[1:] if " TCP " in line]  # ipv6_tcp_frame's
        assert tcp_rows and ipv6_rows
        for line in tcp_rows:  # IPv4 and a port: whole at every size
            assert address_cells(line, columns) == (TCP_SOURCE, TCP_DESTINATION)
        for line in ipv6_rows:
            source, destination = address_cells(line, columns)
            if size[0] >= 80:  # whole, time kept: Info gave way alone
                assert (source, destination) == ("2001:db8:1::10.45678", "2001:db8:1::20.443")
            else:  # cut where it shows, its port kept
                assert source.startswith("…") and source.endswith("::10.45678")
                assert destination.startswith("…") and destination.endswith("::20.443")
        info = columns[-1]
        assert info.width >= 10
        assert any(line.rstrip().endswith("…") for line in lines[1:])  # Info cut at its end, visibly
        if size[0] >= 80:
            assert "Rel. time" in lines[0] and lines[0].split()[-1] == "Info"
            assert all(line.split()[1].count(".") == 1 for line in tcp_rows)  # the time cell, whole
        else:
            assert "time" not in lines[0].split("(no time)")[0] and lines[0].rstrip().endswith(" (no time)")
            await pilot.press("t")
            await pilot.pause()
            assert any("left out at this width" in str(note.message) for note in app._notifications)

    run(open_store(mixed_pcap), scenario, size=size)


@pytest.mark.parametrize("size", [(60, 18), (80, 24), (120, 40)], ids=["60x18", "80x24", "120x40"])
def test_packet_list_with_ipv6_at(snap_compare, tmp_path, size):
    path = write_mixed_pcap(tmp_path / "mixed.pcap", 300, mixed_with_ipv6)

    async def settle(pilot):
        await pilot.pause()

    assert snap_compare(ReadApp(open_store(path), "mixed.pcap"), terminal_size=size, run_before=settle)


def test_layout_leaves_time_out_before_cutting_addresses_and_cuts_them_only_when_they_cannot_fit():
    whole_ipv6 = (4, 9, 45, 45, 5, 4, 60)
    kept = layout_columns(130, whole_ipv6, "relative", False)
    assert [column.title for column in kept][2] == "Rel. time" and kept[3].width == kept[4].width == 45
    dropped = layout_columns(120, whole_ipv6, "relative", False)
    assert "Rel. time" not in [column.title for column in dropped] and dropped[2].width == dropped[3].width == 45
    cut = layout_columns(80, whole_ipv6, "relative", False)
    assert cut[2].width + cut[3].width < 90 and cut[-1].width == 10


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
        assert all(address_cells(line, packet_list.columns()) == (TCP_SOURCE, TCP_DESTINATION)
                   for line in lines[1:] if " HTTP " in line)
        assert packet_list.columns()[-1].width >= 10  # was 4 with a 12-cell Interface and whole addresses

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

    run(open_store(mixed_pcap), scenario, size=(100, 30))  # every time format beside IPv6 addresses


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
