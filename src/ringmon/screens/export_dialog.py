"""Export packets of the list to a file: which (all stored, the displayed ones, the marked ones, or packets N to
M), the format, and where (a new name in the current directory by default). The list's screen writes it."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..formatting import escape
from ..widgets.packets.packet_list import parse_number_range
from ..widgets.choice_set import ChoiceSet, MarkedRadioButton
from ..widgets.dialog_error import DialogError
from .write_file_dialog import FORMAT_LABELS, FORMAT_SUFFIXES

WHICH = ("all", "displayed", "marked", "range")


@dataclass(frozen=True)
class ExportRequest:
    path: str
    format: str  # "pcapng", "pcap" or "pcap-ns"
    which: str  # one of WHICH
    numbers: range | None = None  # which == "range": 0-based packet numbers


def new_file_name(directory: Path, stem: str, suffix: str) -> Path:
    """stem + suffix in `directory`, or stem-2, stem-3… + suffix: a name nothing has yet."""
    path, copy = directory / f"{stem}{suffix}", 1
    while os.path.lexists(path):
        copy += 1
        path = directory / f"{stem}-{copy}{suffix}"
    return path


class ExportDialog(ModalScreen["ExportRequest | None"]):
    """Dismissed with an ExportRequest, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, stored: int, displayed: int, marked: int) -> None:
        super().__init__()
        self.counts = {"all": stored, "displayed": displayed, "marked": marked}

    def compose(self) -> ComposeResult:
        counts = self.counts
        labels = {"all": f"all stored ({counts['all']:,})", "displayed": f"displayed ({counts['displayed']:,})",
                  "marked": f"marked ({counts['marked']:,})", "range": "packets N-M:"}
        default = "marked" if counts["marked"] else "displayed" if counts["displayed"] != counts["all"] else "all"
        with Vertical(classes="dialog"):
            yield Label(Text("Export packets to a file", "bold"))
            with ChoiceSet(id="export-which"):
                for which in WHICH:
                    yield MarkedRadioButton(labels[which], value=which == default, name=which)
            yield Input(placeholder="e.g. 10-200", id="export-range")
            with ChoiceSet(id="export-format"):
                for index, name in enumerate(FORMAT_SUFFIXES):
                    yield MarkedRadioButton(FORMAT_LABELS[name], value=index == 0, name=name)
            stem = time.strftime("ringmon-export-%Y%m%d-%H%M%S")
            yield Input(str(new_file_name(Path("."), stem, ".pcapng")), id="export-path")
            yield DialogError(id="export-error")
            yield Label(Text("enter export · tab moves · space chooses an option, enter chooses it and exports · "
                             "escape cancel", "dim"))

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def _pressed(self, radio_set_id: str, default: str) -> str:
        pressed = self.query_one(radio_set_id, ChoiceSet).pressed_button
        return pressed.name if pressed is not None and pressed.name else default

    def on_radio_set_changed(self, event: ChoiceSet.Changed) -> None:
        if event.radio_set.id == "export-format":
            path_input = self.query_one("#export-path", Input)
            path = Path(path_input.value)
            if path.suffix in (".pcap", ".pcapng"):
                path_input.value = str(path.with_suffix(FORMAT_SUFFIXES[self._pressed("#export-format", "pcapng")]))
        elif self._pressed("#export-which", "all") == "range":
            self.query_one("#export-range", Input).focus()

    def _refuse(self, why: str) -> None:
        self.query_one(DialogError).say(escape(why))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._export()

    def on_choice_set_chosen(self, event: ChoiceSet.Chosen) -> None:
        """enter on "packets N-M" goes to the range, as space does; on any other option it exports."""
        if not (event.choice_set.id == "export-which" and self._pressed("#export-which", "all") == "range"):
            self._export()

    def _export(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        which = self._pressed("#export-which", "all")
        numbers = None
        if which == "range":
            try:
                numbers = parse_number_range(self.query_one("#export-range", Input).value.strip())
            except ValueError as error:
                self._refuse(str(error))
                return
        elif not self.counts[which]:
            self._refuse(f"no packets are {which}")
            return
        if not path:
            self._refuse("give a file name")
        elif os.path.lexists(path):
            self._refuse(f"{path} exists: give another name")
        else:
            self.dismiss(ExportRequest(path, self._pressed("#export-format", "pcapng"), which, numbers))
