"""Snapshots of the main screens on the deterministic FakeMonitor (pytest-textual-snapshot).

Regenerate after an intended change: python -m pytest tests/app/test_dashboard_snapshots.py --snapshot-update
"""
from __future__ import annotations

from dashboard_fakes import fake_dashboard, warm_up


def test_dashboard_under_load_at_120x40(snap_compare):
    assert snap_compare(fake_dashboard(), terminal_size=(120, 40), run_before=warm_up)


def test_dashboard_fits_80x24(snap_compare):
    assert snap_compare(fake_dashboard(), terminal_size=(80, 24), run_before=warm_up)


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
