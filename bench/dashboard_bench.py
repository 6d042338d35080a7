#!/usr/bin/env python3
"""Runs the dashboard in a terminal (a detached tmux session of 120x40) on a flooded veth pair and
measures whether capture keeps up while the UI draws, what the UI costs at a low and at the top rate,
and how late its event loop runs.

    python bench/dashboard_bench.py [--seconds S] [--rate 10k,max] [--repeats N]

Needs root and tmux; network, generators and CPU accounting are bench/capture_bench.py's.
See bench/README.md for what each column means.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import capture_bench as cb

TERMINAL_COLUMNS, TERMINAL_LINES = 120, 40
# No status line: the dashboard gets the whole 120x40. A dead pane stays, so its last words can be read.
TMUX_CONFIG = "set -g status off\nset -g remain-on-exit on\n"
SESSION = "dashboard"
# The dashboard's C threads (named by role in src/ringcore/src); every other thread of its process is the
# UI: the event loop and Textual's input and output threads.
CAPTURE_THREADS = frozenset({"rc-capture", "rc-drain"})
# After the socket is bound: the first screens are drawn before anything is measured.
UI_SETTLE_S = 1.0
# After the flood, before the final statistics: a part-filled kernel block is handed over after 20 ms,
# and the drain polls every 1 ms.
DRAIN_SETTLE_S = 0.5
LAG_TARGET_MS = 50.0
FLAT_UI_CPU_RATIO = 1.5


class Tmux:
    """A private tmux server, the benchmark's child (-D: not a daemon), so that it, and the dashboard in
    it, end with the benchmark however it ends: the server hangs up on its panes when it exits."""

    def __init__(self, workdir: Path):
        self.socket = workdir / "tmux.sock"
        self.config = workdir / "tmux.conf"
        self.server: subprocess.Popen | None = None

    def __enter__(self) -> Tmux:
        self.config.write_text(TMUX_CONFIG)
        self.server = subprocess.Popen(["tmux", "-S", str(self.socket), "-f", str(self.config), "-D"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True, start_new_session=True, preexec_fn=cb._die_with_parent)
        deadline = time.monotonic() + 5
        while not self.socket.exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise cb.BenchError(f"tmux server did not start: {self.server.stderr.read().strip()[-300:]}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server and self.server.poll() is None:
            self.server.terminate()
            self.server.wait()

    def __call__(self, *args: str, check: bool = True) -> str:
        # -N: a client never starts a server of its own, only talks to this one
        return cb.run("tmux", "-N", "-S", str(self.socket), *args, check=check)


def pane_process_running(pid: int) -> bool:
    """Whether a pane's process still runs. A zombie has ended too: tmux can miss the SIGCHLD of a pane
    whose terminal closes as it exits (libutempter sets SIGCHLD to default while its helper runs, and the
    signal is lost), and then leaves the process unreaped until its next SIGCHLD."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class DashboardPane:
    """bench/dashboard_probe.py (the dashboard with a lag probe) on one interface, alone in a tmux
    session inside the interface's namespace."""

    def __init__(self, tmux: Tmux, pair: cb.VethPair, report: Path):
        self.tmux = tmux
        self.pair = pair
        self.report = report
        self.pid = 0

    def start(self) -> None:
        self.report.unlink(missing_ok=True)
        # with more than one word tmux execs the command, and `ip netns exec` execs python: the pane's
        # process is the dashboard itself
        self.pid = int(self.tmux(
            "new-session", "-d", "-s", SESSION, "-x", str(TERMINAL_COLUMNS), "-y", str(TERMINAL_LINES),
            "-P", "-F", "#{pane_pid}", "--", "ip", "netns", "exec", self.pair.receiver_ns, sys.executable,
            str(cb.BENCH_DIR / "dashboard_probe.py"), self.pair.receiver_if, str(self.report)))

    def running(self) -> bool:
        return pane_process_running(self.pid)

    def last_words(self) -> str:
        """The last lines on the dashboard's screen (a traceback or an error, once it has ended)."""
        screen = [line for line in self.tmux("capture-pane", "-p", "-S", "-", "-t", SESSION).splitlines()
                  if line.strip() and not line.startswith("Pane is dead")]
        return " | ".join(screen[-4:])

    def exit_reason(self) -> str | None:
        return None if self.running() else f"(its screen: {self.last_words()})"

    def cpu_s(self) -> tuple[float, float]:
        """CPU seconds so far of (the UI threads, the capture threads)."""
        try:
            by_name = cb.thread_cpu_s(self.pid)
        except FileNotFoundError:
            raise cb.BenchError(f"the dashboard ended during the run (its screen: {self.last_words()})") from None
        capture = sum(seconds for name, seconds in by_name.items() if name in CAPTURE_THREADS)
        return sum(by_name.values()) - capture, capture

    def stop(self, timeout_s: float = 15.0) -> dict:
        """SIGTERM, which ends the app as `q` does; returns the report the probe wrote on its way out."""
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.running():
            if time.monotonic() > deadline:
                raise cb.BenchError(f"the dashboard did not exit within {timeout_s:.0f} s of SIGTERM")
            time.sleep(0.05)
        if not self.report.exists():  # the probe writes it as the app ends
            raise cb.BenchError(f"the dashboard wrote no report; its screen: {self.last_words()}")
        return json.loads(self.report.read_text())

    def close(self) -> None:
        """Kill the session (tmux hangs up on the dashboard if it still runs) and wait for the process."""
        self.tmux("kill-session", "-t", SESSION, check=False)
        deadline = time.monotonic() + 5
        while self.pid and self.running():
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.05)


@dataclass
class DashboardRun:
    rate_pps: int | None
    generator_pps: float
    arrived: int  # received by the capture interface while the dashboard ran
    delivered: int
    kernel_drops: int
    ring_drops: int
    ui_cpu_pct: float  # of one core, over the flood
    capture_cpu_pct: float
    tick_ms: float  # the probe's interval
    wake_lags_ms: list[float]  # one per wake-up of the probe that fell due during the flood

    @property
    def captured_pct(self) -> float:
        return 100.0 * self.delivered / self.arrived if self.arrived else 0.0

    @property
    def tick_lags_ms(self) -> list[float]:
        """The lags of a timer that never skips a tick: a wake-up L late also stands for the ticks that
        fell due while the loop was busy, late by L - tick, L - 2 tick, ... So a stall weighs by its
        length (as for a keypress at a random moment), not as one sample."""
        return [lag - k * self.tick_ms for lag in self.wake_lags_ms
                for k in range(max(1, math.ceil(lag / self.tick_ms)))]


def run_once(tmux: Tmux, pair: cb.VethPair, gen: cb.Generator, workdir: Path, rate_pps: int | None,
             seconds: float) -> DashboardRun:
    pane = DashboardPane(tmux, pair, workdir / "dashboard.json")
    _, rx0 = pair.counters()  # before the dashboard plugs the interface: its counters start after this
    try:
        pane.start()
        cb.wait_until_capturing("the dashboard", pane.pid, pair, pane.exit_reason, timeout_s=30.0)
        time.sleep(UI_SETTLE_S)
        t0, (ui0, capture0) = time.monotonic(), pane.cpu_s()
        generator_pps = cb.flood(pair, gen, rate_pps, seconds)
        t1, (ui1, capture1) = time.monotonic(), pane.cpu_s()
        time.sleep(DRAIN_SETTLE_S)
        _, rx1 = pair.counters()
        report = pane.stop()
    finally:
        pane.close()
    # by when each wake-up fell due, so that a stall running past the end of the flood still counts
    wake_lags_ms = [1000 * lag for woke, lag in report["lag"] if t0 <= woke - lag <= t1]
    if not wake_lags_ms:
        raise cb.BenchError("the dashboard's event loop never woke the probe during the flood")
    stats = report["stats"][pair.receiver_if]
    return DashboardRun(rate_pps, generator_pps, rx1 - rx0, stats["delivered"], stats["kernel_drops"],
                        stats["ring_drops"], ui_cpu_pct=100 * (ui1 - ui0) / (t1 - t0),
                        capture_cpu_pct=100 * (capture1 - capture0) / (t1 - t0), tick_ms=1000 * report["tick_s"],
                        wake_lags_ms=wake_lags_ms)


# -- report ------------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


@dataclass
class RateRow:
    """One rate: medians over the repeats; lags over the ticks of all the repeats together."""

    rate_pps: int | None
    generator_pps: float
    arrived: float
    captured_pct: float
    kernel_drops: float
    ring_drops: float
    ui_cpu_pct: float
    capture_cpu_pct: float
    process_cpu_pct: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    wake_p99_ms: float
    all_captured: bool  # in every repeat


def summarize(runs: list[DashboardRun]) -> list[RateRow]:
    med = statistics.median
    rows = []
    for rate_pps in dict.fromkeys(r.rate_pps for r in runs):
        group = [r for r in runs if r.rate_pps == rate_pps]
        lags = [lag for r in group for lag in r.tick_lags_ms]
        rows.append(RateRow(
            rate_pps, med(r.generator_pps for r in group), med(r.arrived for r in group),
            med(r.captured_pct for r in group), med(r.kernel_drops for r in group), med(r.ring_drops for r in group),
            med(r.ui_cpu_pct for r in group), med(r.capture_cpu_pct for r in group),
            med(r.ui_cpu_pct + r.capture_cpu_pct for r in group),
            percentile(lags, 50), percentile(lags, 99), max(lags),
            percentile([lag for r in group for lag in r.wake_lags_ms], 99),
            all_captured=all(r.delivered == r.arrived for r in group),
        ))
    return rows


def print_table(rows: list[RateRow]) -> None:
    head = (f"{'rate':>5} {'gen pps':>9} {'arrived':>10} {'captured':>9} {'kern drop':>9} {'ring drop':>9} "
            f"{'UI CPU':>7} {'C threads':>9} {'process':>7} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'wake p99':>8}")
    print(head)
    print("-" * len(head))
    for row in rows:
        print(f"{cb.rate_label(row.rate_pps):>5} {cb._num(row.generator_pps):>9} {cb._num(row.arrived):>10} "
              f"{row.captured_pct:>8.2f}% {cb._num(row.kernel_drops):>9} {cb._num(row.ring_drops):>9} "
              f"{row.ui_cpu_pct:>6.1f}% {row.capture_cpu_pct:>8.1f}% {row.process_cpu_pct:>6.1f}% "
              f"{row.lag_p50_ms:>6.1f}ms {row.lag_p99_ms:>6.1f}ms {row.lag_max_ms:>6.1f}ms {row.wake_p99_ms:>6.1f}ms")


def print_targets(rows: list[RateRow], repeats: int) -> bool:
    """The issue's three targets; one that the chosen rates cannot judge is not passed."""
    top = next((r for r in rows if r.rate_pps is None), None)
    low = min((r for r in rows if r.rate_pps is not None), key=lambda r: r.rate_pps, default=None)
    print(f"targets ({repeats} repeat(s) per rate; CPU in % of one core):")
    verdicts = []

    def judge(what: str, ok: bool | None, detail: str) -> None:
        verdicts.append(bool(ok))
        print(f"  {what:<44} {'not judged' if ok is None else 'PASS' if ok else 'MISS'}  ({detail})")

    if top is None:
        judge("100% captured at max in every repeat", None, "no run at max")
    else:
        judge("100% captured at max in every repeat", top.all_captured, f"median {top.captured_pct:.2f}%")
    if top is None or low is None:
        judge(f"UI CPU flat: max <= {FLAT_UI_CPU_RATIO}x the lowest rate's", None, "needs max and a fixed rate")
    else:
        ratio = top.ui_cpu_pct / low.ui_cpu_pct if low.ui_cpu_pct else math.inf
        judge(f"UI CPU flat: max <= {FLAT_UI_CPU_RATIO}x {cb.rate_label(low.rate_pps)}'s", ratio <= FLAT_UI_CPU_RATIO,
              f"{top.ui_cpu_pct:.1f}% at max, {low.ui_cpu_pct:.1f}% at {cb.rate_label(low.rate_pps)}: {ratio:.2f}x")
    worst = max(rows, key=lambda r: r.lag_p99_ms)
    judge(f"event-loop lag p99 < {LAG_TARGET_MS:g} ms at every rate", worst.lag_p99_ms < LAG_TARGET_MS,
          f"worst {worst.lag_p99_ms:.1f} ms, at {cb.rate_label(worst.rate_pps)}")
    return all(verdicts)


# -- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    cb.add_run_options(parser, "10k,max", "rate")
    args, rates = cb.parse_run_options(parser, argv)
    problem = cb.setup_error(("ip", "tmux", "taskset"))
    if problem:
        print(f"dashboard_bench: {problem}", file=sys.stderr)
        return 2
    cb.unwind_on_signals()  # the Tmux and VethPair contexts then remove the dashboard, tmux and namespaces

    workdir = Path(tempfile.mkdtemp(prefix="rmb-"))
    runs: list[DashboardRun] = []
    try:
        with cb.VethPair() as pair, Tmux(workdir) as tmux:
            gen = cb.choose_generator(pair, workdir, args.generator)
            print(f"dashboard (`ringmon -i {pair.receiver_if}`, default options) in tmux {TERMINAL_COLUMNS}x"
                  f"{TERMINAL_LINES}, in {pair.receiver_ns}; veth {pair.sender_if} -> {pair.receiver_if}, "
                  f"{cb.FRAME_BYTES}-byte UDP frames from {gen.name} on CPU {cb.SENDER_CPU}; "
                  f"{args.seconds:g} s per run, {args.repeats} repeat(s)", flush=True)
            for rate_pps in rates:
                for repeat in range(args.repeats):
                    run = run_once(tmux, pair, gen, workdir, rate_pps, args.seconds)
                    runs.append(run)
                    print(f"  {cb.rate_label(rate_pps):>5} #{repeat + 1} gen {run.generator_pps:>9,.0f} pps  "
                          f"arrived {run.arrived:>10,}  delivered {run.delivered:>10,}  "
                          f"UI {run.ui_cpu_pct:.1f}%  C threads {run.capture_cpu_pct:.1f}%  "
                          f"lag p99 {percentile(run.tick_lags_ms, 99):.1f} ms, max {max(run.wake_lags_ms):.1f} ms, "
                          f"wake p99 {percentile(run.wake_lags_ms, 99):.1f} ms", flush=True)
    except KeyboardInterrupt:
        print("dashboard_bench: interrupted; dashboard, tmux and namespaces removed", file=sys.stderr)
        return 130
    except cb.BenchError as err:
        print(f"dashboard_bench: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    rows = summarize(runs)
    print_table(rows)
    print()
    return 0 if print_targets(rows, args.repeats) else 3


if __name__ == "__main__":
    sys.exit(main())
