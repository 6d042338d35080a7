"""The dashboard wired to the deterministic FakeMonitor, warmed up to a full minute of history."""
from __future__ import annotations

from fake_monitor import FakeMonitor
from textual.pilot import Pilot

from ringmon.dashboard import RingmonApp
from ringmon.stats_history import HISTORY_S, REFRESH_HZ

# 100 steps of 100 ms are one pass of the fake's steady/bursty/flood script; 80 lands in the flood, on a
# refresh that also reads the NIC's counters, so wire and captured rates cover the same second.
WARM_UP_REFRESHES = HISTORY_S * REFRESH_HZ + 80


def fake_dashboard(fake: FakeMonitor | None = None, *, overview_at_start: bool | None = False) -> RingmonApp:
    """A dashboard that refreshes only when told to, on the fake's clock: same input, same screen. It opens on
    the panels, though the fake has two interfaces, unless `overview_at_start` is None (the app decides) or True."""
    fake = fake or FakeMonitor()
    return RingmonApp(fake, refresh_interval_s=None, clock=fake.clock, gather_facts=fake.facts,
                      overview_at_start=overview_at_start)


async def refresh(pilot: Pilot, times: int = 1) -> None:
    """`times` refreshes from the fake (one 100 ms step each), then the screen catches up: the numbers and
    then the rates are drawn each after the frame before (RingmonApp._show_active)."""
    for _ in range(times):
        pilot.app.refresh_from_capture()
    for _frame in range(3):
        await pilot.pause()


async def warm_up(pilot: Pilot) -> None:
    await refresh(pilot, WARM_UP_REFRESHES)
