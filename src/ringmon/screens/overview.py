"""The overview of every plugged interface (iftop's view, plus the capture path's own numbers); enter opens the
interface's panel. The app feeds it the refresh's one snapshot, as it feeds the panels."""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable

from ringcore.api import RingStats

from ..palette import OverviewCommands
from ..stats_history import InterfaceHistory
from ..widgets.fitting_footer import FittingFooter
from ..widgets.live_text import LiveText
from ..widgets.overview.interface_table import COLUMNS, NUMBERS_WIDTH, SPARKLINE_FROM, InterfaceTable

_RATES_LONG = "  · per second: wire (NIC) in/out, taken, drops by stage"
_RATES_SHORT = "  · per second (? says what)"


class OverviewScreen(Screen[str | None]):
    """Dismissed with the key of the interface whose panel to open (None: the panel shown before)."""

    COMMANDS = {OverviewCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_overview", "Panels", tooltip="Back to the interface panels"),
        Binding("enter", "open_panel", "Open", tooltip="Open the panel of the interface under the cursor"),
        Binding("s", "next_sort", "Sort", tooltip="Sort by the next column (its header is reversed; larger first)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.title_line = LiveText(id="overview-title")
        self.table = InterfaceTable(id="overview-table")

    def compose(self) -> ComposeResult:
        yield self.title_line
        yield self.table
        yield FittingFooter()

    def on_mount(self) -> None:
        self.table.focus()

    def show(self, latest: Mapping[str, RingStats], histories: Mapping[str, InterfaceHistory]) -> None:
        self.table.show(latest, histories)
        self._show_title(len(latest))

    def _show_title(self, interfaces: int) -> None:
        """What the numbers are, as long as the width allows, and ← → when the table scrolls sideways; on a
        terminal too narrow even for that, wrapped onto a second line rather than cut."""
        head = Text.assemble((f" {interfaces} interface{'s' if interfaces != 1 else ''}", "bold"),
                             ("  sorted by ", "dim"), (self.table.sort_label(), "bold"))
        tail = Text("  ← → more columns", "bold") if self.table.scrolls_sideways else Text("")
        rates = next((rates for rates in (_RATES_LONG, _RATES_SHORT)
                      if head.cell_len + len(rates) + tail.cell_len <= self.size.width), _RATES_SHORT)
        self.title_line.update(Text.assemble(head, tail, (rates, "dim")))

    def on_resize(self) -> None:
        self._show_title(self.table.row_count)

    def action_next_sort(self) -> None:
        self.table.next_sort()
        self._show_title(self.table.row_count)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.dismiss(event.row_key.value)

    def action_open_panel(self) -> None:
        self.dismiss(self.table.cursor_key())

    def action_dismiss_overview(self) -> None:
        self.dismiss(None)

    @staticmethod
    def help_notes() -> tuple[str, tuple[tuple[str, str], ...]]:
        """What each column means, for the help screen."""
        narrow = ("narrow", f"below {SPARKLINE_FROM} columns the last minute's sparkline is left out; below "
                  f"{NUMBERS_WIDTH} the table scrolls sideways (← →), the interface column staying, and the title "
                  "says so")
        return "Overview columns", (*((column.label, column.meaning) for column in COLUMNS), narrow)
