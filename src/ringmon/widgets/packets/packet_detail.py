"""One packet opened: a header line, its decode tree beside its bytes (stacked when narrow); the node under the
tree's cursor has its bytes highlighted in the hex view. The one packet view of the app (slot inspector,
packet list)."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from ...decode import decode_frame
from ...formatting import escape, wall_clock
from ...messages import FieldHighlighted
from .decode_tree import PacketTree
from .hex_dump import HexDump, hex_dump_text

NARROW_WIDTH = 110  # below this the tree and the bytes are stacked: side by side each would be too cramped


def append_capture_facts(header: Text, caplen: int, wirelen: int, ts_ns: int) -> None:
    """What a header says of any captured packet (slot or stored): how much of it was kept, and when (UTC)."""
    header.append("captured ", "dim")
    header.append(f"{caplen} B")
    header.append(" of ", "dim")
    header.append(f"{wirelen} B")
    header.append(" on the wire  ", "dim")
    header.append(wall_clock(ts_ns, "%Y-%m-%d %H:%M:%S", 9, utc=True) + " UTC")


class PacketDetail(Vertical):
    # Its layout travels with it (any screen or app that shows a packet); colours come from the theme.
    DEFAULT_CSS = """
    PacketDetail #detail-header { height: auto; padding: 0 1; background: $panel; }
    PacketDetail #detail-body { height: 1fr; }
    PacketDetail #packet-tree { width: 1fr; border-top: solid $primary; }
    PacketDetail #hex-dump { width: 76; border-top: solid $primary; }
    PacketDetail.-narrow #detail-body { layout: vertical; }
    PacketDetail.-narrow #packet-tree { width: 100%; height: 1fr; }
    PacketDetail.-narrow #hex-dump { width: 100%; height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "copy_bytes", "Copy bytes")]

    def compose(self) -> ComposeResult:
        yield Static(id="detail-header")
        with Horizontal(id="detail-body"):
            yield PacketTree(id="packet-tree")
            yield HexDump(id="hex-dump")

    def on_mount(self) -> None:
        self.query_one(PacketTree).border_title = "Decoded"
        self.query_one(HexDump).border_title = "Bytes"

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW_WIDTH, "-narrow")

    def show(self, data: bytes | memoryview, linktype: int, wirelen: int, header: Text | str = "") -> None:
        """Shows a packet of a link type (pcap LINKTYPE_ value) that was `wirelen` bytes on the wire, under
        `header` (a str is escaped and shown as plain text, never read as markup; a Text is the caller's)."""
        data = bytes(data)  # kept while shown: a view of a ring or a store may be released meanwhile
        self.query_one("#detail-header", Static).update(Text(escape(header)) if isinstance(header, str) else header)
        self.query_one(HexDump).show(data)
        self.query_one(PacketTree).show(decode_frame(data, wirelen, linktype) if data or wirelen else [])

    def on_field_highlighted(self, message: FieldHighlighted) -> None:
        self.query_one(HexDump).highlight_bytes(message.span)

    def action_copy_bytes(self) -> None:
        """The highlighted bytes (the whole packet when none are) to the clipboard, as the hex view shows them:
        printable text only, whatever the packet holds."""
        dump = self.query_one(HexDump)
        start, end = dump.highlight or (0, len(dump.data))
        self.app.copy_to_clipboard(hex_dump_text(dump.data[start:end]).plain)
        self.notify(f"copied {end - start} bytes", markup=False)
