"""Reading what the dashboard shows, as plain text, the way a person reads the screen."""
from __future__ import annotations

from textual.app import App
from textual.widgets import Static


def shown(app: App, selector: str) -> str:
    """The plain text of the first Static matching `selector` on the current screen."""
    return str(app.screen.query(selector).first(Static).content)


def panel_shown(app: App, ifname: str, selector: str) -> str:
    """The plain text of a Static inside the panel of `ifname`."""
    from app.widgets.iface.panel import InterfacePanel

    panel = next(panel for panel in app.query(InterfacePanel) if panel.ifname == ifname)
    return str(panel.query(selector).first(Static).content)
