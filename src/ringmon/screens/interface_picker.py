"""Pick an interface to plug: every interface of this namespace (and of the session's namespaces) with its state."""
from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from ringcore.api import interface_key

from ..formatting import cut_end, cut_start, escape
from ..iface_facts import InterfaceFacts
from ..widgets.dialog_error import DialogError

InterfaceChoice = tuple[str, str | None]  # (ifname, netns)

_COLUMNS = ("interface", "netns", "state", "MTU", "addresses")
_COLUMN_KEPT = 8  # what a column cut for the others keeps


def _cut_addresses(addresses: str, width: int) -> str:
    """As many whole addresses as `width` holds, then `…` for the others; the first cut at its end if it alone
    does not fit."""
    if len(addresses) <= width:
        return addresses
    kept = addresses[:width - 1].rpartition(", ")[0]
    return f"{kept}, …" if kept else cut_end(addresses.partition(", ")[0], width)


_CUT = (cut_start, cut_start, cut_end, cut_end, _cut_addresses)  # how each column's text is cut when it must be


class InterfacePicker(ModalScreen[InterfaceChoice | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, interfaces: Iterable[InterfaceFacts], plugged: set[str]) -> None:
        """`plugged`: the keys (interface_key) of the interfaces plugged already."""
        super().__init__()
        self.interfaces = list(interfaces)
        self.plugged = plugged

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(Text("Plug an interface", "bold"))
            yield DataTable(cursor_type="row", zebra_stripes=True, id="interface-table")
            yield DialogError(id="picker-error")
            yield Label(Text("enter plug · escape cancel", "dim"))

    def on_mount(self) -> None:
        self._rows = [self._row(facts) for facts in self.interfaces]
        self.query_one(DataTable).focus()

    def _row(self, facts: InterfaceFacts) -> tuple[str, list[tuple[str, str]]]:
        """The row's key and its cells, each (text, style)."""
        if facts.unavailable:
            state = (facts.unavailable, "yellow")
        elif interface_key(facts.ifname, facts.netns) in self.plugged:
            state = ("plugged", "bold cyan")
        elif not facts.is_up:
            state = ("down", "red")
        else:  # up, so plugged at once: it captures whatever the link carries once it has a carrier
            state = ("no carrier", "yellow") if facts.has_carrier is False else ("up", "green")
        addresses = ", ".join(escape(address) for address in facts.addresses if not address.startswith("link"))
        cells = [(escape(facts.ifname), ""), (escape(facts.netns or "-"), ""), state, (str(facts.mtu or ""), ""),
                 (addresses, "")]
        return f"{facts.netns or ''}\0{facts.ifname}", cells

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill_table)  # once the table has its width

    def _fill_table(self) -> None:
        """Every column whole where the table's width holds it; else cut visibly, with an ellipsis, in this order:
        the addresses after their first (whole addresses, then `…`), the interface's and the namespace's start
        (their end, the demo's `-a`/`-b` or a pid, tells them apart; an unavailable namespace's row says its name
        in both), the state's end (each down to its title's width or a few characters), and last the first
        address itself: the addresses, what a person picks by, give way first only where they are many."""
        table = self.query_one(DataTable)
        widths = [max([len(title)] + [len(cells[column][0]) for _, cells in self._rows])
                  for column, title in enumerate(_COLUMNS)]
        first_address = max((len(cells[4][0].partition(", ")[0]) for _, cells in self._rows), default=0)
        room = table.scrollable_content_region.width - 2 * table.cell_padding * len(widths)
        for column, kept in ((4, first_address + len(", …")), (0, _COLUMN_KEPT), (1, _COLUMN_KEPT), (2, _COLUMN_KEPT),
                             (4, _COLUMN_KEPT)):
            kept = max(kept, len(_COLUMNS[column]))
            widths[column] -= min(max(sum(widths) - room, 0), max(widths[column] - kept, 0))
        cursor_row = table.cursor_row
        table.clear(columns=True)
        for title, width in zip(_COLUMNS, widths):
            table.add_column(title, width=width)
        for row_key, cells in self._rows:
            table.add_row(*(Text(_CUT[column](text, widths[column]), style)
                            for column, (text, style) in enumerate(cells)), key=row_key)
        table.move_cursor(row=cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        netns, ifname = str(event.row_key.value).split("\0", 1)
        if interface_key(ifname, netns or None) in self.plugged:
            self.query_one(DialogError).say(f"{escape(interface_key(ifname, netns or None))} is already plugged")
            return
        self.dismiss((ifname, netns or None))
