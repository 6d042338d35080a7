"""Top talkers on the fake monitor: each direction on its own line named by its addresses, bytes beside rates over
iftop's 2 s / 10 s / 40 s, the protocol, and more conversations when the panel has room for them."""
from __future__ import annotations

import asyncio

from dashboard_fakes import fake_dashboard, warm_up
from fake_monitor import CONVERSATIONS, FakeMonitor
from screen_text import panel_shown

from ringmon.formatting import si


def talkers_shown(size: tuple[int, int]) -> tuple[str, object]:
    """The eth0 panel's top talkers at `size`, and the fake's top talkers they were drawn from."""
    async def main():
        fake = FakeMonitor()
        app = fake_dashboard(fake)
        async with app.run_test(size=size) as pilot:
            await warm_up(pilot)
            return panel_shown(app, "eth0", "TopTalkersView"), fake.top_talkers("eth0", len(CONVERSATIONS))

    return asyncio.run(main())


def numbers_of(line: str) -> list[str]:
    return line.split()[-4:]


def test_a_wide_panel_names_each_direction_by_its_addresses_with_bytes_and_rates_over_2_10_and_40_s():
    text, top = talkers_shown((200, 60))
    lines = text.splitlines()
    assert lines[0].split()[-5:] == ["bytes", "b/s", "2s", "10s", "40s"]
    first = top.talkers[0]
    a_to_b = next(line for line in lines if f"{first.a} → {first.b} {first.protocol}" in line)
    b_to_a = next(line for line in lines if f"{first.a} ← {first.b} {first.protocol}" in line)
    for line, total, spans in ((a_to_b, first.bytes_ab, first.spans_ab), (b_to_a, first.bytes_ba, first.spans_ba)):
        assert numbers_of(line) == [f"{si(total)}B", *(si(top.rate_bps(span_bytes, span))
                                                       for span, span_bytes in enumerate(spans))], line
    # every conversation fits: four, each way, and the rest
    assert sum("→" in line or "←" in line for line in lines) == 2 * len(CONVERSATIONS)
    assert "other" in lines[-1] and numbers_of(lines[-1])[0] == f"{si(top.rest_bytes)}B"


def test_a_narrow_panel_puts_the_pair_over_its_two_directions_and_shows_fewer_conversations():
    text, top = talkers_shown((120, 40))
    lines = text.splitlines()
    first = top.talkers[0]
    pair = lines.index(next(line for line in lines if f"{first.a} ⇄ {first.b}" in line))
    assert first.protocol in lines[pair]
    # as iftop's => and <=: from the address on the left, from the one on the right
    assert lines[pair + 1].split()[:2] == ["→", f"{si(first.bytes_ab)}B"]
    assert lines[pair + 2].split()[:2] == ["←", f"{si(first.bytes_ba)}B"]
    wide, _ = talkers_shown((200, 60))
    shown_here = sum("⇄" in line for line in lines)
    assert 0 < shown_here < sum("→" in line for line in wide.splitlines()), "a taller panel shows more"
