"""Regenerates the README's screenshots from the running app: the demo's namespaces and traffic, the
real Monitor, the real dashboard (headless, 120x40), saved as SVG by Textual and converted to PNG.

    python screenshots/make_screenshots.py      (as root: it creates the demo's namespaces)

Writes screenshots/{dashboard,slot-inspector,help}.{svg,png}.
"""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import cairosvg

from ringmon.capture_source import CaptureSource
from ringmon.dashboard import RingmonApp, dashboard_monitor
from ringmon.commands.demo import DemoNetwork, missing_capabilities
from ringcore.api import CLASSIC_RING_PAGES, interface_key

HERE = Path(__file__).resolve().parent
SIZE = (120, 40)
FLOOD_TIMEOUT_S = 45.0
# Textual's SVG asks for Fira Code; cairosvg does not fall back to a monospace font by itself.
PNG_FONT = "DejaVu Sans Mono"


def to_png(svg_path: Path) -> None:
    svg = svg_path.read_text().replace('"Fira Code"', f'"{PNG_FONT}"').replace("Fira Code, monospace", PNG_FONT)
    cairosvg.svg2png(bytestring=svg.encode(), write_to=str(svg_path.with_suffix(".png")), output_width=SIZE[0] * 14)


def save(app: RingmonApp, name: str) -> None:
    svg_path = HERE / f"{name}.svg"
    app.save_screenshot(svg_path.name, str(HERE))
    to_png(svg_path)
    print(f"wrote {svg_path.relative_to(HERE.parent)} and .png")


async def shoot(demo: DemoNetwork, monitor: CaptureSource) -> None:
    app = RingmonApp(monitor, overview_at_start=False)  # as the demo: the panels, one ring filling
    receiving = interface_key(demo.if_b, demo.ns_b)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")  # the receiving end: it drops late, at the ring
        deadline = time.monotonic() + FLOOD_TIMEOUT_S
        # Under load: wait for the generator's flood (drops every second) and a refresh that caught the
        # ring at least half full (the consumer empties it within microseconds of waking).
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            history, stats = app.histories.get(receiving), app.latest.get(receiving)
            if (history is not None and stats is not None and len(history.rx_pps) > 20
                    and history.rates.ring_drops_ps > 1000 and stats.slots_used * 2 >= stats.slot_count):
                break
        save(app, "dashboard")  # at once: the next refresh may find the ring drained again
        # Paused, the ring stays full: the consumer's slot holds a packet waiting to be consumed.
        await pilot.press("p")
        await pilot.pause(0.5)
        await pilot.press("home", "enter")
        await pilot.pause(0.5)
        save(app, "slot-inspector")
        await pilot.press("escape", "p", "question_mark")
        await pilot.pause(0.5)
        save(app, "help")


def main() -> int:
    missing = missing_capabilities()
    if missing:
        print(f"make_screenshots: needs {', '.join(missing)} (run as root)", file=sys.stderr)
        return 1
    demo = DemoNetwork.for_this_process()
    monitor = dashboard_monitor()
    try:
        demo.create()
        demo.start_traffic()
        for plug in demo.plug_requests({"ring_pages": CLASSIC_RING_PAGES}):
            monitor.plug(plug.ifname, plug.options, netns=plug.netns)
        asyncio.run(shoot(demo, monitor))
    finally:
        monitor.close()
        demo.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
