#!/usr/bin/env python3
"""How fast the packet list finds text: `summarize()` (the summary walk, no tree) against the full dissection on
the first packets of a capture, then a find for a text no packet holds over the whole file, through the real
screen driven by Textual's Pilot (`/`, the text, enter; the status says when it is done).

    python bench/packet_mix.py --count 1000000 /tmp/mix.pcap   # (bench/packet_mix.py on the read-bench branch)
    python bench/find_bench.py /tmp/mix.pcap [--summaries 100000] [--no-find]

Prints packets per second of CPU time (this process's, all threads: the machine may be busy with others); the
find's includes the app's own work meanwhile (progress messages, the status line) and its wall time is shown."""
from __future__ import annotations

import argparse
import asyncio
import time

from ringcore.store import MAX_BATCH, PacketStore
from ringmon.read_app import ReadApp
from ringmon.decode import dissect
from ringmon.decode.summary import summarize

ABSENT = "no packet says this"


def summary_rates(store: PacketStore, count: int) -> None:
    packets = []
    while len(packets) < count:
        batch = store.packets(len(packets), min(MAX_BATCH, count - len(packets)))
        if not batch:
            break
        packets += batch
    interfaces = store.interfaces()
    started = time.process_time()
    for packet in packets:
        summarize(packet.data, packet, interfaces[packet.interface].name, interfaces[packet.interface].linktype)
    summary_s = time.process_time() - started
    started = time.process_time()
    for packet in packets:
        dissect(packet.data, interfaces[packet.interface].linktype, packet.wirelen)
    tree_s = time.process_time() - started
    print(f"summarize (no tree): {len(packets) / summary_s:,.0f} packets/s; full dissection: "
          f"{len(packets) / tree_s:,.0f} packets/s ({len(packets):,} packets)")


async def find_rate(store: PacketStore, name: str) -> None:
    app = ReadApp(store, name)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        total = store.progress().count
        await pilot.press("slash")
        await pilot.pause()
        app.screen.query_one("Input").value = ABSENT
        started, wall_started = time.process_time(), time.perf_counter()
        await pilot.press("enter")
        await pilot.pause()
        while screen.find_state is not None or any(worker.group == "find" for worker in screen.workers):
            await asyncio.sleep(0.05)
        elapsed, wall = time.process_time() - started, time.perf_counter() - wall_started
        print(f"find over {total:,} packets: {elapsed:.1f} s of CPU ({wall:.1f} s of wall time), "
              f"{total / elapsed:,.0f} packets/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--summaries", type=int, default=100_000, help="packets summarized for the first measure")
    parser.add_argument("--no-find", action="store_true", help="skip the find over the whole file")
    args = parser.parse_args()
    with PacketStore.open_file(args.file) as store:
        store.wait()
        summary_rates(store, args.summaries)
        if not args.no_find:
            asyncio.run(find_rate(store, args.file))


if __name__ == "__main__":
    main()
