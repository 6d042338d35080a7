"""Set or clear an interface's capture filter; a filter libpcap rejects shows its message and changes nothing."""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ringcore.api import RingcoreError

from ..formatting import escape
from ..widgets.dialog_error import DialogError


class FilterDialog(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Cancel")]

    def __init__(self, ifname: str, current: str | None, apply: Callable[[str | None], None]) -> None:
        super().__init__()
        self.ifname = ifname
        self.current = current
        self.apply = apply

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(f"Capture filter on {escape(self.ifname)}", "bold"))
            yield Label(Text("tcpdump syntax, compiled by libpcap; empty means no filter", "dim"))
            yield Input(self.current or "", placeholder="e.g. udp and not port 53", id="filter-expression")
            yield DialogError(id="filter-error")
            yield Label(Text("enter apply · escape cancel", "dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        expression = event.value.strip() or None
        try:
            self.apply(expression)
        except RingcoreError as error:  # FilterError carries libpcap's message; the old filter stays
            self.query_one(DialogError).say(escape(str(error)))
            return
        self.notify(f"filter: {escape(expression or 'none')}", title=escape(self.ifname), markup=False)
        self.dismiss()
