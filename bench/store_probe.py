"""`ringmon capture -w FILE` with the dashboard's packet store on or off, for bench/capture_bench.py --store: the
same capture options and writer as `ringmon capture`, the drains also appending every packet to a spool of
--spool-size bytes (0: no store). SIGINT ends it; it then writes each interface's statistics to --stats-json.

    python bench/store_probe.py --spool-size 1G --netns NS -i IFACE -w /dev/null --stats-json PATH
"""
from __future__ import annotations

import dataclasses
import enum
import json
import signal
import sys
import threading
from pathlib import Path

from ringcore import Monitor, StoreOptions
from ringmon import cli


def main() -> int:
    make_parser, *_ = cli.COMMANDS["capture"]
    parser = make_parser()
    parser.add_argument("--spool-size", type=cli.size, default=0, help="the store's spool (0: no store)")
    args = parser.parse_args()
    options = cli.capture_options(args)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    store = StoreOptions(spool_bytes=args.spool_size) if args.spool_size else None
    monitor = Monitor(drain=True, store=store)
    try:
        monitor.start_writing(args.write_file, args.format)
        for ifname in args.interfaces:
            monitor.plug(ifname, options, netns=args.netns)
        while not stop.wait(0.1):
            pass
        monitor.stop()
        stats = monitor.stats()
        monitor.stop_writing()
    finally:
        monitor.close()
    document = {key: {name: value.name.lower() if isinstance(value, enum.Enum) else value
                      for name, value in dataclasses.asdict(snapshot).items()}
                for key, snapshot in stats.items()}
    Path(args.stats_json).write_text(json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
