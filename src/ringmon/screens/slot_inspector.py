"""One slot of a ring, copied when opened: the record (packet) it belongs to, with its header, shown in the
PacketDetail (decode tree and bytes); a packet larger than a slot is one record over several slots, shown whole."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen

from ringcore.api import RingStats

from ringcore import SlotView

from ..capture_source import CaptureSource
from ..formatting import escape
from ..widgets.fitting_footer import FittingFooter
from ..widgets.packets.packet_detail import PacketDetail, append_capture_facts
from ..widgets.ring.slot_map import FREE, slot_state

_STATE_NOTES = {FREE: "free: the last packet it held, kept until overwritten"}


def _slots_of(slot: SlotView) -> str:
    return f"slot {slot.index}" if slot.slots == 1 else f"slots {slot.index}–{slot.index + slot.slots - 1}"


def slot_header(ifname: str, slot: SlotView, state: str, opened: int | None = None) -> Text:
    """`opened`: the slot the user opened, when it is a later slot of the record shown."""
    text = Text(no_wrap=False)
    text.append(_slots_of(slot), "bold")
    text.append(" of ", "dim")
    text.append(escape(ifname), "bold")
    text.append(f"  {_STATE_NOTES.get(state, state)}", "cyan")
    if opened is not None and opened != slot.index:
        text.append(f"  (slot {opened} is part of this packet's record)", "dim")
    text.append("\n")
    if slot.padding:
        text.append("padding: no packet; it fills the ring's end so that the next record starts at slot 0", "dim")
        return text
    append_capture_facts(text, slot.caplen, slot.wirelen, slot.ts_ns)
    text.append("  ifindex ", "dim")
    text.append(str(slot.ifindex))
    flags = [name for name, is_set in (("truncated", slot.truncated), ("outgoing", slot.outgoing)) if is_set]
    text.append("  flags ", "dim")
    text.append(", ".join(flags) or "none", "bold yellow" if slot.truncated else "")
    return text


class SlotInspector(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left_square_bracket", "step(-1)", "Previous record"),
        Binding("right_square_bracket", "step(1)", "Next record"),
        Binding("r", "reread", "Copy again"),
    ]

    def __init__(self, capture: CaptureSource, key: str, index: int, stats: RingStats) -> None:
        super().__init__()
        self.capture = capture
        self.key = key
        self.index = index
        self.stats = stats
        self.shown: SlotView | None = None  # the record last copied

    def compose(self) -> ComposeResult:
        yield PacketDetail()
        yield FittingFooter()

    def on_mount(self) -> None:
        self.action_reread()

    def action_step(self, step: int) -> None:
        """To the next record (after all the slots of this one) or the one before (the slot before its first)."""
        shown = self.shown
        first, slots = (shown.index, shown.slots) if shown is not None else (self.index, 1)
        self.index = (first + slots if step > 0 else first - 1) % self.stats.slot_count
        self.action_reread()

    def action_reread(self) -> None:
        stats = self.capture.stats().get(self.key)
        if stats is None:
            self.notify(f"{escape(self.key)} is no longer plugged", severity="error", markup=False)
            return
        self.stats = stats
        slot = self.shown = self.capture.read_slot(self.key, self.index)
        detail = self.query_one(PacketDetail)
        if slot is None or (not slot.padding and slot.caplen == 0 and slot.wirelen == 0):
            detail.show(b"", stats.linktype, 0, Text(f"slot {self.index} of {escape(self.key)}: never written", "bold"))
        elif slot.padding:
            detail.show(b"", stats.linktype, 0, slot_header(self.key, slot, slot_state(stats, slot.index), self.index))
        else:
            detail.show(slot.data, stats.linktype, slot.wirelen,
                        slot_header(self.key, slot, slot_state(stats, slot.index), self.index))
