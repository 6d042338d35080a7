"""PacketDetail driven by Pilot: the node under the decode tree's cursor has exactly its bytes highlighted in the
hex view, read back from what the view renders, and the view scrolls to them, in a 64 KiB packet too."""
from __future__ import annotations

import asyncio

from decode_frames import HTTP_RESPONSE, LINKTYPE_ETHERNET, ethernet, frames, ipv4, tcp
from textual.app import App, ComposeResult
from textual.widgets import Static

from ringmon.widgets.packets.decode_tree import PacketTree
from ringmon.widgets.packets.hex_dump import HexDump, hex_dump_text
from ringmon.widgets.packets.packet_detail import PacketDetail

ASCII_COLUMN = 4 + 2 + 3 * 16 + 1 + 1  # offset, gap, hex bytes, middle gap, gap: where a 16-byte line's ASCII starts


class DetailApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PacketDetail()


def shown_highlight(dump: HexDump) -> tuple[set[int], set[int]]:
    """The offsets of the bytes the view renders reversed: in the hex column and in the ASCII column."""
    in_hex, in_ascii = set(), set()
    assert dump.bytes_per_line == 16
    for y in range(dump.scrollable_content_region.height):
        line_start = (dump.scroll_offset.y + y) * 16
        column = 0
        reversed_columns = set()
        for segment in dump.render_line(y):
            if segment.style and segment.style.reverse:
                reversed_columns.update(range(column, column + len(segment.text)))
            column += len(segment.text)
        for index in range(16):
            hex_column = 6 + 3 * index + (1 if index >= 8 else 0)
            if {hex_column, hex_column + 1} <= reversed_columns:
                in_hex.add(line_start + index)
            if ASCII_COLUMN + index in reversed_columns:
                in_ascii.add(line_start + index)
    return in_hex, in_ascii


def visible_bytes(dump: HexDump) -> set[int]:
    first = dump.scroll_offset.y * 16
    return set(range(first, min(len(dump.data), first + dump.scrollable_content_region.height * 16)))


async def cursor_to(pilot, tree: PacketTree, wanted) -> None:
    """Moves the tree's cursor to the first line whose node `wanted(label, span)` accepts."""
    for line in range(tree.last_line + 1):
        node = tree.get_node_at_line(line)
        if wanted(node.label.plain, node.data):
            tree.cursor_line = line
            await pilot.pause()
            return
    raise AssertionError("no such node in the tree")


def test_each_node_under_the_cursor_highlights_exactly_its_bytes():
    async def scenario():
        app = DetailApp()
        async with app.run_test(size=(140, 60)) as pilot:
            linktype, frame = frames()["tls client hello"]
            app.query_one(PacketDetail).show(frame, linktype, len(frame), "a TLS ClientHello")
            await pilot.pause()
            tree, dump = app.query_one(PacketTree), app.query_one(HexDump)
            checked = 0
            for line in range(tree.last_line + 1):
                tree.cursor_line = line
                await pilot.pause()
                span = tree.cursor_node.data
                assert dump.highlight == span
                expected = set(range(*span)) & visible_bytes(dump) if span else set()
                assert shown_highlight(dump) == (expected, expected), tree.cursor_node.label.plain
                checked += bool(expected)
            assert checked > 40  # every field of every layer, down to the server name

    asyncio.run(scenario())


def test_a_field_at_the_end_of_a_64_kib_packet_is_scrolled_into_view_and_highlighted():
    filler = b"X-Fill: " + b"f" * 60000 + b"\r\n"
    response = HTTP_RESPONSE.replace(b"\r\n\r\n", b"\r\n" + filler + b"Server: ringmon\r\n\r\n", 1)
    frame = ethernet(0x0800, ipv4(6, tcp(response, sport=80, dport=40000)))
    assert len(frame) > 60000

    async def scenario():
        app = DetailApp()
        async with app.run_test(size=(140, 40)) as pilot:
            app.query_one(PacketDetail).show(frame, LINKTYPE_ETHERNET, len(frame), "")
            await pilot.pause()
            tree, dump = app.query_one(PacketTree), app.query_one(HexDump)
            await cursor_to(pilot, tree, lambda label, span: label.startswith("Server: ringmon"))
            start, end = dump.highlight
            assert frame[start:end] == b"Server: ringmon\r\n"
            assert dump.scroll_offset.y > 3000  # the view went to it
            assert shown_highlight(dump) == (set(range(start, end)),) * 2
            await cursor_to(pilot, tree, lambda label, span: label.startswith("destination: 02:00"))
            assert dump.scroll_offset.y == 0 and shown_highlight(dump) == (set(range(0, 6)),) * 2

    asyncio.run(scenario())


def test_tree_and_bytes_are_side_by_side_when_wide_and_stacked_when_narrow():
    async def scenario(width: int) -> tuple[int, int]:
        app = DetailApp()
        async with app.run_test(size=(width, 40)) as pilot:
            linktype, frame = frames()["http request"]
            app.query_one(PacketDetail).show(frame, linktype, len(frame), "")
            await pilot.pause()
            tree, dump = app.query_one(PacketTree).region, app.query_one(HexDump).region
            return tree.x < dump.x and tree.y == dump.y, tree.x == dump.x and tree.y < dump.y

    assert asyncio.run(scenario(140)) == (True, False)
    assert asyncio.run(scenario(80)) == (False, True)


def test_the_next_packet_keeps_the_cursors_line_and_highlights_that_fields_bytes_in_it():
    async def scenario():
        app = DetailApp()
        async with app.run_test(size=(140, 40)) as pilot:
            detail, tree, dump = app.query_one(PacketDetail), app.query_one(PacketTree), app.query_one(HexDump)
            linktype, request = frames()["http request"]
            detail.show(request, linktype, len(request), "")
            await pilot.pause()
            await cursor_to(pilot, tree, lambda label, span: label.startswith("destination port"))
            linktype, hello = frames()["tls client hello"]
            detail.show(hello, linktype, len(hello), "")
            await pilot.pause()
            assert tree.cursor_node.label.plain == "destination port: 443"
            assert dump.highlight == (36, 38) and shown_highlight(dump) == ({36, 37},) * 2

    asyncio.run(scenario())


def test_c_copies_the_highlighted_bytes_as_the_dump_shows_them():
    async def scenario():
        app = DetailApp()
        async with app.run_test(size=(140, 40)) as pilot:
            linktype, frame = frames()["http request"]
            app.query_one(PacketDetail).show(frame, linktype, len(frame), "")
            await pilot.pause()
            tree = app.query_one(PacketTree)
            await cursor_to(pilot, tree, lambda label, span: label.startswith("Host: example.test"))
            await pilot.press("c")
            assert app.clipboard == "0000  48 6f 73 74 3a 20 65 78  61 6d 70 6c 65 2e 74 65  Host: example.te\n" \
                                    "0010  73 74 0d 0a" + " " * 37 + "  st··"

    asyncio.run(scenario())


def test_offsets_past_64_kib_keep_every_line_aligned():
    data = bytes(range(256)) * 400  # 100 KiB: offsets need five hex digits
    lines = hex_dump_text(data).plain.splitlines()
    assert lines[0].startswith("00000  00 01") and lines[-1].startswith("18ff0  f0 f1")
    assert len({len(line) for line in lines}) == 1


def test_a_header_given_as_text_is_escaped():
    async def scenario() -> str:
        app = DetailApp()
        async with app.run_test(size=(140, 40)) as pilot:
            linktype, frame = frames()["arp request"]
            app.query_one(PacketDetail).show(memoryview(frame), linktype, len(frame), "file \x1b[31mred\x07.pcap")
            await pilot.pause()
            return str(app.query_one("#detail-header", Static).render())

    assert asyncio.run(scenario()) == r"file \x1b[31mred\x07.pcap"
