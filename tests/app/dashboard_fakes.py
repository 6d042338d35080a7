"""The dashboard wired to the deterministic FakeMonitor, warmed up to a full minute of history."""
from __future__ import annotations

from fake_monitor import FakeMonitor, fake_facts
from textual.pilot import Pilot

from app.dashboard import RingmonApp
from app.stats_history import HISTORY_S, REFRESH_HZ

# 100 steps of 100 ms are one pass of the fake's steady/bursty/flood script; 78 lands in the flood.
WARM_UP_REFRESHES = HISTORY_S * REFRESH_HZ + 78


def fake_dashboard(fake: FakeMonitor | None = None) -> RingmonApp:
    """A dashboard that refreshes only when told to, on the fake's clock: same input, same screen."""
    fake = fake or FakeMonitor()
    return RingmonApp(fake, refresh_interval_s=None, clock=fake.clock, gather_facts=fake_facts,
                      netns_of={"eth1": "ns-demo"})


async def warm_up(pilot: Pilot, refreshes: int = WARM_UP_REFRESHES) -> None:
    for _ in range(refreshes):
        pilot.app.refresh_from_capture()
    await pilot.pause()
