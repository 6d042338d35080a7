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
from ..widgets.overview.interface_table import COLUMNS, InterfaceTable


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
        self.title_line.update(Text.assemble(
            (f" {interfaces} interface{'s' if interfaces != 1 else ''}", "bold"), ("  sorted by ", "dim"),
            (self.table.sort_label(), "bold"), ("  · per second: wire (NIC) in/out, taken, drops by stage", "dim"),
            no_wrap=True, overflow="ellipsis"))

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
        return "Overview columns", tuple((column.label, column.meaning) for column in COLUMNS)
