"""Reading what the dashboard shows, as plain text, the way a person reads the screen."""
from __future__ import annotations

import io

from rich.console import Console
from textual.app import App
from textual.widgets import Static


def _plain(static: Static) -> str:
    content = static.content
    if isinstance(content, str) or hasattr(content, "plain"):
        return str(content)
    # a Rich renderable (a table): rendered at the widget's width, as the screen shows it
    console = Console(width=max(static.content_region.width, 20), record=True, file=io.StringIO())
    console.print(content)
    return console.export_text()


def shown(app: App, selector: str) -> str:
    """The plain text of the first Static matching `selector` on the current screen."""
    return _plain(app.screen.query(selector).first(Static))


def all_shown(app: App, selector: str) -> str:
    """The plain text of every Static matching `selector` on the current screen, one after the other."""
    return "\n".join(_plain(static) for static in app.screen.query(selector).results(Static))


def panel_shown(app: App, ifname: str, selector: str) -> str:
    """The plain text of a Static inside the panel of `ifname` (its key where two namespaces have that name)."""
    from ringmon.widgets.iface.panel import InterfacePanel

    panel = next(panel for panel in app.query(InterfacePanel) if ifname in (panel.ifname, panel.key))
    return _plain(panel.query(selector).first(Static))
