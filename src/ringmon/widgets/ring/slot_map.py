"""The ring drawn as a grid of slots: free, filled, being consumed; producer and consumer marked; a cursor.
A packet larger than a slot is one record over several slots: its later slots are drawn joined to its first.

A line-API view: only the visible rows are drawn, so an 8192-slot ring costs what a 64-slot one does.
"""
from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ringcore import _binding as rc
from ringcore.api import RingStats

from ...messages import SlotChosen

FREE, FILLED, CONSUMING, PRODUCER, CONSUMER = "free", "filled", "consuming", "producer", "consumer"
GLYPHS = {FREE: "·", FILLED: "█", CONSUMING: "▓", PRODUCER: "▲", CONSUMER: "▼"}
CELL_SIZES = ((4, 2), (2, 1), (1, 1))  # (columns, lines) a slot takes, biggest first
# A held slot that is not a record's first: the rest of the packet before it, or padding at the ring's end.
CONTINUED_GLYPH, PADDING_GLYPH = "═", "░"
_LATER_GLYPHS = {rc.RC_SLOT_KIND_CONTINUED: CONTINUED_GLYPH, rc.RC_SLOT_KIND_PADDING: PADDING_GLYPH}


def slot_state(stats: RingStats, index: int) -> str:
    """Free, filled or being consumed, from the ring's free-running positions (see ringcore.h)."""
    count = stats.slot_count
    # Positions in [tail, head) hold packets; the slot of position p is p % count.
    offset = (index - stats.tail) % count
    if offset >= stats.head - stats.tail:
        return FREE
    return CONSUMING if offset < stats.consuming - stats.tail else FILLED


def _drawn_state(stats: RingStats) -> tuple[int, ...]:
    """What the map's picture depends on: the ring's geometry and positions."""
    return stats.slot_count, stats.slot_size, stats.head, stats.tail, stats.consuming


class SlotMap(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "inspect", "Inspect", tooltip="Open the slot under the cursor in the slot inspector"),
        Binding("left", "move(-1)", "Previous slot", show=False),
        Binding("right", "move(1)", "Next slot", show=False),
        Binding("up", "move_rows(-1)", "Row up", show=False),
        Binding("down", "move_rows(1)", "Row down", show=False),
        Binding("pageup", "move_rows(-8)", "Page up", show=False),
        Binding("pagedown", "move_rows(8)", "Page down", show=False),
        Binding("home", "jump('consumer')", "To consumer", show=False),
        Binding("end", "jump('producer')", "To producer", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {f"slot-map--{state}" for state in GLYPHS} | {"slot-map--cursor"}

    cursor = reactive(0, always_update=True)

    def __init__(self, key: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key = key
        self.stats: RingStats | None = None
        self.kinds = ""  # each slot's rc_slot_kind as a character (rc_ring_slot_kinds); "" when not known

    @property
    def _cell_size(self) -> tuple[int, int]:
        """The biggest cell (columns, lines) with which the whole ring fits: small rings stay legible,
        big ones get one character a slot and scroll."""
        if self.stats is None:
            return CELL_SIZES[-1]
        region = self.scrollable_content_region
        for width, height in CELL_SIZES:
            per_row = region.width // width
            if per_row and -(-self.stats.slot_count // per_row) * height <= region.height:
                return width, height
        return CELL_SIZES[-1]

    @property
    def _columns(self) -> int:
        return max(1, self.scrollable_content_region.width // self._cell_size[0])

    def _update_virtual_size(self) -> None:
        if self.stats is None:
            return
        cell_width, cell_height = self._cell_size
        rows = -(-self.stats.slot_count // self._columns)
        self.virtual_size = Size(self._columns * cell_width, rows * cell_height)

    def on_mount(self) -> None:
        self.border_title = "Slot map"

    def show(self, stats: RingStats, kinds: bytes = b"") -> None:
        """Draw this snapshot; `kinds` (one byte a slot) groups each record's slots."""
        kinds_text = kinds.decode("latin-1") if len(kinds) == stats.slot_count else ""
        previous, self.stats = self.stats, stats
        if previous is not None and kinds_text == self.kinds and _drawn_state(previous) == _drawn_state(stats):
            return  # a quiet ring: nothing on the map moved, so nothing is repainted
        self.kinds = kinds_text
        if previous is None or (previous.slot_count, previous.slot_size) != (stats.slot_count, stats.slot_size):
            # in the title: sections have a top border only, where a subtitle would not show. Set only
            # here: setting a border title repaints the whole map.
            self.border_title = f"Slot map · {stats.slot_count} × {stats.slot_size} B"
            self.cursor = min(self.cursor, stats.slot_count - 1)
            self._update_virtual_size()
            self.refresh()
            return
        # Redrawn ten times a second: only the rows of cells that were filled or marked then or are
        # now can have changed. The ring's positions only grow, so that is one or two spans.
        spans = [(previous.tail, previous.head), (stats.tail, stats.head)]
        if previous.head >= stats.tail:
            spans = [(previous.tail, stats.head)]
        for first, last in spans:
            self._refresh_positions(first, last)

    def _refresh_positions(self, first: int, last: int) -> None:
        """Redraw the rows holding positions first..last (inclusive: the producer's mark sits on last)."""
        count = self.stats.slot_count
        if last - first + 1 >= count:
            self.refresh()
            return
        columns, cell_height = self._columns, self._cell_size[1]
        start, end = first % count, last % count
        for low, high in ([(start, end)] if start <= end else [(start, count - 1), (0, end)]):
            row = low // columns
            self.refresh_lines(row * cell_height, (high // columns - row + 1) * cell_height)

    def on_resize(self) -> None:
        self._update_virtual_size()

    def watch_cursor(self, cursor: int) -> None:
        cell_height = self._cell_size[1]
        row = cursor // self._columns
        self.scroll_to_region(Region(0, row * cell_height, 1, cell_height), animate=False, force=True)
        self.refresh()

    def action_move(self, step: int) -> None:
        if self.stats is not None:
            self.cursor = (self.cursor + step) % self.stats.slot_count

    def action_move_rows(self, rows: int) -> None:
        if self.stats is not None:
            self.cursor = max(0, min(self.stats.slot_count - 1, self.cursor + rows * self._columns))

    def action_jump(self, mark: str) -> None:
        if self.stats is not None:
            position = self.stats.head if mark == PRODUCER else self.stats.tail
            self.cursor = position % self.stats.slot_count

    def action_inspect(self) -> None:
        if self.stats is not None:
            self.post_message(SlotChosen(self.key, self.cursor))

    def cell_kind(self, index: int) -> str:
        stats = self.stats
        assert stats is not None
        if index == stats.head % stats.slot_count and stats.head - stats.tail < stats.slot_count:
            return PRODUCER
        if index == stats.tail % stats.slot_count and stats.head != stats.tail:
            return CONSUMER
        return slot_state(stats, index)

    def legend(self) -> Text:
        """What the glyphs mean, in this map's own colours."""
        text = Text()
        for kind, glyph in GLYPHS.items():
            text.append(glyph, self.get_component_rich_style(f"slot-map--{kind}"))
            text.append(f" {kind}", "dim")
            text.append("\n" if kind == CONSUMING else "  ")  # two short lines fit the narrowest column
        text.rstrip()
        return text

    def glyphs(self, kind: str, first: int, end: int) -> list[str]:
        """The glyph of each slot first..end-1 of one kind: a held slot that continues a record (or pads the
        ring's end) is drawn as such; the others, and every slot when the kinds are not known, by their kind."""
        own = GLYPHS[kind]
        if kind not in (FILLED, CONSUMING) or not self.kinds:
            return [own] * (end - first)
        return [_LATER_GLYPHS.get(ord(code), own) for code in self.kinds[first:end]]

    def _joined(self, index: int, end: int) -> bool:
        """Whether the gap after slot index is drawn as part of the record that goes on in the next slot."""
        return bool(self.kinds) and index + 1 < end and ord(self.kinds[index + 1]) == rc.RC_SLOT_KIND_CONTINUED

    def _kind_changes(self, first: int, end: int) -> list[int]:
        """The slot indices in (first, end) where the cell kind may change: where the filled and the
        being-consumed spans begin and end, and around the marks and the cursor."""
        stats = self.stats
        count = stats.slot_count
        tail = stats.tail % count
        edges = {tail, tail + 1, stats.consuming % count, stats.head % count, stats.head % count + 1,
                 self.cursor, self.cursor + 1}
        return sorted(edge for edge in edges if first < edge < end)

    def render_line(self, y: int) -> Strip:
        stats = self.stats
        width = self.scrollable_content_region.width
        cell_width, cell_height = self._cell_size
        row = (self.scroll_offset.y + y) // cell_height
        columns = max(1, width // cell_width)
        line_in_cell = (self.scroll_offset.y + y) % cell_height
        # Cells taller than a line end in a blank line: the rows of the grid stay apart.
        if stats is None or row * columns >= stats.slot_count or (cell_height > 1 and line_in_cell == cell_height - 1):
            return Strip.blank(width, self.rich_style)
        base = self.rich_style
        first, end = row * columns, min((row + 1) * columns, stats.slot_count)
        # Redrawn ten times a second: the kind is worked out once per run of equal cells, not per cell.
        segments: list[Segment] = []
        bounds = [first, *self._kind_changes(first, end), end]
        for run_start, run_end in zip(bounds, bounds[1:]):
            kind = self.cell_kind(run_start)
            style = base + self.get_component_rich_style(f"slot-map--{kind}")
            if run_start == self.cursor and self.has_focus:
                style += self.get_component_rich_style("slot-map--cursor")
            glyphs = self.glyphs(kind, run_start, run_end)
            if cell_width > 1:
                # each cell its own glyphs and a gap, so the cells stay apart (and SVG exports line up);
                # within a record the gap is bridged, so its slots read as one packet
                for index, glyph in enumerate(glyphs, run_start):
                    gap = Segment(CONTINUED_GLYPH, style) if self._joined(index, run_end) else Segment(" ", base)
                    segments += (Segment(glyph * (cell_width - 1), style), gap)
            else:
                segments.append(Segment("".join(glyphs), style))
        return Strip(segments).extend_cell_length(width, base)
