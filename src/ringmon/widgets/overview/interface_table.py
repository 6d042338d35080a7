"""Every plugged interface in one table, a row each: state, rates on the wire and taken, drops by stage, ring
occupancy, latency p99 and the last minute — sortable by any number.

Every number is read from the interface's `InterfaceHistory` (rates, latency) and `RingStats` (occupancy) of the
refresh's one snapshot, formatted by the same functions as the panels': the overview and a panel never disagree.
A refresh rewrites only the cells whose text changed.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from ringcore.api import RingStats

from ...formatting import cut_start, escape, latency_bound, si
from ...stats_history import InterfaceHistory
from ..sparkline import sparkline_text

Value = Callable[[RingStats, InterfaceHistory], "float | None"]
Cell = Callable[[RingStats, InterfaceHistory], Text]

_NONE = -1.0  # sorts a missing number (no NIC reading, no latency yet) after every real one
NAME_WIDTH = 10
SPARKLINE_MIN_WIDTH = 12  # "last minute" and a space: a narrower sparkline is left out (the panel has it)
SIDEWAYS_STEP = 8  # about a column of numbers
HISTORY_LABELS = ("taken, last minute", "last minute")  # the first where it fits
DROPS_ALERT_PS = 0.5  # as the drops panel: a rate that rounds to 1 a second is red


@dataclass(frozen=True)
class OverviewColumn:
    key: str
    label: str
    width: int  # cells, the space before it included
    meaning: str  # for help
    value: Value | None = None  # what the column sorts by, larger first (None: it does not sort)
    cell: Cell | None = None  # how it is shown (None: its value, SI-scaled)
    alert_at: float | None = None  # a value this high is shown red


def _state(stats: RingStats, history: InterfaceHistory) -> Text:
    if stats.error:
        return Text("down", "bold red")
    if stats.paused:
        return Text("paused", "bold yellow")
    return Text("up", "green")


def _occupancy(stats: RingStats, history: InterfaceHistory) -> Text:
    """As the panel's gauge: slots used of the ring, and the high-water mark."""
    full = stats.slots_used_high >= stats.slot_count
    return Text.assemble(f"{stats.slots_used}/{stats.slot_count} ", ("↑", "dim"),
                         (str(stats.slots_used_high), "bold red" if full else ""), justify="right")


def _wire(direction: str) -> Value:
    return lambda stats, history: None if history.wire is None else getattr(history.wire, direction)


def _rate(field: str) -> Value:
    return lambda stats, history: getattr(history.rates, field)


COLUMNS: tuple[OverviewColumn, ...] = (
    OverviewColumn("interface", "interface", NAME_WIDTH, "the interface (netns/name when in another namespace); "
                   "enter opens its panel"),
    OverviewColumn("state", "state", 7, "up (capturing), paused (the consumer), down (captured again once it is "
                   "up)", cell=_state),
    OverviewColumn("wire_in", "wire in", 8, "packets per second the NIC received (its own counters): captured or "
                   "not", _wire("rx_pps")),
    OverviewColumn("wire_out", "out", 6, "packets per second the NIC sent", _wire("tx_pps")),
    OverviewColumn("taken", "taken", 7, "packets per second taken from the kernel, both ways (fewer than the "
                   "wire's when the filter rejects packets or the kernel drops them)", _rate("taken_pps")),
    OverviewColumn("kernel_drops", "kern", 6, "drops per second in the kernel (its ring full: drop-early)",
                   _rate("kernel_drops_ps"), alert_at=DROPS_ALERT_PS),
    OverviewColumn("ring_drops", "ring", 6, "drops per second at the slot ring (copied, then thrown away: "
                   "drop-late); — in zero-copy and direct, which have no slot ring",
                   lambda stats, history: history.rates.ring_drops_ps if "ring" in stats.mode.drop_stages else None,
                   alert_at=DROPS_ALERT_PS),
    OverviewColumn("truncated", "trunc", 6, "packets cut per second (to one slot or to the ring)",
                   _rate("truncated_ps"), alert_at=DROPS_ALERT_PS),
    OverviewColumn("occupancy", "used ↑high", 11, "slots in use of the ring, and the high-water mark (r in the "
                   "panel resets it)", lambda stats, history: stats.slots_used / stats.slot_count
                   if stats.slot_count else 0.0, _occupancy),
    OverviewColumn("p99", "p99", 8, "capture-to-consume latency, 99th percentile of the last seconds (an upper "
                   "bound: a log2 bucket's edge)", lambda stats, history: history.latency.p99_us,
                   lambda stats, history: Text(latency_bound(history.latency.p99_us), justify="right")),
    OverviewColumn("history", HISTORY_LABELS[0], 0, "packets taken per second over the last minute (· while "
                   "down); left out when the terminal is too narrow for it beside the numbers (the panel has it)"),
)
NUMBERS_WIDTH = sum(column.width for column in COLUMNS)  # every column but the sparkline
SPARKLINE_FROM = NUMBERS_WIDTH + SPARKLINE_MIN_WIDTH  # terminal columns
SORT_COLUMNS = tuple(column for column in COLUMNS if column.value is not None)


def _number(value: float | None, alert_at: float | None) -> Text:
    if value is None:
        return Text("—", "dim", justify="right")
    return Text(si(value), "bold red" if alert_at is not None and value >= alert_at else "", justify="right")
_BY_NAME = "interface"  # the first sort: rows in the order the names sort


class InterfaceTable(DataTable):
    """Enter on a row posts DataTable.RowSelected, whose row key is the interface's key."""

    # DataTable's own enter is hidden from the footer, and hides the screen's: shown here, it says what it does
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", tooltip="Open the panel of the interface under the cursor"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", cell_padding=0, zebra_stripes=False, id=id)
        self.sort_by: str = _BY_NAME
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._order: list[str] = []
        self._history_width = -1  # 0: no sparkline column
        self._shown: tuple[Mapping[str, RingStats], Mapping[str, InterfaceHistory]] = ({}, {})

    def on_resize(self) -> None:
        self._draw(force=True)

    def show(self, latest: Mapping[str, RingStats], histories: Mapping[str, InterfaceHistory]) -> None:
        """Rows of the interfaces of this snapshot; only cells whose text changed are written."""
        self._shown = (latest, histories)
        self._draw()

    def next_sort(self) -> None:
        names = [_BY_NAME, *(column.key for column in SORT_COLUMNS)]
        self.sort_by = names[(names.index(self.sort_by) + 1) % len(names)]
        self._draw(force=True)

    def sort_label(self) -> str:
        return next(column.label for column in COLUMNS if column.key == self.sort_by)

    @property
    def shown_columns(self) -> tuple[OverviewColumn, ...]:
        """COLUMNS, without the sparkline when the numbers leave it too little room."""
        return COLUMNS if self._history_width else COLUMNS[:-1]

    @property
    def scrolls_sideways(self) -> bool:
        """The numbers are wider than the table: ← → scroll them, the interface column staying."""
        return self.scrollable_content_region.width < NUMBERS_WIDTH

    def _draw(self, force: bool = False) -> None:
        latest, histories = self._shown
        cursor_key = self.cursor_key()
        room = self.scrollable_content_region.width - NUMBERS_WIDTH
        history_width = room if room >= SPARKLINE_MIN_WIDTH else 0
        if force or history_width != self._history_width or not self.columns:
            self._history_width = history_width
            self.fixed_columns = 1 if self.scrolls_sideways else 0  # the name stays while ← → scroll the numbers
            self._add_columns()
        rows = {key: self._row(key, stats, histories[key]) for key, stats in latest.items() if key in histories}
        order = sorted(rows, key=lambda key: self._sort_key(key, latest[key], histories[key]))
        if order != self._order:
            self._add_rows(order, rows, cursor_key)
        else:
            for key, cells in rows.items():
                for column, cell, shown in zip(self.shown_columns, cells, self._cells[key]):
                    if cell != shown:
                        self.update_cell(key, column.key, cell)
        self._cells = rows

    def _sort_key(self, key: str, stats: RingStats, history: InterfaceHistory) -> tuple[float, str]:
        column = next((column for column in SORT_COLUMNS if column.key == self.sort_by), None)
        value = None if column is None else column.value(stats, history)
        return (0.0 if column is None else -(_NONE if value is None else value), key)

    def _row(self, key: str, stats: RingStats, history: InterfaceHistory) -> tuple[Text, ...]:
        cells = [Text(_name_cell(key))]
        for column in self.shown_columns[1:]:
            if column.key == "history":
                cell = sparkline_text(history.taken_pps, self._history_width - 1)
            elif stats.error and column.value is not None and column.key != "occupancy":
                cell = Text("—", "dim", justify="right")  # nothing captured while down
            elif column.cell is not None:
                cell = column.cell(stats, history)
            else:
                cell = _number(column.value(stats, history), column.alert_at)
            # the space between columns, inside the cell: cell_padding would put one on each side
            cells.append(Text(" ", justify=cell.justify).append_text(cell))
        return tuple(cells)

    def _add_columns(self) -> None:
        """Columns of fixed widths, the last one taking the rest; the sort column's label is reversed."""
        self.clear(columns=True)
        self._order = []
        for column in self.shown_columns:
            width = column.width or self._history_width
            text = column.label if column.key != "history" else next(
                label for label in (*HISTORY_LABELS, "") if len(label) < width or not label)
            label = Text(text if column.key == "interface" else f" {text}", justify="left"
                         if column.key in ("interface", "state", "history") else "right")
            if column.key == self.sort_by:
                label.stylize("reverse", 0 if column.key == "interface" else 1)
            self.add_column(label, width=width, key=column.key)

    def _add_rows(self, order: list[str], rows: dict[str, tuple[Text, ...]], cursor_key: str | None) -> None:
        """A new order (a sort, a plugged or unplugged interface): the rows again, the cursor on its interface."""
        self.clear()
        for key in order:
            self.add_row(*rows[key], key=key)
        self._order = order
        if cursor_key in order:
            self.move_cursor(row=order.index(cursor_key), animate=False)

    def action_cursor_right(self) -> None:
        """With the row cursor, ← → scroll the numbers sideways: a column's width a press, not DataTable's cell."""
        self.scroll_relative(x=SIDEWAYS_STEP, animate=False)

    def action_cursor_left(self) -> None:
        self.scroll_relative(x=-SIDEWAYS_STEP, animate=False)

    def cursor_key(self) -> str | None:
        """The interface of the row under the cursor."""
        return self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None


def _name_cell(key: str) -> str:
    """The interface's key, escaped; too long for its column, its end (the name, which tells interfaces of one
    namespace apart) after an ellipsis."""
    return cut_start(escape(key), NAME_WIDTH)
