"""What is wrong with a dialog's answer, said inside the dialog (a toast would cover it), hidden until then."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class DialogError(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="dialog-error")

    def say(self, text: str) -> None:
        """`text` is the caller's, escaped by it; shown as text, never parsed as markup."""
        self.update(Text(text))
        self.add_class("-shown")
