"""The dashboard as `ringmon -i IFACE` runs it, plus an event-loop lag probe, for bench/dashboard_bench.py.
Run on a terminal, inside the namespace that holds IFACE:

    python bench/dashboard_probe.py IFACE REPORT.json [--no-lag-probe]

SIGTERM ends it as `q` does; on its way out it writes the lag samples and IFACE's last statistics
to REPORT.json. `--no-lag-probe`: no probe task, so that the idle dashboard's own wake-ups and CPU are
measured alone (the probe wakes the event loop 100 times a second).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import ClassVar

from ringmon import cli
from ringmon.dashboard import PlugRequest, RingmonApp, run_plugged
from ringcore.api import CaptureOptions, StoreOptions

# How often the probe asks the event loop to wake it; its lag is how much later the wake-up comes.
TICK_S = 0.01


class ProbedDashboard(RingmonApp):
    report_path: ClassVar[Path]  # run_plugged builds the app itself: the path and the switch come with the class
    probe_lag: ClassVar[bool] = True

    def on_mount(self) -> None:
        # no super(): Textual runs RingmonApp.on_mount itself (a handler runs for each class of the
        # app), and a second call would start a second 10 Hz refresh
        self.lag_samples: list[tuple[float, float]] = []  # (time.monotonic() at wake-up, lag in s)
        if self.probe_lag:
            self._lag_probe = asyncio.get_running_loop().create_task(self._measure_lag())  # held: tasks are weak refs

    async def _measure_lag(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(TICK_S)
            woke = time.monotonic()
            self.lag_samples.append((woke, woke - asked - TICK_S))

    def on_unmount(self) -> None:
        """The app's last event, before run_plugged closes the capture session."""
        stats = {ifname: dataclasses.asdict(snapshot) for ifname, snapshot in self.capture.stats().items()}
        self.report_path.write_text(json.dumps({"tick_s": TICK_S, "lag": self.lag_samples, "stats": stats}))


def dashboard_options(ifname: str) -> tuple[CaptureOptions, StoreOptions | None]:
    """What `ringmon -i IFACE` plugs with and stores into: the dashboard parser's defaults (None is the
    dashboard's entry)."""
    make_parser, *_ = cli.COMMANDS[None]
    args = make_parser().parse_args(["-i", ifname])
    return cli.capture_options(args), cli.store_options(args)


def main() -> int:
    ifname, ProbedDashboard.report_path = sys.argv[1], Path(sys.argv[2])
    ProbedDashboard.probe_lag = "--no-lag-probe" not in sys.argv[3:]
    options, store = dashboard_options(ifname)
    return run_plugged([PlugRequest(ifname, options)], plug_options=options, app_class=ProbedDashboard, store=store)


if __name__ == "__main__":
    sys.exit(main())
