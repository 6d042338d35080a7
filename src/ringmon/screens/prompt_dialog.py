"""A one-line question (go to which packet, find what): the answer is checked before the dialog closes, and a
wrong one says why in the dialog."""
from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..formatting import escape
from ..widgets.dialog_error import DialogError

# The answer as the caller wants it, or ValueError with one line that says what is wrong.
Check = Callable[[str], object]


class PromptDialog(ModalScreen[object]):
    """Dismissed with `check(answer)`, or None when cancelled (escape) or left empty."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, hint: str, check: Check = str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.hint = hint
        self.check = check
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, "bold"))
            yield Label(Text(self.hint, "dim"))
            yield Input(self.value, id="prompt-answer")
            yield DialogError(id="prompt-error")
            yield Label(Text("enter accept · escape cancel", "dim"))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        answer = event.value.strip()
        if not answer:
            self.dismiss(None)
            return
        try:
            self.dismiss(self.check(answer))
        except ValueError as error:
            self.query_one(DialogError).say(escape(str(error)))
