"""The command palette: every key binding of the app and of each interface panel, and of the packet list where
it is shown, as a command.

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


class BindingCommands(Provider):
    """Commands from key bindings: subclasses say which."""

    def _commands(self) -> list[Command]:
        raise NotImplementedError

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(Text(title), callback, text=title, help=help_text or None)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, Text(title), callback, text=title, help=help_text or None)


def _run_bindings(bindings: Iterable[Binding], target: object, prefix: str = "") -> list[Command]:
    return [(f"{prefix}{binding.description}", binding.tooltip, partial(target.run_action, binding.action))
            for binding in _one_per_action(bindings)]


class RingmonCommands(BindingCommands):
    def _commands(self) -> list[Command]:
        app = self.app
        commands = _run_bindings(app.BINDINGS, app)
        for panel in app.panels.values():
            commands += _run_bindings(InterfacePanel.BINDINGS, panel, f"{escape(panel.key)}: ")
        return commands


class PacketListCommands(BindingCommands):
    """The packet list's keys (filter, export, marks…), on its screen: the dashboard's and `ringmon read`'s."""

    def _commands(self) -> list[Command]:
        screen = self.screen
        packet_list = screen.packet_list
        return _run_bindings(screen.BINDINGS, screen) + _run_bindings(packet_list.BINDINGS, packet_list)


class OverviewCommands(BindingCommands):
    """The overview's keys (sort, open a panel), on its screen."""

    def _commands(self) -> list[Command]:
        return _run_bindings(self.screen.BINDINGS, self.screen)
