"""Snapshots of the main screens on the deterministic FakeMonitor (pytest-textual-snapshot).

Regenerate after an intended change: python -m pytest tests/app/test_dashboard_snapshots.py --snapshot-update
"""
from __future__ import annotations

import pytest
from dashboard_fakes import fake_dashboard, refresh, warm_up

from ringmon.stats_history import REFRESH_HZ


SIZES = [(60, 18), (80, 24), (120, 40), (200, 60)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{width}x{height}" for width, height in SIZES])
def test_dashboard_under_load_at_each_size_cuts_nothing(snap_compare, size):
    """Two columns from 80 columns on, one below; the footer's keys shortened (two lines at 80), none cut off."""
    assert snap_compare(fake_dashboard(), terminal_size=size, run_before=warm_up)


@pytest.mark.parametrize("size", SIZES[:2], ids=[f"{width}x{height}" for width, height in SIZES[:2]])
def test_statistics_out_of_sight_scroll_into_view_with_s_and_end(snap_compare, size):
    """What a small terminal cannot hold at once is reached from the keyboard: the last section, facts and NIC."""
    async def scroll_to_the_end(pilot):
        await warm_up(pilot)
        await pilot.press("s", "end")
        await pilot.wait_for_scheduled_animations()  # the scroll to the end is animated
        # a second on: sections laid out out of sight (Textual sizes them once in view) are drawn again at 1 Hz
        await refresh(pilot, REFRESH_HZ)

    assert snap_compare(fake_dashboard(), terminal_size=size, run_before=scroll_to_the_end)


def test_slot_inspector_shows_header_decode_and_escaped_bytes(snap_compare):
    async def open_inspector(pilot):
        await warm_up(pilot)
        await pilot.press("right", "right", "enter")

    assert snap_compare(fake_dashboard(), terminal_size=(120, 40), run_before=open_inspector)


def test_help_lists_keys_of_every_part(snap_compare):
    async def open_help(pilot):
        await warm_up(pilot)
        await pilot.press("question_mark")

    assert snap_compare(fake_dashboard(), terminal_size=(100, 40), run_before=open_help)
