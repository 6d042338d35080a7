"""The slot map draws runs of equal cells at once: every cell must still show its own kind."""
from __future__ import annotations

import asyncio
import random
from dataclasses import replace

from fake_monitor import FakeMonitor
from textual.app import App, ComposeResult

from ringmon.widgets.ring.slot_map import GLYPHS, SlotMap


class SlotMapApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SlotMap("eth0")


def test_every_cell_of_a_big_ring_shows_its_own_kind_wherever_the_positions_are():
    base = FakeMonitor().stats()["eth0"]
    rng = random.Random(7)

    async def main():
        async with SlotMapApp().run_test(size=(60, 20)) as pilot:
            slot_map = pilot.app.query_one(SlotMap)
            slot_map.focus()
            for _ in range(40):
                count = rng.choice([8192, 1000, 64])
                tail = rng.randrange(10 * count)
                used = rng.choice([0, 1, rng.randrange(count), count])
                stats = replace(base, slot_count=count, tail=tail, head=tail + used,
                                consuming=tail + rng.randrange(used + 1))
                slot_map.show(stats)
                slot_map.cursor = rng.randrange(count)
                await pilot.pause()
                cell_width, cell_height = slot_map._cell_size
                columns = slot_map._columns
                for y in range(slot_map.scrollable_content_region.height):
                    line = slot_map.scroll_offset.y + y
                    row = line // cell_height
                    if (cell_height > 1 and line % cell_height == cell_height - 1) or row * columns >= count:
                        continue
                    cells = range(row * columns, min((row + 1) * columns, count))
                    expected = "".join((GLYPHS[slot_map.cell_kind(i)] * max(1, cell_width - 1)).ljust(cell_width)
                                       for i in cells)
                    assert slot_map.render_line(y).text.rstrip() == expected.rstrip(), (stats, y)

    asyncio.run(main())
