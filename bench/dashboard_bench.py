#!/usr/bin/env python3
"""Runs the dashboard in a terminal (a detached tmux session, 120x40 by default) on a quiet and on a
flooded veth pair and measures whether capture keeps up while the UI draws, what the UI threads cost
(apart from the C capture threads) with no traffic, at a low and at the top rate, how often they wake,
and how late the event loop runs.

    python bench/dashboard_bench.py [--seconds S] [--rate idle,10k,max] [--repeats N] [--terminal 120x40,80x24]
                                    [--json OUT]

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
from dataclasses import asdict, dataclass
from pathlib import Path

import capture_bench as cb
from ringmon.dashboard import QUIET_AFTER_S

DEFAULT_TERMINALS = "120x40"
# No status line: the dashboard gets the whole terminal. A dead pane stays, so its last words can be read.
TMUX_CONFIG = "set -g status off\nset -g remain-on-exit on\n"
SESSION = "dashboard"
# The dashboard's C threads (named by role in src/ringcore/src); every other thread of its process is the
# UI: the event loop and Textual's input and output threads.
CAPTURE_THREADS = frozenset({"rc-capture", "rc-drain"})
# After the socket is bound: the first screens are drawn before anything is measured. With no traffic, also
# until the dashboard has found the ring quiet and slowed down: an idle host is idle for longer than a run.
UI_SETTLE_S = 1.0
IDLE_SETTLE_S = UI_SETTLE_S + QUIET_AFTER_S + 1.0
# After the flood, before the final statistics: a part-filled kernel block is handed over after 20 ms,
# and the drain polls every 1 ms.
DRAIN_SETTLE_S = 0.5
# Issue 12's targets, in % of one core and ms: htop-class.
IDLE_UI_CPU_TARGET_PCT = 3.0
MAX_UI_CPU_TARGET_PCT = 10.0
LAG_TARGET_MS = 20.0


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

    def __init__(self, tmux: Tmux, pair: cb.VethPair, report: Path, terminal: tuple[int, int]):
        self.tmux = tmux
        self.pair = pair
        self.report = report
        self.terminal = terminal
        self.pid = 0

    def start(self, probe_lag: bool) -> None:
        self.report.unlink(missing_ok=True)
        columns, lines = self.terminal
        # with more than one word tmux execs the command, and `ip netns exec` execs python: the pane's
        # process is the dashboard itself
        self.pid = int(self.tmux(
            "new-session", "-d", "-s", SESSION, "-x", str(columns), "-y", str(lines),
            "-P", "-F", "#{pane_pid}", "--", "ip", "netns", "exec", self.pair.receiver_ns, sys.executable,
            str(cb.BENCH_DIR / "dashboard_probe.py"), self.pair.receiver_if, str(self.report),
            *(() if probe_lag else ("--no-lag-probe",))))

    def running(self) -> bool:
        return pane_process_running(self.pid)

    def last_words(self) -> str:
        """The last lines on the dashboard's screen (a traceback or an error, once it has ended)."""
        screen = [line for line in self.tmux("capture-pane", "-p", "-S", "-", "-t", SESSION).splitlines()
                  if line.strip() and not line.startswith("Pane is dead")]
        return " | ".join(screen[-4:])

    def exit_reason(self) -> str | None:
        return None if self.running() else f"(its screen: {self.last_words()})"

    def usage(self) -> Usage:
        """CPU seconds and wake-ups so far of the UI threads and of the capture threads."""
        try:
            by_name = cb.thread_cpu_s(self.pid)
            wakeups_by_name = thread_wakeups(self.pid)
        except FileNotFoundError:
            raise cb.BenchError(f"the dashboard ended during the run (its screen: {self.last_words()})") from None
        capture = sum(seconds for name, seconds in by_name.items() if name in CAPTURE_THREADS)
        ui_wakeups = sum(count for name, count in wakeups_by_name.items() if name not in CAPTURE_THREADS)
        return Usage(sum(by_name.values()) - capture, capture, ui_wakeups)

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


def thread_wakeups(pid: int) -> dict[str, int]:
    """How often each thread of a process went to sleep (and so was woken), summed by thread name: its
    voluntary context switches. A preemption (involuntary) is not a wake-up."""
    by_name: dict[str, int] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
            task = Path(f"/proc/{pid}/task/{tid}")
            status = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
            name = status["Name"].strip()
            by_name[name] = by_name.get(name, 0) + int(status["voluntary_ctxt_switches"])
    return by_name


@dataclass
class Usage:
    """What a dashboard has used so far."""

    ui_cpu_s: float  # every thread not in CAPTURE_THREADS: the event loop, Textual's input and writer threads
    capture_cpu_s: float
    ui_wakeups: int


@dataclass
class DashboardRun:
    terminal: str  # "120x40"
    rate_pps: int | None  # IDLE: no traffic
    generator_pps: float
    arrived: int  # received by the capture interface while the dashboard ran
    delivered: int
    kernel_drops: int
    ring_drops: int
    ui_cpu_pct: float  # of one core, over the flood (or the idle time)
    capture_cpu_pct: float
    ui_wakeups_ps: float  # of the UI threads, the probe's own not counted
    tick_ms: float  # the probe's interval
    wake_lags_ms: list[float]  # one per wake-up of the probe that fell due during the flood; none when idle

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


def run_once(tmux: Tmux, pair: cb.VethPair, gen: cb.Generator, workdir: Path, terminal: tuple[int, int],
             rate_pps: int | None, seconds: float) -> DashboardRun:
    """One dashboard, from start to exit; idle (rate IDLE) without the lag probe, whose 100 wake-ups a
    second would be most of an idle dashboard's."""
    idle = rate_pps == cb.IDLE
    pane = DashboardPane(tmux, pair, workdir / "dashboard.json", terminal)
    _, rx0 = pair.counters()  # before the dashboard plugs the interface: its counters start after this
    try:
        pane.start(probe_lag=not idle)
        cb.wait_until_capturing("the dashboard", pane.pid, pair, pane.exit_reason, timeout_s=30.0)
        time.sleep(IDLE_SETTLE_S if idle else UI_SETTLE_S)
        t0, used0 = time.monotonic(), pane.usage()
        if idle:
            time.sleep(seconds)
            generator_pps = 0.0
        else:
            generator_pps = cb.flood(pair, gen, rate_pps, seconds)
        t1, used1 = time.monotonic(), pane.usage()
        time.sleep(DRAIN_SETTLE_S)
        _, rx1 = pair.counters()
        report = pane.stop()
    finally:
        pane.close()
    # by when each wake-up fell due, so that a stall running past the end of the flood still counts
    wake_lags_ms = [1000 * lag for woke, lag in report["lag"] if t0 <= woke - lag <= t1]
    if not idle and not wake_lags_ms:
        raise cb.BenchError("the dashboard's event loop never woke the probe during the flood")
    probe_wakeups = sum(1 for woke, _ in report["lag"] if t0 <= woke <= t1)
    stats = report["stats"][pair.receiver_if]
    elapsed = t1 - t0
    return DashboardRun(
        "x".join(map(str, terminal)), rate_pps, generator_pps, rx1 - rx0, stats["delivered"], stats["kernel_drops"],
        stats["ring_drops"], ui_cpu_pct=100 * (used1.ui_cpu_s - used0.ui_cpu_s) / elapsed,
        capture_cpu_pct=100 * (used1.capture_cpu_s - used0.capture_cpu_s) / elapsed,
        ui_wakeups_ps=max(0, used1.ui_wakeups - used0.ui_wakeups - probe_wakeups) / elapsed,
        tick_ms=1000 * report["tick_s"], wake_lags_ms=wake_lags_ms)


# -- report ------------------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _p(values: list[float], pct: float) -> float | None:
    return percentile(values, pct) if values else None


@dataclass
class RateRow:
    """One terminal and rate: medians over the repeats; lags over the ticks of all the repeats together
    (None when idle: no probe ran)."""

    terminal: str
    rate_pps: int | None
    generator_pps: float
    arrived: float
    captured_pct: float
    kernel_drops: float
    ring_drops: float
    ui_cpu_pct: float
    capture_cpu_pct: float
    process_cpu_pct: float
    ui_wakeups_ps: float
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    wake_p99_ms: float | None
    all_captured: bool  # in every repeat


def summarize(runs: list[DashboardRun]) -> list[RateRow]:
    med = statistics.median
    rows = []
    for terminal, rate_pps in dict.fromkeys((r.terminal, r.rate_pps) for r in runs):
        group = [r for r in runs if (r.terminal, r.rate_pps) == (terminal, rate_pps)]
        lags = [lag for r in group for lag in r.tick_lags_ms]
        rows.append(RateRow(
            terminal, rate_pps, med(r.generator_pps for r in group), med(r.arrived for r in group),
            med(r.captured_pct for r in group), med(r.kernel_drops for r in group), med(r.ring_drops for r in group),
            med(r.ui_cpu_pct for r in group), med(r.capture_cpu_pct for r in group),
            med(r.ui_cpu_pct + r.capture_cpu_pct for r in group), med(r.ui_wakeups_ps for r in group),
            _p(lags, 50), _p(lags, 99), max(lags, default=None),
            _p([lag for r in group for lag in r.wake_lags_ms], 99),
            all_captured=all(r.delivered == r.arrived for r in group),
        ))
    return rows


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}ms"


def print_table(rows: list[RateRow]) -> None:
    head = (f"{'term':>6} {'rate':>5} {'gen pps':>9} {'arrived':>10} {'captured':>9} {'kern drop':>9} {'ring drop':>9} "
            f"{'UI CPU':>7} {'C threads':>9} {'process':>7} {'UI wakes/s':>10} "
            f"{'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'wake p99':>8}")
    print(head)
    print("-" * len(head))
    for row in rows:
        captured = "—" if row.rate_pps == cb.IDLE else f"{row.captured_pct:.2f}%"
        print(f"{row.terminal:>6} {cb.rate_label(row.rate_pps):>5} {cb._num(row.generator_pps):>9} "
              f"{cb._num(row.arrived):>10} {captured:>9} {cb._num(row.kernel_drops):>9} {cb._num(row.ring_drops):>9} "
              f"{row.ui_cpu_pct:>6.1f}% {row.capture_cpu_pct:>8.1f}% {row.process_cpu_pct:>6.1f}% "
              f"{row.ui_wakeups_ps:>10.0f} {_ms(row.lag_p50_ms):>8} {_ms(row.lag_p99_ms):>8} {_ms(row.lag_max_ms):>8} "
              f"{_ms(row.wake_p99_ms):>8}")


def print_targets(rows: list[RateRow], repeats: int) -> bool:
    """Issue 12's targets (and 100 % captured with the UI running), per terminal; one that the chosen rates
    cannot judge is not passed."""
    print(f"targets ({repeats} repeat(s) per rate; CPU in % of one core):")
    verdicts = []

    def judge(what: str, ok: bool | None, detail: str) -> None:
        verdicts.append(bool(ok))
        print(f"  {what:<52} {'not judged' if ok is None else 'PASS' if ok else 'MISS'}  ({detail})")

    for terminal in dict.fromkeys(r.terminal for r in rows):
        own = [r for r in rows if r.terminal == terminal]
        top = next((r for r in own if r.rate_pps is None), None)
        idle = next((r for r in own if r.rate_pps == cb.IDLE), None)
        if top is None:
            judge(f"{terminal}: 100% captured at max in every repeat", None, "no run at max")
            judge(f"{terminal}: UI CPU at max <= {MAX_UI_CPU_TARGET_PCT:g}%", None, "no run at max")
        else:
            judge(f"{terminal}: 100% captured at max in every repeat", top.all_captured,
                  f"median {top.captured_pct:.2f}%")
            judge(f"{terminal}: UI CPU at max <= {MAX_UI_CPU_TARGET_PCT:g}%", top.ui_cpu_pct <= MAX_UI_CPU_TARGET_PCT,
                  f"{top.ui_cpu_pct:.1f}%; C threads {top.capture_cpu_pct:.1f}%")
        if idle is None:
            judge(f"{terminal}: UI CPU idle <= {IDLE_UI_CPU_TARGET_PCT:g}%", None, "no idle run")
        else:
            judge(f"{terminal}: UI CPU idle <= {IDLE_UI_CPU_TARGET_PCT:g}%", idle.ui_cpu_pct <= IDLE_UI_CPU_TARGET_PCT,
                  f"{idle.ui_cpu_pct:.1f}%, {idle.ui_wakeups_ps:.0f} wake-ups/s")
        probed = [r for r in own if r.lag_p99_ms is not None]
        if not probed:
            judge(f"{terminal}: event-loop lag p99 < {LAG_TARGET_MS:g} ms at every rate", None, "only idle runs")
        else:
            worst = max(probed, key=lambda r: r.lag_p99_ms)
            judge(f"{terminal}: event-loop lag p99 < {LAG_TARGET_MS:g} ms at every rate",
                  worst.lag_p99_ms < LAG_TARGET_MS, f"worst {worst.lag_p99_ms:.1f} ms, at {cb.rate_label(worst.rate_pps)}")
    return all(verdicts)


# -- main --------------------------------------------------------------------------------------------


def parse_terminal(text: str) -> tuple[int, int]:
    """'120x40' -> (120, 40)."""
    try:
        columns, lines = (int(part) for part in text.strip().lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"terminal '{text}' is not COLUMNSxLINES, like 120x40") from None
    if columns < 20 or lines < 10:
        raise argparse.ArgumentTypeError(f"terminal {text} is smaller than 20x10")
    return columns, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    cb.add_run_options(parser, "idle,10k,max", "terminal and rate")
    parser.add_argument("--terminal", default=DEFAULT_TERMINALS,
                        help=f"comma-separated terminal sizes, COLUMNSxLINES (default {DEFAULT_TERMINALS})")
    parser.add_argument("--json", type=Path, help="also write every run's raw numbers and the summary to this "
                        "new file")
    args, rates = cb.parse_run_options(parser, argv, idle=True)
    try:
        terminals = [parse_terminal(t) for t in args.terminal.split(",") if t.strip()]
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
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
            print(f"dashboard (`ringmon -i {pair.receiver_if}`, default options) in tmux "
                  f"{', '.join(f'{c}x{l}' for c, l in terminals)}, in {pair.receiver_ns}; veth {pair.sender_if} -> "
                  f"{pair.receiver_if}, {cb.FRAME_BYTES}-byte UDP frames from {gen.name} on CPU {cb.SENDER_CPU}; "
                  f"{args.seconds:g} s per run, {args.repeats} repeat(s); load {os.getloadavg()[0]:.2f}", flush=True)
            for terminal in terminals:
                for rate_pps in rates:
                    for repeat in range(args.repeats):
                        run = run_once(tmux, pair, gen, workdir, terminal, rate_pps, args.seconds)
                        runs.append(run)
                        lags = "" if not run.wake_lags_ms else (
                            f"  lag p99 {percentile(run.tick_lags_ms, 99):.1f} ms, max {max(run.wake_lags_ms):.1f} ms,"
                            f" wake p99 {percentile(run.wake_lags_ms, 99):.1f} ms")
                        print(f"  {run.terminal:>6} {cb.rate_label(rate_pps):>5} #{repeat + 1} gen "
                              f"{run.generator_pps:>9,.0f} pps  arrived {run.arrived:>10,}  delivered {run.delivered:>10,}"
                              f"  UI {run.ui_cpu_pct:.1f}% ({run.ui_wakeups_ps:.0f} wake-ups/s)  C threads "
                              f"{run.capture_cpu_pct:.1f}%{lags}", flush=True)
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
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print()
    if args.json:
        try:  # a new file, exclusive, 0600
            with os.fdopen(os.open(args.json, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
                json.dump({"runs": [asdict(r) for r in runs], "summary": [asdict(r) for r in rows]}, stream, indent=1)
        except OSError as err:
            print(f"dashboard_bench: {args.json}: {err.strerror}", file=sys.stderr)
    return 0 if print_targets(rows, args.repeats) else 3


if __name__ == "__main__":
    sys.exit(main())
