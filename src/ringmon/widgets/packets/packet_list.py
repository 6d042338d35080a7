"""The packet list: one row per stored packet, drawn with Textual's line API over a PacketStore's index.

Only the rows on screen are read (one `packets()` batch per screenful) and summarized with dpkt; their
summaries and drawn strips sit in small LRU caches. Nothing is kept per packet, so memory does not grow with
the store: a million packets cost what one screen does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.events import Click, MouseScrollUp
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ringcore.filter import LINKTYPE_ETHERNET
from ringcore.store import MAX_BATCH, PacketStore, StoredPacket, StoreInterface, StoreProgress

from ...formatting import NS_PER_S, escape, wall_clock
from ...messages import PacketChosen
from ...decode.summary import PacketSummary, summarize

TIME_FORMATS = ("relative", "absolute", "delta")  # seconds since the first packet, time of day, since the previous
_TIME_WIDTHS = {"relative": 11, "absolute": 15, "delta": 9}
_SUMMARIES_CACHED = 1024  # a few screens: scrolling back and forth re-reads nothing
_STRIPS_CACHED = 256
_ADDRESS_MIN, _ADDRESS_IPV4, _ADDRESS_MAX = 14, 21, 40  # IPv4 and a port take 21 cells, IPv6 and a port 45
_INTERFACE_MAX = 12


@dataclass(frozen=True)
class RowFacts:
    """What a row needs of its packet once decoded; `previous_ts_ns` is None for the oldest stored packet."""

    summary: PacketSummary
    ts_ns: int
    previous_ts_ns: int | None


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    right: bool = False  # numbers are right-aligned


def seconds_text(ns: int) -> str:
    """An interval in seconds with microseconds, exact (integer arithmetic), negative when packets are out of order."""
    sign = "-" if ns < 0 else ""
    seconds, rest = divmod(abs(ns), NS_PER_S)
    return f"{sign}{seconds}.{rest // 1000:06d}"


def time_cell(facts: RowFacts, time_format: str, base_ts_ns: int) -> str:
    if time_format == "absolute":
        return wall_clock(facts.ts_ns, "%H:%M:%S", 6)
    if time_format == "delta":
        return seconds_text(facts.ts_ns - facts.previous_ts_ns if facts.previous_ts_ns is not None else 0)
    return seconds_text(facts.ts_ns - base_ts_ns)


@lru_cache(maxsize=16)
def layout_columns(width: int, last_number: int, time_format: str, interface_width: int) -> tuple[Column, ...]:
    """Column widths for `width` cells: the fixed ones first, addresses share what is left with Info (which
    keeps at least as much as one address); `interface_width` 0 hides the interface column."""
    fixed = [Column("No.", max(5, len(str(last_number))), True), Column("Time", _TIME_WIDTHS[time_format], True)]
    if interface_width:
        fixed.append(Column("Interface", min(_INTERFACE_MAX, max(9, interface_width))))
    tail = [Column("Proto", 6), Column("Length", 6, True)]
    used = sum(column.width + 1 for column in fixed + tail)
    spare = width - used
    # a third each to Source, Destination and Info until an IPv4 address and port fit, then Info gets more
    address = min(max(_ADDRESS_MIN, spare // 3), _ADDRESS_IPV4) + max(0, min(_ADDRESS_MAX - _ADDRESS_IPV4,
                                                                                (spare - 3 * _ADDRESS_IPV4) // 6))
    info = max(10, spare - 2 * (address + 1))
    return (*fixed, Column("Source", address), Column("Destination", address), *tail, Column("Info", info))


def row_cells(number: int, facts: RowFacts, time_format: str, base_ts_ns: int, with_interface: bool) -> list[str]:
    summary = facts.summary
    cells = [str(number + 1), time_cell(facts, time_format, base_ts_ns)]
    if with_interface:
        cells.append(summary.interface)
    return [*cells, summary.source, summary.destination, summary.protocol, str(summary.length), summary.info]


def _find_in_rows(needle: str, rows: list[tuple[int, str]], backwards: bool) -> int | None:
    """The number of the first (last) of `rows`, (number, line), whose line contains `needle` (lower case):
    one lower() and one search over the batch's lines joined, not one per row (a line holds no newline: its
    text is escaped)."""
    if not rows:
        return None
    text = "\n".join(line for _, line in rows).lower()
    hit = text.rfind(needle) if backwards else text.find(needle)
    return None if hit < 0 else rows[text.count("\n", 0, hit)][0]


def _fit(text: str, column: Column) -> str:
    if len(text) > column.width:
        return text[:column.width - 1] + "…"
    return text.rjust(column.width) if column.right else text.ljust(column.width)


class PacketList(ScrollView, can_focus=True):
    """Rows are numbered from the store's packet numbers (0-based) plus one, as Wireshark and tshark do.
    The first line is the column header; row `n` of the view is packet `first + n`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"packet-list--header", "packet-list--cursor"}
    DEFAULT_CSS = """
    PacketList { overflow-x: hidden; scrollbar-size-vertical: 1; }
    PacketList > .packet-list--header { text-style: bold; background: $panel; }
    PacketList > .packet-list--cursor { background: $accent 60%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False, tooltip="The newest packet, and follow it"),
        Binding("enter", "open", "Open"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)
    time_format: reactive[str] = reactive("relative")
    following: reactive[bool] = reactive(False)

    def __init__(self, store: PacketStore, *, following: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.first = 0  # the oldest packet number still stored
        self.count = 0  # packets stored so far, evicted ones included
        self.interfaces: list[StoreInterface] = []
        self.interface_names: list[str] = []  # escaped, for display
        self.base_ts_ns: int | None = None  # the first packet's: what relative times count from
        self._summaries: LRUCache[int, RowFacts] = LRUCache(_SUMMARIES_CACHED)
        self._strips: LRUCache[tuple, Strip] = LRUCache(_STRIPS_CACHED)
        self.set_reactive(PacketList.following, following)

    # -- what is stored ------------------------------------------------------------

    @property
    def rows(self) -> int:
        return self.count - self.first

    def update_extent(self, progress: StoreProgress) -> None:
        """The store's numbers changed (indexing went on, a capture appended, old packets were evicted)."""
        first, count = progress.first, progress.count
        if (first, count) == (self.first, self.count):
            return
        if len(self.interfaces) < progress.interfaces:
            self.interfaces = self.store.interfaces()
            self.interface_names = [escape(interface.name) for interface in self.interfaces]
            self._strips.clear()
        if self.base_ts_ns is None and count > first:
            oldest = self.store.packet(first)
            self.base_ts_ns = oldest.ts_ns if oldest is not None else None
        evicted = first - self.first
        self.first, self.count = first, count
        self.virtual_size = Size(0, self.rows + 1)
        if evicted and not self.following:  # rows are counted from the oldest stored: keep the same packets in view
            self.scroll_to(y=max(0, self.scroll_y - evicted), animate=False, immediate=True)
        if self.following and self.rows:
            self.cursor = count - 1
        elif self.cursor < first:
            self.cursor = first
        # the scroll range follows the new height only once laid out: show the cursor again after that
        self.call_after_refresh(self._show_cursor)
        self.refresh()

    @property
    def _with_interface(self) -> bool:
        return len(self.interface_names) > 1

    def _facts(self, packets: list[StoredPacket], previous_ts_ns: int | None) -> list[tuple[int, RowFacts]]:
        rows = []
        for packet in packets:
            index = packet.interface
            interface = self.interfaces[index] if index < len(self.interfaces) else None  # declared late
            ifname, linktype = (interface.name, interface.linktype) if interface else (f"#{index}", LINKTYPE_ETHERNET)
            rows.append((packet.number, RowFacts(summarize(packet.data, packet, ifname, linktype), packet.ts_ns,
                                                 previous_ts_ns)))  # summarize escapes the name
            previous_ts_ns = packet.ts_ns
        return rows

    def read_rows(self, start: int, count: int) -> list[tuple[int, RowFacts]]:
        """Packets start .. start+count-1 decoded (count ≤ MAX_BATCH - 1): one batch from the store, the packet
        before `start` included for its timestamp (the delta of the first row)."""
        before = start > self.first
        packets = self.store.packets(start - before, count + before)
        previous = packets.pop(0).ts_ns if before and packets and packets[0].number == start - 1 else None
        return self._facts(packets, previous)

    def _row_facts(self, number: int) -> RowFacts | None:
        facts = self._summaries.get(number)
        if facts is None:
            # a miss reads the whole screenful around it at once, not row by row
            top = self.first + int(self.scroll_y)
            start = number if not top <= number < top + self.size.height else top
            for row_number, row_facts in self.read_rows(start, min(MAX_BATCH - 1, max(1, self.size.height))):
                self._summaries[row_number] = row_facts
            facts = self._summaries.get(number)
        return facts

    def row_text(self, number: int, facts: RowFacts) -> str:
        """The row's line as one string, what find matches: the cells shown, in the time format shown."""
        return " ".join(row_cells(number, facts, self.time_format, self.base_ts_ns or 0, self._with_interface))

    def find(self, needle: str, after: int, backwards: bool, cancelled: Callable[[], bool],
             progress: Callable[[int, int], None]) -> int | None:
        """The nearest packet after (or before) number `after` whose line contains `needle`, ignoring case;
        run in a thread: reads the store in batches and calls progress(searched, to_search) after each."""
        needle = needle.lower()
        first, count = self.first, self.count
        total = (after - first) if backwards else (count - after - 1)
        searched = 0
        while searched < total and not cancelled():
            size = min(MAX_BATCH - 1, total - searched)
            start = after - searched - size if backwards else after + 1 + searched
            start = max(start, self.first)  # evicted meanwhile: what is left
            found = _find_in_rows(needle, [(number, self.row_text(number, facts))
                                           for number, facts in self.read_rows(start, size)], backwards)
            if found is not None:
                return found
            searched += size
            progress(searched, total)
        return None

    # -- drawing -------------------------------------------------------------------------

    def columns(self) -> tuple[Column, ...]:
        interface_width = max(map(len, self.interface_names), default=0) if self._with_interface else 0
        return layout_columns(self.scrollable_content_region.width, self.count, self.time_format, interface_width)

    def _line(self, cells: list[str], columns: tuple[Column, ...], style: Style) -> Strip:
        text = " ".join(_fit(cell, column) for cell, column in zip(cells, columns))
        width = self.scrollable_content_region.width
        return Strip([Segment(text, style)]).crop_extend(0, width, style)

    def render_line(self, y: int) -> Strip:
        columns = self.columns()
        if y == 0:
            return self._line([column.title for column in columns], columns,
                              self.get_component_rich_style("packet-list--header"))
        number = self.first + int(self.scroll_y) + y - 1
        base_style = self.rich_style
        if number >= self.count:
            return Strip.blank(self.scrollable_content_region.width, base_style)
        is_cursor = number == self.cursor
        key = (number, self.time_format, columns, is_cursor)
        strip = self._strips.get(key)
        if strip is None:
            facts = self._row_facts(number)
            if facts is None:  # evicted since the extent was read
                return Strip.blank(self.scrollable_content_region.width, base_style)
            style = base_style + self.get_component_rich_style("packet-list--cursor") if is_cursor else base_style
            cells = row_cells(number, facts, self.time_format, self.base_ts_ns or 0, self._with_interface)
            strip = self._strips[key] = self._line(cells, columns, style)
        return strip

    def watch_time_format(self) -> None:
        self.refresh()

    # -- cursor and moving ---------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._show_cursor()

    def _refresh_row(self, number: int) -> None:
        y = number - self.first - int(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    def _show_cursor(self) -> None:
        row = self.cursor - self.first
        visible = max(1, self.size.height - 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= self.scroll_y + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)

    def go_to(self, number: int, *, follow: bool = False) -> None:
        """The cursor on packet `number` (clamped to what is stored); moving anywhere but the end stops following."""
        if not self.rows:
            return
        self.following = follow or (self.following and number >= self.count - 1)
        self.cursor = min(max(number, self.first), self.count - 1)

    def action_move(self, step: int) -> None:
        self.go_to(self.cursor + step)

    def action_page(self, step: int) -> None:
        self.go_to(self.cursor + step * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.go_to(self.first)

    def action_last(self) -> None:
        self.go_to(self.count - 1, follow=True)

    def action_open(self) -> None:
        if self.rows:
            self.post_message(PacketChosen(self.cursor))

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.following = False

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            number = self.first + int(self.scroll_y) + event.y - 1
            if number < self.count:
                self.go_to(number)
                if event.chain == 2:
                    self.action_open()
