"""Ask before doing what cannot be undone in place (unplugging an interface): two marked options, the action
first and chosen; enter applies the one highlighted, escape cancels."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from ..widgets.choice_set import ChoiceSet, MarkedRadioButton


class ConfirmDialog(ModalScreen[bool]):
    """Dismissed with True when `action` is chosen, False when cancelled (escape, or the other option). Every text
    is the caller's own, escaped by it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, title: str, hint: str, action: str, cancel: str) -> None:
        super().__init__()
        self.title_text = title
        self.texts = (hint, action, cancel)

    def compose(self) -> ComposeResult:
        hint, action, cancel = self.texts
        with Vertical(classes="dialog"):
            yield Label(Text(self.title_text, "bold"))
            yield Label(Text(hint, "dim"))
            with ChoiceSet(id="confirm-choice"):
                yield MarkedRadioButton(Text(action), value=True, name="action")
                yield MarkedRadioButton(Text(cancel), name="cancel")
            yield Label(Text("enter apply (↑↓ choose) · escape cancel", "dim"))

    def on_mount(self) -> None:
        self.query_one(ChoiceSet).focus()

    def on_choice_set_chosen(self, event: ChoiceSet.Chosen) -> None:
        pressed = event.choice_set.pressed_button
        self.dismiss(pressed is not None and pressed.name == "action")
