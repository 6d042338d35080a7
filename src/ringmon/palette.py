"""The command palette: every key binding of the app and of each interface panel, as a command.

Titles and help come from the bindings themselves, so the palette and the keys cannot drift
apart. Interface names come from the system: they are shown as plain Text, never parsed as markup.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from rich.text import Text
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

from .formatting import escape
from .widgets.iface.panel import InterfacePanel

Command = tuple[str, str, Callable[[], object]]  # title, help, what it runs


def _one_per_action(bindings: Iterable[Binding]) -> list[Binding]:
    """q and ctrl+c both quit: one command, named after the first binding."""
    by_action: dict[str, Binding] = {}
    for binding in bindings:
        by_action.setdefault(binding.action, binding)
    return list(by_action.values())


class RingmonCommands(Provider):
    def _commands(self) -> list[Command]:
        app = self.app
        commands = [(binding.description, binding.tooltip, partial(app.run_action, binding.action))
                    for binding in _one_per_action(app.BINDINGS)]
        for panel in app.panels.values():
            commands += [(f"{escape(panel.key)}: {binding.description}", binding.tooltip,
                          partial(panel.run_action, binding.action))
                         for binding in _one_per_action(InterfacePanel.BINDINGS)]
        return commands

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(Text(title), callback, text=title, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, Text(title), callback, text=title, help=help_text or None)
