"""One stored packet, opened from the packet list: its metadata (and pcapng comment) over the PacketDetail
(decode tree and bytes); `[` and `]` step to the packet before or after."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen

from ringcore.filter import LINKTYPE_ETHERNET
from ringcore.store import PacketStore, StoredPacket

from ..formatting import escape
from ..widgets.fitting_footer import FittingFooter
from ..widgets.packets.decode_tree import PacketTree
from ..widgets.packets.packet_detail import PacketDetail, append_capture_facts
from ..widgets.packets.packet_list import known_ts_ns
from .help import HelpScreen, HelpSection


# what each part of the screen shows, for the help (`?`)
PARTS_MEANINGS = (
    ("Header", "the packet's number, its interface (when there are several), bytes captured and on the wire, "
               "the time; truncated, outgoing or time clamped when so; the file's comment"),
    ("Decoded", "one line per protocol layer, its fields beneath (space opens and closes); a line in red is "
                "malformed or truncated, and says why"),
    ("Bytes", "the packet in hex and ASCII; the bytes of the line highlighted in the tree are marked"),
    ("tab", "moves between the tree and the bytes"),
)


def packet_header(packet: StoredPacket, interface_names: list[str], comment: str | None = None) -> Text:
    """`interface_names` are escaped already; `comment` (from the file) is not."""
    text = Text(no_wrap=False)
    text.append(f"packet {packet.number + 1:,}", "bold")
    if len(interface_names) > 1 and packet.interface < len(interface_names):
        text.append(" on ", "dim")
        text.append(interface_names[packet.interface], "bold")
    text.append("  ")
    append_capture_facts(text, packet.caplen, packet.wirelen, known_ts_ns(packet))
    flags = [name for name, is_set in (("truncated", packet.truncated), ("outgoing", packet.outgoing),
                                       ("time clamped", packet.ts_clamped)) if is_set]
    if flags:
        text.append("  " + ", ".join(flags), "bold yellow")
    if comment:
        text.append("\ncomment: ", "dim")
        text.append(escape(comment))
    return text


class PacketScreen(Screen[int]):
    """Dismissed with the number of the packet shown last, for the list to put its cursor there."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("left_square_bracket", "step(-1)", "Previous packet"),
        Binding("right_square_bracket", "step(1)", "Next packet"),
        Binding("question_mark", "help", "Help", tooltip="These keys, and what the parts of the screen show"),
    ]

    def __init__(self, store: PacketStore, number: int, interface_names: list[str]) -> None:
        super().__init__()
        self.store = store
        self.number = number
        self.interface_names = interface_names
        self.shown: StoredPacket | None = None

    @classmethod
    def help_sections(cls) -> list[HelpSection]:
        return [("Packet", [*cls.BINDINGS, *PacketDetail.BINDINGS]), ("Decoded (the tree)", PacketTree.BINDINGS)]

    def compose(self) -> ComposeResult:
        yield PacketDetail()
        yield FittingFooter()

    def on_mount(self) -> None:
        self.show(self.number)

    def action_back(self) -> None:
        self.dismiss(self.number)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_sections(), [("What the screen shows", PARTS_MEANINGS)]))

    def action_step(self, step: int) -> None:
        self.show(self.number + step)

    def show(self, number: int) -> None:
        packet = self.store.packet(number) if number >= 0 else None
        if packet is None:
            self.notify(self._no_packet(number), severity="warning", markup=False)
            return
        self.number, self.shown = number, packet
        interfaces = self.store.interfaces()
        linktype = interfaces[packet.interface].linktype if packet.interface < len(interfaces) else LINKTYPE_ETHERNET
        comment = self.store.comment(number) if packet.has_comment else None
        self.query_one(PacketDetail).show(packet.data, linktype, packet.wirelen,
                                          packet_header(packet, self.interface_names, comment))

    def _no_packet(self, number: int) -> str:
        """Why `[` or `]` stays: the first or last packet of a file; of a live capture, what it stores."""
        progress = self.store.progress()
        if number < 0:
            return "this is the first packet"
        if progress.format == "live":
            newest = number >= progress.count
            return "this is the newest packet" if newest else f"packet {number + 1:,} is no longer stored"
        return "this is the last packet" + ("" if progress.done else " indexed so far")
