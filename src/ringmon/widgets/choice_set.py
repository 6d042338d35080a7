"""Radio options whose chosen one shows without colour, and where enter chooses and applies at once."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.widgets import RadioButton, RadioSet


class MarkedRadioButton(RadioButton):
    """(•) chosen, ( ) not: Textual's button differs only by colour, lost on a monochrome terminal or to a
    colour-blind eye."""

    @property
    def _button(self) -> Content:
        return Content.styled("(•)" if self.value else "( )", self.get_visual_style("toggle--button"))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """As many lines as the label wraps to (Textual's buttons keep to one and cut the rest)."""
        return max(1, self.render().get_height(self.styles, width))


class ChoiceSet(RadioSet):
    """Space chooses the highlighted option; enter chooses it and asks the dialog to apply (`Chosen`)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "choose", "Apply", show=False)]

    @dataclass
    class Chosen(Message):
        choice_set: ChoiceSet

    def action_choose(self) -> None:
        highlighted = self._nodes[self._selected] if self._selected is not None else None
        if isinstance(highlighted, RadioButton) and not highlighted.value:
            highlighted.toggle()
        self.post_message(self.Chosen(self))
