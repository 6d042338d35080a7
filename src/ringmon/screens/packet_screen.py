"""One stored packet, opened from the packet list: its metadata, its decode tree and its bytes; `[` and `]`
step to the packet before or after."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ringcore.store import PacketStore, StoredPacket

from ..decode import decode_frame
from ..formatting import wall_clock
from ..widgets.packets.decode_tree import PacketTree
from ..widgets.packets.hex_dump import HexDump


def packet_header(packet: StoredPacket, interface_names: list[str]) -> Text:
    """`interface_names` are escaped already."""
    text = Text(no_wrap=False)
    text.append(f"packet {packet.number + 1:,}", "bold")
    if len(interface_names) > 1 and packet.interface < len(interface_names):
        text.append(" on ", "dim")
        text.append(interface_names[packet.interface], "bold")
    text.append("  captured ", "dim")
    text.append(f"{packet.caplen} B")
    text.append(" of ", "dim")
    text.append(f"{packet.wirelen} B")
    text.append(" on the wire  ", "dim")
    text.append(wall_clock(packet.ts_ns, "%Y-%m-%d %H:%M:%S", 9, utc=True) + " UTC")
    flags = [name for name, is_set in (("truncated", packet.truncated), ("outgoing", packet.outgoing)) if is_set]
    if flags:
        text.append("  " + ", ".join(flags), "bold yellow")
    return text


class PacketScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("left_square_bracket", "step(-1)", "Previous packet"),
        Binding("right_square_bracket", "step(1)", "Next packet"),
    ]

    def __init__(self, store: PacketStore, number: int, interface_names: list[str]) -> None:
        super().__init__()
        self.store = store
        self.number = number
        self.interface_names = interface_names
        self.shown: StoredPacket | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="packet-header")
        with Horizontal(id="inspector-body"):
            yield PacketTree(id="packet-tree")
            with VerticalScroll(id="bytes-column"):
                yield HexDump(id="hex-dump")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#packet-tree").border_title = "Decoded (dpkt)"
        self.query_one("#bytes-column").border_title = "Bytes"
        self.show(self.number)

    def on_resize(self) -> None:
        self.set_class(self.size.width < 110, "-narrow")

    def action_step(self, step: int) -> None:
        self.show(self.number + step)

    def show(self, number: int) -> None:
        packet = self.store.packet(number) if number >= 0 else None
        if packet is None:
            self.notify(f"packet {number + 1:,} is not stored", severity="warning")
            return
        self.number, self.shown = number, packet
        self.query_one("#packet-header", Static).update(packet_header(packet, self.interface_names))
        self.query_one(PacketTree).show(decode_frame(packet.data, packet.wirelen))
        self.query_one(HexDump).show(packet.data)
