"""The help of a screen: its keys, read from the bindings themselves, and what its parts mean (the dashboard's
panels, the packet list's columns, the packet screen's parts)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HelpSection = tuple[str, Sequence[Binding]]  # a part's title and its bindings
HelpNotes = tuple[str, Sequence[tuple[str, str]]]  # a table's title and its (thing, meaning) rows

DASHBOARD_PANELS = (
    ("Ring occupancy", "slots holding packets not yet consumed (a large packet takes several), the high-water "
                       "mark, the last minute"),
    ("Slot map", "each slot of the ring; ▲ the producer writes next, ▼ the consumer reads next; ═ the rest of "
                 "a packet larger than a slot, ░ padding at the ring's end"),
    ("Drops by stage", "kernel: socket ring full (drop-early waits here); ring full: copied, then "
                       "thrown away (drop-late), — in zero-copy and direct (no slot ring: every drop is the kernel's); "
                       "truncated: cut to one slot (--truncate-to-slot) or to the ring"),
    ("Identity", "taken from the kernel = delivered + dropped at ring + still in ring (✓ when it holds); stored "
                 "= what the packet store kept of the delivered, held + evicted (the oldest, to make room)"),
    ("Polling", "how the consumer waits on an empty ring (sleep, yield, spin, event, or adaptive: spin briefly, "
                "then sleep as event; direct: no consumer, the capture thread runs the sinks); polls and the share "
                "that found the ring empty; sleeps and the share of time asleep; batch: slots taken per poll (log2 "
                "buckets); latency: capture to consume over the last 5 s (p50, p99, max; ≤ a bucket's upper edge). "
                "The kernel hands packets over a 256 KiB block at a time, when it is full or 20 ms after its first "
                "packet: at low rates expect up to ~20 ms whatever the wait (--immediate-mode: each packet at once)"),
    ("Rates", "per second, over the last whole second, the same second for every number (refreshed once a "
              "second). wire (NIC): what the interface's counters say it received and sent, every packet on "
              "the wire; captured rx/tx: what ringmon took from the kernel, fewer when a filter rejects packets "
              "or the kernel drops them (see Drops by stage); their last minute beside them"),
    ("Top talkers", "wire bytes per conversation (addresses and protocol) of the packets delivered (not those "
                    "the ring dropped) over the last 40 s, a line each way "
                    "(A → B, A ← B), and bits per second over the last 2 s, 10 s and 40 s, as iftop; other: "
                    "beyond the table's 768 conversations, or no address"),
    ("Interface", "what the system says: up, up with no carrier (set up, no link yet), or down, MTU, link speed "
                  "and duplex, network namespace, addresses; NIC: the interface's own counters (received, sent, "
                  "errors, drops) and ringmon's (in, out, kernel drops), both as growth since the panel opened, "
                  "so the two can be compared"),
    ("Status line", "the interface, capturing or PAUSED, the ring's mode (zero-copy or direct when not copied), "
                    "the drop policy, the capture filter, and when it was down"),
    ("Sizes", "from 80 columns the panel has two columns; below, one, under a line of the captured rates, drops "
              "per second and latency p99; s moves to what does not fit, to scroll it"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    def __init__(self, sections: Sequence[HelpSection], notes: Sequence[HelpNotes] = (),
                 closing: str = "escape closes") -> None:
        super().__init__()
        self.sections = sections
        self.notes = notes
        self.closing = closing

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide", id="help"):
            yield Static(self._keys_table())
            for title, rows in self.notes:
                yield Static(self._notes_table(title, rows))
            yield Static(Text(self.closing, "dim"))

    def _keys_table(self) -> Table:
        table = Table(title="Keys", title_style="bold", expand=True, show_header=False, box=None, padding=(0, 1))
        table.add_column("key", style="bold cyan", no_wrap=True, min_width=12)
        table.add_column("action", ratio=1)
        for title, bindings in self.sections:
            table.add_row(Text(title, "bold underline"), "")
            keys_by_action: dict[str, list[str]] = {}
            descriptions: dict[str, str] = {}
            for binding in Binding.make_bindings(bindings):  # 'escape,q': each key as shown
                keys_by_action.setdefault(binding.action, []).append(self.app.get_key_display(binding))
                descriptions.setdefault(binding.action, binding.tooltip or binding.description)
            for action, keys in keys_by_action.items():
                table.add_row(Text(", ".join(keys)), Text(descriptions[action]))
        return table

    @staticmethod
    def _notes_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
        table = Table(title=title, title_style="bold", expand=True, show_header=False, box=None, padding=(0, 1))
        table.add_column("thing", style="bold", no_wrap=True, min_width=16)
        table.add_column("meaning", ratio=1)
        for thing, meaning in rows:
            table.add_row(thing, meaning)
        return table
