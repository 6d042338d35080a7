"""The packet list: one row per stored packet, drawn with Textual's line API over a PacketStore's index.

Only the rows on screen are read (one `packets()` batch per screenful) and summarized with dpkt; their
summaries and drawn strips sit in small LRU caches. Nothing is kept per packet, so memory does not grow with
the store: a million packets cost what one screen does.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.events import Click, MouseScrollUp, Resize
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ringcore.filter import LINKTYPE_ETHERNET
from ringcore.store import MAX_BATCH, PacketSelection, PacketStore, StoredPacket, StoreInterface, StoreProgress

from ...decode.summary import PacketSummary, summarize
from ...formatting import NS_PER_S, cut_end, cut_in_middle, escape
from ...messages import MarksChanged, PacketChosen
from ...screens.prompt_dialog import PromptDialog
from .marks import PacketMarks

TIME_FORMATS = ("relative", "absolute", "delta")  # seconds since the first packet, time of day, since the previous
TIME_TITLES = {"relative": "Rel. time", "absolute": "Time of day", "delta": "Δ time"}  # the header says the mode
_SUMMARIES_CACHED = 1024  # a few screens: scrolling back and forth re-reads nothing
_STRIPS_CACHED = 256
_ADDRESS_MAX = 45  # a whole IPv6 address and a port
_INFO_MIN = 10  # what Info keeps (cut at its end) before the time column goes, and then the addresses are cut
# The Info header says the time column is left out: the longest of these its width holds (the last cut with an
# ellipsis, as any cell, in a column narrower still).
INFO_TITLES_WITHOUT_TIME = ("Info (no time: narrow)", "Info (no time)", "(no time)")
MARK_GLYPH = "●"  # in a one-cell column before the number
_TIME_CELL = 2  # a drawn row's cells: the mark, No., the time, ...


# what each column says, for the help (`?`)
COLUMN_MEANINGS = (
    ("●", "a marked packet (space, shift+arrows, m, M; U clears)"),
    ("No.", "the packet's number in the file or the capture, from 1 (as Wireshark and tshark count)"),
    ("Rel. time", "seconds since the first packet; t switches to Time of day and to Δ time (since the packet "
                  "before); blank when the file gives the packet no time. Too narrow a terminal for the addresses "
                  "(after Info has given way) leaves it out, and the Info header says so; the packet view (enter) "
                  "shows it"),
    ("Interface", "where the packet was captured, shown only when there are several (Iface when narrow); "
                  "name@X where two namespaces have an interface of that name"),
    ("Source", "sender: IP address and port (address.port), or MAC address when the packet is not IP; whole "
               "up to an IPv6 address and port, else cut in its middle (…), its port kept: only when Info and "
               "the time have given way"),
    ("Destination", "receiver, as the source"),
    ("Proto", "the innermost protocol decoded (TCP, DNS, TLS, ARP, ...)"),
    ("Len", "bytes on the wire"),
    ("Info", "what the packet says (TCP flags and numbers, a DNS question and answers, an HTTP request "
             "line, a TLS server name); VLAN tags and MPLS labels first; what is malformed or truncated, "
             "and [captured N of M] when the capture kept less than the wire carried; the first to give way "
             "when the terminal is narrow (cut at its end, …; enter shows it whole)"),
)


@dataclass(frozen=True)
class RowFacts:
    """What a row needs of its packet once decoded; `ts_ns` is None for a packet the file gives no time (a
    pcapng simple packet block), `previous_ts_ns` the last earlier packet's that has one (None: none has)."""

    summary: PacketSummary
    interface: int
    previous_ts_ns: int | None

    @property
    def ts_ns(self) -> int | None:
        return None if self.summary.no_time else self.summary.ts_ns


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    right: bool = False  # numbers are right-aligned
    cut_middle: bool = False  # addresses and interface names: their ends (a port, a netns's name) tell them apart


def known_ts_ns(packet: StoredPacket) -> int | None:
    """The packet's time, None when the file gives it none (a pcapng simple packet block)."""
    return None if packet.no_time else packet.ts_ns


def seconds_text(ns: int) -> str:
    """An interval in seconds with microseconds, exact (integer arithmetic), negative when packets are out of order."""
    sign = "-" if ns < 0 else ""
    seconds, rest = divmod(abs(ns), NS_PER_S)
    return f"{sign}{seconds}.{rest // 1000:06d}"


def time_cell(facts: RowFacts, time_format: str, base_ts_ns: int | None) -> str:
    """Blank for a packet without a time, as tshark leaves it."""
    if facts.ts_ns is None:
        return ""
    if time_format == "absolute":
        return facts.summary.time
    if time_format == "delta":
        return seconds_text(facts.ts_ns - facts.previous_ts_ns if facts.previous_ts_ns is not None else 0)
    return seconds_text(facts.ts_ns - (base_ts_ns if base_ts_ns is not None else facts.ts_ns))


def interface_labels(names: list[str]) -> list[str]:
    """What the Interface column shows of each interface: the name after a live key's "netns/"; where two share
    that name, `name@X` with X the shortest end of its netns's name that no other's has (short: the column is)."""
    keys = [name.rpartition("/") for name in names]  # (netns, "/", ifname); netns "" for a file's or the host's
    labels = []
    for netns, _, ifname in keys:
        twins = [other for other, _, other_ifname in keys if other_ifname == ifname and other != netns]
        labels.append(f"{ifname}@{_distinct_end(netns, twins)}" if twins and netns else ifname)
    return labels


def _distinct_end(own: str, others: list[str]) -> str:
    for length in range(1, len(own) + 1):
        if not any(other.endswith(own[-length:]) for other in others):
            return own[-length:]
    return own


@lru_cache(maxsize=64)
def layout_columns(width: int, needs: tuple[int, ...], time_format: str, with_interface: bool) -> tuple[Column, ...]:
    """Column widths for `width` cells from what the rows on screen need (`needs`: the widest cell of each column
    of row_cells, No. to Info). Addresses and the protocol are what a person reads a row by, so what gives way
    when the width is short is, in turn: Info (cut at its end, down to _INFO_MIN), then the time column (left out,
    the Info header says so), and only then the addresses (cut in their middle, with an ellipsis, their port
    kept). An Interface column takes a tenth of the width at most."""
    number, time, *middle, proto, length, info = needs
    interface, source, destination = middle if with_interface else (0, *middle)
    time_title = TIME_TITLES[time_format]
    time_column = Column(time_title, max(len(time_title), time), True)
    head = [Column("", len(MARK_GLYPH)), Column("No.", max(3, number), True)]
    if with_interface:
        interface_width = min(max(5, interface), max(8, width // 10))
        interface_column = [Column("Interface" if interface_width >= 9 else "Iface", interface_width, cut_middle=True)]
    else:
        interface_column = []
    tail = [Column("Proto", max(5, proto)), Column("Len", max(3, length), True)]
    spare = width - sum(column.width + 1 for column in head + interface_column + tail) - 2  # the addresses' spaces
    wanted = [min(max(6, need), _ADDRESS_MAX) for need in (source, destination)]
    info_min = min(_INFO_MIN, max(4, info))
    with_time = sum(wanted) + info_min <= spare - time_column.width - 1
    if with_time:
        spare -= time_column.width + 1
    room = spare - info_min
    if sum(wanted) > room:  # the narrower keeps what it needs up to half, the wider the rest
        narrower = 0 if wanted[0] <= wanted[1] else 1
        wanted[narrower] = min(wanted[narrower], room // 2)
        wanted[1 - narrower] = room - wanted[narrower]
    source_title = "Source" if wanted[0] >= 6 else "Src"
    destination_title = "Destination" if wanted[1] >= 11 else "Dest."
    return (*head, *([time_column] if with_time else []), *interface_column,
            Column(source_title, wanted[0], cut_middle=True), Column(destination_title, wanted[1], cut_middle=True),
            *tail, Column(_info_title(with_time, spare - sum(wanted)), spare - sum(wanted)))


def _info_title(with_time: bool, width: int) -> str:
    if with_time:
        return "Info"
    return next((title for title in INFO_TITLES_WITHOUT_TIME if len(title) <= width), INFO_TITLES_WITHOUT_TIME[-1])


def row_cells(number: int, facts: RowFacts, time_format: str, base_ts_ns: int | None,
              interfaces: list[str] | None) -> list[str]:
    """The row's cells, No. to Info; `interfaces` (the Interface column's labels) None without that column."""
    summary = facts.summary
    cells = [str(number + 1), time_cell(facts, time_format, base_ts_ns)]
    if interfaces is not None:
        cells.append(interfaces[facts.interface] if facts.interface < len(interfaces) else summary.interface)
    return [*cells, summary.source, summary.destination, summary.protocol, str(summary.length), summary.info]


def _batches(start: int, stop: int, backwards: bool) -> Iterator[tuple[int, int]]:
    """Rows start to stop (exclusive) in spans (begin, end) of at most MAX_BATCH - 1, from stop down if backwards."""
    step = MAX_BATCH - 1
    if backwards:
        for end in range(stop, start, -step):
            yield max(start, end - step), end
    else:
        for begin in range(start, stop, step):
            yield begin, min(stop, begin + step)


def _find_in_rows(needle: str, rows: list[tuple[int, str]], backwards: bool) -> int | None:
    """The number of the first (last) of `rows`, (number, line), whose line contains `needle` (lower case):
    one lower() and one search over the batch's lines joined, not one per row (a line holds no newline: its
    text is escaped)."""
    if not rows:
        return None
    text = "\n".join(line for _, line in rows).lower()
    hit = text.rfind(needle) if backwards else text.find(needle)
    return None if hit < 0 else rows[text.count("\n", 0, hit)][0]


def shows_time(columns: tuple[Column, ...]) -> bool:
    """Whether the layout kept the time column (layout_columns leaves it out when the width is short)."""
    return columns[_TIME_CELL].title in TIME_TITLES.values()


def _fit(text: str, column: Column) -> str:
    if len(text) > column.width:
        return cut_in_middle(text, column.width) if column.cut_middle else cut_end(text, column.width)
    return text.rjust(column.width) if column.right else text.ljust(column.width)


class DisplayedRows:
    """Which packets the rows show, fixed at one reading of the store: every stored one (row r is packet
    first + r), or a filter's matches still stored (row r is the selection's number at offset + r). Rows are
    counted from 0 here; the list's line 0 is its header."""

    def __init__(self, first: int, count: int, selection: PacketSelection | None = None) -> None:
        self.first = first
        self.count = count
        self.selection = selection
        self.offset = selection.position(first) if selection is not None else 0  # matches evicted since
        self.rows = max(0, len(selection) - self.offset) if selection is not None else count - first

    def numbers(self, row: int, count: int) -> list[int]:
        """The packet numbers of rows row .. row+count-1 (fewer at the end; count ≤ MAX_BATCH)."""
        count = max(0, min(count, self.rows - row, MAX_BATCH))
        if self.selection is None:
            return list(range(self.first + row, self.first + row + count))
        return self.selection.numbers(self.offset + row, count) if count else []

    def number(self, row: int) -> int | None:
        found = self.numbers(row, 1)
        return found[0] if found else None

    def row(self, number: int) -> int:
        """The row of packet `number`, or of the first displayed packet after it (rows when none is)."""
        if self.selection is None:
            return min(max(0, number - self.first), self.rows)
        return min(max(0, self.selection.position(number) - self.offset), self.rows)

    def shows(self, number: int) -> bool:
        return self.first <= number < self.count and (self.selection is None or number in self.selection)


def contiguous_runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted numbers as (start, count) runs: a screenful of an unfiltered list is one run, one store read."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and runs[-1][0] + runs[-1][1] == number:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((number, 1))
    return runs


class PacketList(ScrollView, can_focus=True):
    """Rows are numbered from the store's packet numbers (0-based) plus one, as Wireshark and tshark do.
    The first line is the column header; the rows below show `view`: every stored packet, or a filter's
    matches. The cursor is a packet number. Marks are by packet number, so they outlive filter changes."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"packet-list--header", "packet-list--cursor", "packet-list--marked"}
    DEFAULT_CSS = """
    PacketList { overflow-x: hidden; scrollbar-size-vertical: 1; }
    PacketList > .packet-list--header { text-style: bold; background: $panel; }
    PacketList > .packet-list--cursor { background: $accent 60%; }
    PacketList > .packet-list--marked { color: $warning; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False, tooltip="The newest packet, and follow it"),
        Binding("enter", "open", "Open"),
        Binding("space", "toggle_mark", "Mark", tooltip="Mark (or unmark) the packet under the cursor"),
        Binding("shift+up", "extend_marks(-1)", "Mark up", show=False, tooltip="Mark while moving up"),
        Binding("shift+down", "extend_marks(1)", "Mark down", show=False, tooltip="Mark while moving down"),
        Binding("shift+pageup", "extend_marks_page(-1)", "Mark page up", show=False),
        Binding("shift+pagedown", "extend_marks_page(1)", "Mark page down", show=False),
        Binding("m", "mark_range", "Mark N-M", show=False, tooltip="Mark the displayed packets numbered N to M"),
        Binding("M", "mark_displayed", "Mark all", show=False, tooltip="Mark every displayed packet"),
        Binding("U", "clear_marks", "Unmark all", show=False, tooltip="Clear every mark"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)
    time_format: reactive[str] = reactive("relative")
    following: reactive[bool] = reactive(False)

    def __init__(self, store: PacketStore, *, following: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.view = DisplayedRows(0, 0)
        self.marks = PacketMarks()
        self.interfaces: list[StoreInterface] = []
        self.interface_names: list[str] = []  # escaped, for display
        self.interface_labels: list[str] = []  # what the Interface column shows: interface_labels()
        self.base_ts_ns: int | None = None  # the first packet's: what relative times count from
        self._summaries: LRUCache[int, RowFacts] = LRUCache(_SUMMARIES_CACHED)
        self._strips: LRUCache[tuple, Strip] = LRUCache(_STRIPS_CACHED)
        self._shown: tuple[tuple, list[int]] = ((), [])  # (top row, height, view) -> the numbers on screen
        self._columns: tuple[tuple, tuple[Column, ...]] = ((), ())  # (screen, width, time format…) -> columns
        self.set_reactive(PacketList.following, following)

    # -- what is stored and displayed ------------------------------------------------------

    @property
    def first(self) -> int:
        """The oldest packet number still stored."""
        return self.view.first

    @property
    def count(self) -> int:
        """Packets stored so far, evicted ones included."""
        return self.view.count

    @property
    def rows(self) -> int:
        return self.view.rows

    @property
    def selection(self) -> PacketSelection | None:
        return self.view.selection

    def update_extent(self, progress: StoreProgress) -> None:
        """The store's numbers changed (indexing went on, a capture appended, old packets were evicted), or the
        filter's matches did."""
        view = self.view
        first, count = progress.first, progress.count
        if (first, count) == (view.first, view.count) and (view.selection is None or
                                                           len(view.selection) - view.offset == view.rows):
            return
        if len(self.interfaces) < progress.interfaces:
            self.interfaces = self.store.interfaces()
            self.interface_names = [escape(interface.name) for interface in self.interfaces]
            self.interface_labels = interface_labels(self.interface_names)
            self._strips.clear()
        if self.base_ts_ns is None and count > first:
            self.base_ts_ns = self._first_known_ts_ns(first, count)
        if first > view.first and len(self.marks):  # evicted packets are not marked any more: they cannot be exported
            self.marks.set_range(0, first, marked=False)
            self.post_message(MarksChanged(len(self.marks)))
        self._show(DisplayedRows(first, count, view.selection))

    def show_selection(self, selection: PacketSelection | None) -> None:
        """Show only `selection`'s packets (None: every packet), keeping the cursor's packet when it is shown,
        else the next one shown."""
        self._show(DisplayedRows(self.first, self.count, selection))

    def _show(self, view: DisplayedRows) -> None:
        old = self.view
        top = old.number(int(self.scroll_y))  # the packet at the top, kept there when old packets go
        self.view = view
        self.virtual_size = Size(0, view.rows + 1)
        if view.rows and self.following:
            self.cursor = view.number(view.rows - 1)
        elif view.rows and not view.shows(self.cursor):
            self.cursor = view.number(min(view.row(self.cursor), view.rows - 1))
        if top is not None and not self.following and view.row(top) != int(self.scroll_y):
            self.scroll_to(y=view.row(top), animate=False, immediate=True)
        # the scroll range follows the new height only once laid out: show the cursor again after that
        self.call_after_refresh(self._show_cursor)
        self.refresh()

    def screen_numbers(self) -> list[int]:
        """The packet numbers of the rows on screen: one selection read per screen change."""
        key = (int(self.scroll_y), self.size.height, self.view)
        if self._shown[0] != key:
            self._shown = (key, self.view.numbers(key[0], max(1, key[1] - 1)))
        return self._shown[1]

    def _first_known_ts_ns(self, first: int, count: int) -> int | None:
        """The first stored packet's time, or the first one's that has a time (a file's first batch at most)."""
        for packet in self.store.packets(first, min(MAX_BATCH, count - first)):
            ts_ns = known_ts_ns(packet)
            if ts_ns is not None:
                return ts_ns
        return None

    @property
    def _shown_interfaces(self) -> list[str] | None:
        """The Interface column's labels, None when there is one interface (no column)."""
        return self.interface_labels if len(self.interface_labels) > 1 else None

    def _facts(self, packets: list[StoredPacket], previous_ts_ns: int | None) -> list[tuple[int, RowFacts]]:
        rows = []
        for packet in packets:
            index = packet.interface
            interface = self.interfaces[index] if index < len(self.interfaces) else None  # declared late
            ifname, linktype = (interface.name, interface.linktype) if interface else (f"#{index}", LINKTYPE_ETHERNET)
            ts_ns = known_ts_ns(packet)
            rows.append((packet.number, RowFacts(summarize(packet.data, packet, ifname, linktype), index,
                                                 previous_ts_ns)))  # summarize escapes the name
            previous_ts_ns = ts_ns if ts_ns is not None else previous_ts_ns  # a delta skips a packet without time
        return rows

    def read_rows(self, start: int, count: int) -> list[tuple[int, RowFacts]]:
        """Packets start .. start+count-1 decoded (count ≤ MAX_BATCH - 1): one batch from the store, the packet
        before `start` included for its timestamp (the delta of the first row)."""
        before = start > self.first
        packets = self.store.packets(start - before, count + before)
        previous = known_ts_ns(packets.pop(0)) if before and packets and packets[0].number == start - 1 else None
        return self._facts(packets, previous)

    def read_numbers(self, numbers: list[int]) -> list[tuple[int, RowFacts]]:
        """These packets decoded: one store read per run of consecutive numbers."""
        return [row for start, count in contiguous_runs(numbers) for row in self.read_rows(start, count)]

    def _row_facts(self, number: int) -> RowFacts | None:
        facts = self._summaries.get(number)
        if facts is None:
            # a miss reads the whole screenful around it at once, not row by row
            shown = self.screen_numbers()
            for row_number, row_facts in self.read_numbers(shown if number in shown else [number]):
                self._summaries[row_number] = row_facts
            facts = self._summaries.get(number)
        return facts

    def row_text(self, number: int, facts: RowFacts) -> str:
        """The row's line as one string, what find matches: the cells shown, in the time format shown."""
        return " ".join(row_cells(number, facts, self.time_format, self.base_ts_ns, self._shown_interfaces))

    def find(self, needle: str, after: int, backwards: bool, cancelled: Callable[[], bool],
             progress: Callable[[int, int], None]) -> tuple[int, bool] | None:
        """The nearest displayed packet after (or before) number `after` whose line contains `needle`, ignoring
        case, going on from the first (last) packet past the end as Wireshark and vim do: (its number, whether
        the search went round). Run in a thread: reads the store in batches and calls progress(searched,
        to_search) after each."""
        needle = needle.lower()
        view = self.view  # the rows as they are now: a filter applied meanwhile does not move them under us
        after_row = view.row(after)
        if backwards:  # walked from each span's end
            spans = ((0, after_row), (after_row, view.rows))
        else:
            first = after_row + 1 if view.shows(after) else after_row
            spans = ((first, view.rows), (0, first))
        searched = 0
        for went_round, (start, stop) in enumerate(spans):
            for begin, end in _batches(start, stop, backwards):
                if cancelled():
                    return None
                numbers = view.numbers(begin, end - begin)
                found = _find_in_rows(needle, [(number, self.row_text(number, facts))
                                               for number, facts in self.read_numbers(numbers)], backwards)
                if found is not None:
                    return found, bool(went_round)
                searched += end - begin
                progress(searched, view.rows)
        return None

    # -- drawing -------------------------------------------------------------------------

    def columns(self) -> tuple[Column, ...]:
        """Laid out for the rows on screen (a screenful is decoded once to draw it anyway), once per screenful."""
        interfaces = self._shown_interfaces
        shown = self.screen_numbers()
        key = (self._shown[0], self.scrollable_content_region.width, self.time_format, self.count,
               len(interfaces or ()))
        if self._columns[0] == key:
            return self._columns[1]
        needs = [len(str(self.count)), 0, *([0] if interfaces else []), 0, 0, 0, 0, 0]
        for number in shown:
            facts = self._row_facts(number)
            if facts is not None:
                cells = row_cells(number, facts, self.time_format, self.base_ts_ns, interfaces)
                needs = [max(need, len(cell)) for need, cell in zip(needs, cells)]
        columns = layout_columns(self.scrollable_content_region.width, tuple(needs), self.time_format,
                                 interfaces is not None)
        self._columns = (key, columns)
        return columns

    def _line(self, cells: list[str], columns: tuple[Column, ...], style: Style) -> Strip:
        text = " ".join(_fit(cell, column) for cell, column in zip(cells, columns))
        width = self.scrollable_content_region.width
        return Strip([Segment(text, style)]).crop_extend(0, width, style)

    def render_line(self, y: int) -> Strip:
        columns = self.columns()
        if y == 0:
            return self._line([column.title for column in columns], columns,
                              self.get_component_rich_style("packet-list--header"))
        shown = self.screen_numbers()
        base_style = self.rich_style
        if y > len(shown):
            return Strip.blank(self.scrollable_content_region.width, base_style)
        number = shown[y - 1]
        is_cursor, is_marked = number == self.cursor, number in self.marks
        key = (number, self.time_format, columns, is_cursor, is_marked)
        strip = self._strips.get(key)
        if strip is None:
            facts = self._row_facts(number)
            if facts is None:  # evicted since the extent was read
                return Strip.blank(self.scrollable_content_region.width, base_style)
            style = base_style
            if is_marked:
                style += self.get_component_rich_style("packet-list--marked")
            if is_cursor:
                style += self.get_component_rich_style("packet-list--cursor")
            cells = [MARK_GLYPH if is_marked else "",
                     *row_cells(number, facts, self.time_format, self.base_ts_ns, self._shown_interfaces)]
            if not shows_time(columns):
                del cells[_TIME_CELL]
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
        y = self.view.row(number) - int(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    def _show_cursor(self) -> None:
        row = self.view.row(self.cursor)
        visible = max(1, self.size.height - 1)
        if row < self.scroll_y:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= self.scroll_y + visible:
            self.scroll_to(y=row - visible + 1, animate=False, immediate=True)

    def go_to_row(self, row: int, *, follow: bool = False) -> None:
        """The cursor on the packet of `row` (clamped to the rows); moving anywhere but the end stops following."""
        rows = self.view.rows
        if not rows:
            return
        row = min(max(row, 0), rows - 1)
        self.following = follow or (self.following and row == rows - 1)
        self.cursor = self.view.number(row)

    def go_to(self, number: int, *, follow: bool = False) -> None:
        """The cursor on packet `number`, or the next one displayed (the last when none is)."""
        self.go_to_row(self.view.row(number), follow=follow)

    def action_move(self, step: int) -> None:
        self.go_to_row(self.view.row(self.cursor) + step)

    def _page_rows(self) -> int:
        return max(1, self.size.height - 2)

    def action_page(self, step: int) -> None:
        self.action_move(step * self._page_rows())

    def action_first(self) -> None:
        self.go_to_row(0)

    def action_last(self) -> None:
        self.go_to_row(self.view.rows - 1, follow=True)

    def action_open(self) -> None:
        if self.rows:
            self.post_message(PacketChosen(self.cursor))

    def on_resize(self, event: Resize) -> None:
        """A shorter list (a smaller terminal, a footer grown to two lines) still shows the cursor's packet."""
        self._show_cursor()

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.following = False

    def on_click(self, event: Click) -> None:
        if event.y >= 1:
            shown = self.screen_numbers()
            if event.y <= len(shown):
                self.go_to(shown[event.y - 1])
                if event.chain == 2:
                    self.action_open()

    # -- marks ---------------------------------------------------------------------------

    def _marks_changed(self) -> None:
        self.refresh()
        self.post_message(MarksChanged(len(self.marks)))

    def action_toggle_mark(self) -> None:
        if self.rows:
            self.marks.toggle(self.cursor)
            self._marks_changed()

    def mark_rows(self, first_row: int, last_row: int) -> None:
        """Mark the displayed packets of rows first_row .. last_row (either order, clamped)."""
        low, high = max(0, min(first_row, last_row)), min(self.view.rows - 1, max(first_row, last_row))
        if low > high:
            return
        if self.view.selection is None:  # consecutive numbers: whole bytes of the bitmap at once
            self.marks.set_range(self.first + low, self.first + high + 1)
        else:
            self.marks.mark_selected(self.view.selection, self.view.offset + low, self.view.offset + high + 1)
        self._marks_changed()

    def action_extend_marks(self, step: int) -> None:
        """Shift-movement: the packets passed over are marked, the one left and the one reached included."""
        if self.rows:
            row = self.view.row(self.cursor)
            self.mark_rows(row, row + step)
            self.go_to_row(row + step)

    def action_extend_marks_page(self, step: int) -> None:
        self.action_extend_marks(step * self._page_rows())

    def action_mark_displayed(self) -> None:
        self.mark_rows(0, self.view.rows - 1)

    def action_clear_marks(self) -> None:
        self.marks.clear()
        self._marks_changed()

    def action_mark_range(self) -> None:
        self.app.push_screen(PromptDialog("Mark packets", "the displayed packets numbered N to M (e.g. 10-200), "
                                          "or one number", parse_number_range), self._mark_numbers)

    def _mark_numbers(self, numbers: object) -> None:
        if isinstance(numbers, range) and numbers:
            self.mark_rows(self.view.row(numbers.start), self.view.row(numbers.stop) - 1)


def parse_number_range(text: str) -> range:
    """'10-200' is packets 10 to 200 as shown (numbered from 1), '7' packet 7 alone; as 0-based numbers."""
    low, dash, high = text.replace(" ", "").partition("-")
    if low.isdigit() and (high.isdigit() or not dash) and int(low) >= 1 and int(high or low) >= int(low):
        return range(int(low) - 1, int(high or low))
    raise ValueError(f"not a packet number or a range N-M: {text}")
