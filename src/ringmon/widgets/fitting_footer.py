"""The footer of every full screen: each key that acts on the screen. When they do not fit its width they are
shortened, never cut: short descriptions, then two lines of them, then the keys alone (help's `?` keeps its word)."""
from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.events import Resize
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# A description's short form where its first word alone would not say it.
SHORT_DESCRIPTIONS = {
    "Drop policy": "Policy",
    "Next interface": "Next",
    "Polling settings": "Polling",
    "Reset high-water": "Reset",
    "Previous record": "Prev",
    "Previous packet": "Prev",
    "Copy again": "Recopy",
    "Slot map": "Map",
    "Overview": "All",  # every interface in one table
}
KEPT_ACTIONS = {"help"}  # described at every width: the way to every other key's meaning
_KEY_MARGIN = 1  # the compact footer's gap after each key


def short_description(description: str) -> str:
    return SHORT_DESCRIPTIONS.get(description, description.split(" ")[0])


class FittingFooter(Footer):
    """Textual's compact footer scrolls the keys that do not fit out of sight; this one shortens them instead,
    and is composed again whenever its width changes."""

    DEFAULT_CSS = """
    FittingFooter.-two-lines { height: 2; layout: grid; }
    FittingFooter.-two-lines FooterKey.-command-palette { dock: none; border-left: none; }
    """

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._composed_width = 0

    def compose(self) -> ComposeResult:
        keys = [key for key in super().compose() if isinstance(key, FooterKey)]
        width = self._composed_width = self.size.width
        full = [key.description for key in keys]
        # shortened, the palette's key goes alone: help says what ctrl+p does
        short = ["" if key.has_class("-command-palette") else short_description(description)
                 for key, description in zip(keys, full)]
        two_lines = False
        if width and _width_of(keys, full) > width:
            if _width_of(keys, short) <= width:
                full = short
            elif _fits_two_lines(keys, short, width):
                full, two_lines = short, True
            else:
                full = _keys_alone(keys, short, width)
        for key, description in zip(keys, full):
            key.description = description
        self.set_class(two_lines, "-two-lines")
        self.screen.set_class(two_lines, "-two-line-footer")  # its toasts sit above both lines (ringmon.tcss)
        self.styles.grid_size_columns = -(-len(keys) // 2) if two_lines else len(keys)
        yield from keys

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)


def _cell_of(key: FooterKey, description: str) -> int:
    return cell_len(key.key_display) + (cell_len(description) + 1 if description else 0)


def _width_of(keys: list[FooterKey], descriptions: list[str]) -> int:
    """Cells the keys take in one line of the compact footer (the palette key has a left border)."""
    return sum(_cell_of(key, text) + _KEY_MARGIN + key.has_class("-command-palette")
               for key, text in zip(keys, descriptions))


def _fits_two_lines(keys: list[FooterKey], short: list[str], width: int) -> bool:
    """Whether every key with its short description fits its cell of a grid of two lines."""
    cell = width // -(-len(keys) // 2) - _KEY_MARGIN
    return max(_cell_of(key, text) for key, text in zip(keys, short)) <= cell


def _keys_alone(keys: list[FooterKey], short: list[str], width: int) -> list[str]:
    """Each key alone but help's; then, from the first key on, short descriptions back while they fit."""
    shown = [text if key.action in KEPT_ACTIONS else "" for key, text in zip(keys, short)]
    for index, text in enumerate(short):
        trial = [*shown[:index], text, *shown[index + 1:]]
        if _width_of(keys, trial) > width:
            break
        shown = trial
    return shown
