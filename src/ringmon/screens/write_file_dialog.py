"""Start writing every plugged interface's packets to a pcap or pcapng file: the dialog asks where and in
which format; the app opens the file (in a worker: opening may wait)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..widgets.choice_set import ChoiceSet, MarkedRadioButton
from ..widgets.dialog_error import DialogError

FORMAT_SUFFIXES = {"pcapng": ".pcapng", "pcap": ".pcap", "pcap-ns": ".pcap"}
FORMAT_LABELS = {  # what each format keeps, said beside it
    "pcapng": "pcapng: each packet's interface, nanosecond times",
    "pcap": "pcap: microsecond times, read by every tool",
    "pcap-ns": "pcap-ns: pcap with nanosecond times",
}


class WriteFileDialog(ModalScreen["tuple[str, str] | None"]):
    """Dismissed with (path, format), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text("Write packets of every plugged interface to a file", "bold"))
            with ChoiceSet(id="file-format"):
                for index, name in enumerate(FORMAT_SUFFIXES):
                    yield MarkedRadioButton(FORMAT_LABELS[name], value=index == 0, name=name)
            yield Input(time.strftime("ringmon-%Y%m%d-%H%M%S.pcapng"), id="file-path")
            yield DialogError(id="write-error")
            yield Label(Text("enter start · tab to the formats (space chooses, enter chooses and starts) · escape "
                             "cancel · w again stops", "dim"))

    def on_mount(self) -> None:
        self.query_one("#file-path", Input).focus()

    def _format(self) -> str:
        pressed = self.query_one(ChoiceSet).pressed_button
        return pressed.name if pressed is not None and pressed.name else "pcapng"

    def on_radio_set_changed(self, event: ChoiceSet.Changed) -> None:
        path_input = self.query_one("#file-path", Input)
        path = Path(path_input.value)
        if path.suffix in (".pcap", ".pcapng"):
            path_input.value = str(path.with_suffix(FORMAT_SUFFIXES[self._format()]))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._start()

    def on_choice_set_chosen(self, event: ChoiceSet.Chosen) -> None:
        self._start()

    def _start(self) -> None:
        path = self.query_one("#file-path", Input).value.strip()
        if not path:
            self.query_one(DialogError).say("give a file name")
            return
        self.dismiss((path, self._format()))
