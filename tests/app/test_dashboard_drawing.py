"""What the dashboard redraws, and when: its cost is the repainting, so what does not change is not repainted,
the numbers are drawn a few times a second, and nothing is drawn under another screen. Counted by hooks on
the widgets, not timed."""
from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace

from dashboard_fakes import fake_dashboard, refresh
from fake_monitor import FakeMonitor
from textual.app import App, ComposeResult

from ringmon.dashboard import NUMBERS_EVERY, QUIET_AFTER_S, RingmonApp
from ringmon.screens.help import HelpScreen
from ringmon.widgets.iface.panel import InterfacePanel
from ringmon.stats_history import REFRESH_HZ
from ringmon.widgets.ring.slot_map import SlotMap


def count_calls(obj: object, *names: str) -> Counter:
    """Wrap obj's methods `names` so that each call is counted (by name; for a refresh also 'refresh:whole',
    one of the whole widget, without regions, and 'refresh:layout', one that lays the screen out)."""
    calls: Counter = Counter()
    for name in names:
        method = getattr(obj, name)

        def counted(*args, _method=method, _name=name, **kwargs):
            calls[_name] += 1
            if _name == "refresh":
                calls["refresh:whole"] += not args
                calls["refresh:layout"] += bool(kwargs.get("layout"))
            return _method(*args, **kwargs)

        setattr(obj, name, counted)
    return calls


class SlotMapApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SlotMap("eth0")


def test_a_quiet_ring_repaints_nothing_and_a_moving_one_only_the_rows_that_changed():
    base = replace(FakeMonitor().stats()["eth0"], slot_count=8192, tail=100, head=110, consuming=100)

    async def main():
        async with SlotMapApp().run_test(size=(60, 20)) as pilot:
            slot_map = pilot.app.query_one(SlotMap)
            slot_map.show(base)
            await pilot.pause()
            calls = count_calls(slot_map, "refresh")
            for polls in range(5):  # counters that move on an idle ring: the picture does not
                slot_map.show(replace(base, polls=base.polls + polls + 1, sleeps=base.sleeps + polls + 1))
            assert calls["refresh"] == 0
            for step in range(1, 6):
                slot_map.show(replace(base, tail=base.tail + 3 * step, consuming=base.tail + 3 * step,
                                      head=base.head + 5 * step))
            assert calls["refresh"] >= 5, "each move repaints the rows it touched"
            assert calls["refresh:whole"] == 0, "not the whole map, and its title is not set again"

    asyncio.run(main())


def run_dashboard(scenario, fake: FakeMonitor | None = None) -> None:
    async def main():
        app = fake_dashboard(fake)
        async with app.run_test(size=(120, 40)) as pilot:
            await refresh(pilot, 20)
            panel = app.query_one(InterfacePanel)
            calls = count_calls(panel, "show", "show_numbers", "show_rates", "show_talkers")
            await scenario(app, pilot, calls)

    asyncio.run(main())


def test_the_ring_is_drawn_every_refresh_and_the_numbers_every_few():
    async def scenario(app, pilot, calls):
        await refresh(pilot, 4 * NUMBERS_EVERY)
        assert calls["show"] == 4 * NUMBERS_EVERY
        assert calls["show_numbers"] == calls["show_rates"] == 4

    run_dashboard(scenario)


def test_nothing_is_drawn_under_another_screen_and_everything_at_once_when_it_closes():
    async def scenario(app, pilot, calls):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await refresh(pilot, 3 * NUMBERS_EVERY)
        assert calls == Counter(), "the panel under the help screen is not drawn"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        assert (calls["show"], calls["show_numbers"], calls["show_rates"], calls["show_talkers"]) == (1, 1, 1, 1), \
            "drawn when it is back on top, before the next refresh"

    run_dashboard(scenario)


class FallsQuiet(FakeMonitor):
    """The fake's traffic until `quiet` is set, then none: only the consumers' polls, sleeps and wake-ups go on."""

    def __init__(self) -> None:
        super().__init__()
        self.quiet = False
        self._last: dict | None = None

    def stats(self) -> dict:
        if not self.quiet or self._last is None:
            self._last = super().stats()
            return self._last
        self._steps += 1  # the clock goes on
        return {key: replace(stats, polls=stats.polls + self._steps, sleeps=stats.sleeps + self._steps,
                             wakeups=stats.wakeups + self._steps, spin_slept=stats.spin_slept + self._steps)
                for key, stats in self._last.items()}


def test_a_quiet_dashboard_refreshes_everything_each_time_until_traffic_or_a_key_wakes_it():
    fake = FallsQuiet()

    async def scenario(app: RingmonApp, pilot, calls):
        fake.quiet = True
        settle = int(QUIET_AFTER_S * REFRESH_HZ)
        await refresh(pilot, settle - 1)
        assert not app.quiet, "not before every number has settled"
        calls.clear()
        await refresh(pilot, 3)
        assert app.quiet
        # refreshed QUIET_INTERVAL_S apart now: each one draws the numbers, talkers and facts too
        assert (calls["show_numbers"], calls["show_talkers"]) == (3, 3)
        await pilot.press("z")  # any key
        assert not app.quiet
        await refresh(pilot, settle + 1)
        assert app.quiet
        fake.quiet = False
        await refresh(pilot)
        assert not app.quiet, "traffic wakes it at the first refresh that sees it"

    run_dashboard(scenario, fake)


def test_a_hidden_panel_updated_once_a_second_never_lays_the_screen_out():
    async def main():
        app = fake_dashboard()
        async with app.run_test(size=(120, 40)) as pilot:
            await refresh(pilot, 20)
            hidden = app.panels["eth1"].facts  # eth0's tab is the one shown
            shown_before = hidden._shown
            calls = count_calls(hidden, "refresh")
            await refresh(pilot, 3 * REFRESH_HZ)
            assert hidden._shown != shown_before and calls["refresh"] >= 1, "its facts did change"
            assert calls["refresh:layout"] == 0, "laid out when its tab is shown, not each time it changes"

    asyncio.run(main())


def test_a_refresh_that_ticks_while_the_app_tears_its_screens_down_draws_nothing_and_raises_nothing():
    """The refresh timer can fire once more after the screens are gone (seen in CI as ScreenStackError)."""
    app = fake_dashboard()

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await refresh(pilot)
        assert not app.screen_stack
        app.refresh_from_capture()

    asyncio.run(main())
