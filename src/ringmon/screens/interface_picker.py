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

from ..formatting import escape
from ..iface_facts import InterfaceFacts
from ..widgets.dialog_error import DialogError

InterfaceChoice = tuple[str, str | None]  # (ifname, netns)


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
        table = self.query_one(DataTable)
        table.add_columns("interface", "netns", "state", "MTU", "addresses")
        for facts in self.interfaces:
            if facts.unavailable:
                state = Text(facts.unavailable, "yellow")
            elif interface_key(facts.ifname, facts.netns) in self.plugged:
                state = Text("plugged", "bold cyan")
            else:
                state = Text("up", "green") if facts.is_up else Text("down", "red")
            addresses = ", ".join(address for address in facts.addresses if not address.startswith("link"))
            table.add_row(Text(escape(facts.ifname)), Text(escape(facts.netns or "-")), state, Text(str(facts.mtu or "")),
                          Text(addresses), key=f"{facts.netns or ''}\0{facts.ifname}")
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        netns, ifname = str(event.row_key.value).split("\0", 1)
        if interface_key(ifname, netns or None) in self.plugged:
            self.query_one(DialogError).say(f"{escape(interface_key(ifname, netns or None))} is already plugged")
            return
        self.dismiss((ifname, netns or None))
