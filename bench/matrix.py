#!/usr/bin/env python3
"""The benchmark matrix: capture mode x wait strategy x rate, each cell `ringmon capture` side by side with
tcpdump on the same flood (capture_bench.py's network, generators and capturers), plus the classic ring
overloaded with early and late drop policy; writes a markdown table, JSON and PNG plots (docs/PERFORMANCE.md).

    python bench/matrix.py [--quick] [--no-overload] [--seconds S]
                           [--modes copy,zero-copy,direct,immediate,immediate-zero-copy,immediate-direct]
                           [--strategies sleep,event,adaptive,spin,yield] [--rate 10k,100k,max] [--out DIR]

Needs root, tcpdump, trafgen or gcc, and matplotlib for the plots (the `bench` extra).
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import capture_bench as cb
from ringmon.stats_history import histogram_upper_edge_us  # the dashboard's percentiles, the same buckets

ROOT = cb.BENCH_DIR.parent
DEFAULT_OUT = ROOT / "docs" / "perf"
# The table also goes into the page that explains it (OUT/../PERFORMANCE.md), between these lines, so the page
# always shows the last run's figures.
TABLE_BEGIN, TABLE_END = "<!-- matrix.py: table begin -->", "<!-- matrix.py: table end -->"
# Python's ringmon, whichever the interpreter imports (a worktree's with PYTHONPATH=src, else the installed one).
DEFAULT_RINGMON = f"{shlex.quote(sys.executable)} -c 'import sys; from ringmon.cli import main; sys.exit(main())' capture"

# A mode is a row of capture options; one whose option `ringmon capture --help` does not know is "not available".
MODES: dict[str, list[str]] = {
    "copy": [],
    "zero-copy": ["--zero-copy"],
    "direct": ["--dispatch", "direct"],
    # TPACKET_V2: each frame handed over at once (no 20 ms block timeout), copied or each frame a slot
    "immediate": ["--immediate-mode"],
    "immediate-zero-copy": ["--immediate-mode", "--zero-copy"],
    "immediate-direct": ["--immediate-mode", "--dispatch", "direct"],
}
STRATEGIES = ("sleep", "event", "adaptive", "spin", "yield")
DEFAULT_RATES = "10k,100k,max"
# Overload: the classic ring (64 slots, a 1 ms sleep whenever it is empty) at the top rate, where the drop policy
# decides which packets are lost: early in the kernel, or late after the copy into the ring.
OVERLOAD_ARGS = ["--ring-pages", "33", "--wait", "sleep"]
# Zero-copy and direct have no slot ring to size (their ring is the kernel's blocks) and refuse --ring-pages.
ZERO_COPY_OVERLOAD_ARGS = ["--wait", "sleep"]
POLICIES = ("early", "late")
NOT_APPLICABLE = {
    ("zero-copy", "late"): "not applicable: in zero-copy mode every drop is the kernel's (early)",
    ("direct", "late"): "not applicable: direct dispatch reads the kernel's blocks in place, every drop is the kernel's",
    ("immediate-zero-copy", "late"): "not applicable: in zero-copy mode every drop is the kernel's (early)",
    ("immediate-direct", "late"): "not applicable: direct dispatch reads the kernel's frames in place, every drop is "
                                  "the kernel's",
}
# tcpdump's own latency: --immediate-mode writing to a pipe this script reads, at the rates a Python reader keeps
# up with (its lag is in the number; at the top rate it would be all of it).
REFERENCE_RATES = ("10k", "100k")
LATENCY_BUCKETS = 32  # RC_LATENCY_BUCKETS: log2 buckets of microseconds, as the ring's histogram
QUICK_SECONDS = 1.0
# A cell's time besides its flood: starting both capturers, the 1.5 s settle, stopping (measured: about 3.6 s).
CELL_OVERHEAD_S = 3.6


@dataclass
class Cell:
    """One cell: ringmon with `args` side by side with tcpdump at one rate."""

    kind: str  # "matrix", "overload", or "reference" (tcpdump --immediate-mode's latency)
    mode: str
    strategy: str  # the wait strategy, or the drop policy of an overload cell
    rate: str
    args: list[str]
    available: bool = True
    unavailable: str = "not available"  # what the table says when it is not
    error: str | None = None
    generator_pps: float = 0.0
    arrived: int = 0
    captured_pct: float | None = None
    kernel_drops: int | None = None
    ring_drops: int | None = None
    truncated: int | None = None
    cpu_per_mpkt: float | None = None
    tcpdump_captured_pct: float | None = None
    tcpdump_kernel_drops: int | None = None
    tcpdump_cpu_per_mpkt: float | None = None
    cpu_ratio: float | None = None
    latency_p50_us: int | None = None
    latency_p99_us: int | None = None
    wakeups_ps: float | None = None  # over the CPU window: the flood and the settle time
    spin_found_pct: float | None = None  # adaptive: of its waits, those whose spin found work
    # ringmon's CPU seconds in the window by thread name (rc-capture: the producer, rc-drain: the consumer, the
    # rest Python's): where the CPU per packet goes
    cpu_s_by_thread: dict[str, float] | None = None

    @property
    def label(self) -> str:
        return f"{self.mode} {self.strategy} {self.rate}"


def capture_help(command: list[str]) -> str:
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise cb.BenchError(f"{' '.join(command)} --help failed: {done.stderr.strip()[-300:]}")
    return done.stdout


def mode_available(help_text: str, args: list[str]) -> bool:
    return all(arg in help_text for arg in args if arg.startswith("--"))


def wait_choices(help_text: str) -> set[str]:
    """The strategies `--wait {a,b,...}` offers in the capture's help."""
    match = re.search(r"--wait \{([^}]*)\}", help_text)
    return set(match.group(1).split(",")) if match else set()


def plan(modes: list[str], strategies: list[str], rates: list[str], help_text: str) -> list[Cell]:
    cells = []
    offered = wait_choices(help_text)
    for mode in modes:
        available = mode_available(help_text, MODES[mode])
        for rate in rates:
            for strategy in strategies:
                cells.append(Cell("matrix", mode, strategy, rate, [*MODES[mode], "--wait", strategy],
                                  available=available and strategy in offered))
        for policy in POLICIES:
            overload = OVERLOAD_ARGS if mode == "copy" else ZERO_COPY_OVERLOAD_ARGS
            cell = Cell("overload", mode, policy, "max", [*MODES[mode], *overload, "--drop-policy", policy],
                        available=available)
            if available and (mode, policy) in NOT_APPLICABLE:
                cell.available, cell.unavailable = False, NOT_APPLICABLE[mode, policy]
            cells.append(cell)
    cells += [Cell("reference", "tcpdump", "--immediate-mode", rate, []) for rate in rates if rate in REFERENCE_RATES]
    return cells


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape_wakeups(port: int) -> float | None:
    """ringmon_wakeups_total summed over the interfaces, from --metrics; None when this build has no such counter."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    values = [float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("ringmon_wakeups_total{")]
    return sum(values) if values else None


class WindowedRingmon(cb.Ringmon):
    """ringmon with --metrics, its wake-up counter read where run_once reads the CPU time (just before the flood,
    after the settle time): wake-ups per second over the same window as the CPU, not the whole life."""

    def __init__(self, pair: cb.VethPair, workdir: Path, command: list[str], extra: list[str]):
        self.port = _free_port()
        super().__init__(pair, workdir, command, [*extra, "--metrics", f"127.0.0.1:{self.port}"])
        self.marks: list[tuple[float, float | None, dict[str, float]]] = []

    def cpu_now_s(self) -> float:
        by_thread = cb.thread_cpu_s(self.proc.pid)
        self.marks.append((time.monotonic(), scrape_wakeups(self.port), by_thread))
        return sum(by_thread.values())

    def wakeups_ps(self) -> float | None:
        (start_s, start, _), (end_s, end, _) = self.marks
        return None if start is None or end is None else (end - start) / (end_s - start_s)

    def cpu_s_by_thread(self) -> dict[str, float]:
        (_, _, start), (_, _, end) = self.marks
        return {name: round(seconds - start.get(name, 0.0), 6) for name, seconds in end.items()}


class ImmediateTcpdump(cb.Tcpdump):
    """tcpdump --immediate-mode -U -w - into a pipe: each packet's kernel timestamp (pcap header, microseconds)
    against the time this process reads it, in the ring's log2 buckets: kernel to a reader, beside ringmon's
    kernel to release."""

    def __init__(self, pair: cb.VethPair, workdir: Path, buffer_kib: int):
        super().__init__(pair, workdir, buffer_kib)
        self.latency_hist = [0] * LATENCY_BUCKETS
        self.reader: threading.Thread | None = None

    def argv(self) -> list[str]:
        argv = super().argv()
        at = argv.index("/dev/null")
        # libpcap takes TPACKET_V2 in immediate mode, one frame per packet sized for the snap length: at the
        # default 262144 its -B 8192 KiB are 32 frames, and a reader a few ms late makes tcpdump drop. The
        # frames are 60 bytes: -s 256 gives the same buffer thousands of frames.
        return [*argv[:at], "-", *argv[at + 1:], "--immediate-mode", "-U", "-s", "256"]

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, preexec_fn=cb._die_with_parent)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        stream = self.proc.stdout.buffer  # the pcap bytes under the text wrapper stderr needs
        if len(stream.read(24)) < 24:  # the file header
            return
        while len(record := stream.read(16)) == 16:
            now_us = time.time_ns() // 1000
            seconds, micros, caplen, _ = struct.unpack("<IIII", record)
            stream.read(caplen)
            latency_us = now_us - (seconds * 1_000_000 + micros)
            bucket = max(0, latency_us).bit_length() - 1
            self.latency_hist[min(max(bucket, 0), LATENCY_BUCKETS - 1)] += 1

    def stop(self) -> None:
        super().stop()
        self.reader.join(timeout=10)  # it ends at the pipe's end


def _cpu_per_mpkt(tool: cb.ToolResult) -> float | None:
    return tool.cpu_s / (tool.captured / 1e6) if tool.captured else None


def fill(cell: Cell, result: cb.RunResult, wakeups_ps: float | None) -> None:
    """The cell's numbers from one side-by-side run."""
    ringmon, tcpdump = result.tools["ringmon"], result.tools["tcpdump"]
    cell.generator_pps, cell.arrived, cell.wakeups_ps = result.generator_pps, result.arrived, wakeups_ps
    pct = lambda tool: 100.0 * tool.captured / result.arrived if result.arrived else 0.0  # noqa: E731
    cell.captured_pct, cell.kernel_drops = pct(ringmon), ringmon.kernel_drops
    cell.ring_drops, cell.truncated = ringmon.ring_drops, ringmon.truncated
    cell.cpu_per_mpkt = _cpu_per_mpkt(ringmon)
    cell.tcpdump_captured_pct, cell.tcpdump_kernel_drops = pct(tcpdump), tcpdump.kernel_drops
    cell.tcpdump_cpu_per_mpkt = _cpu_per_mpkt(tcpdump)
    if cell.cpu_per_mpkt and cell.tcpdump_cpu_per_mpkt:
        cell.cpu_ratio = cell.cpu_per_mpkt / cell.tcpdump_cpu_per_mpkt
    raw = ringmon.raw
    hist = tuple(raw["latency_hist"])
    cell.latency_p50_us = histogram_upper_edge_us(hist, 0.50)
    cell.latency_p99_us = histogram_upper_edge_us(hist, 0.99)
    spins = raw["spin_found"] + raw["spin_slept"]
    cell.spin_found_pct = 100.0 * raw["spin_found"] / spins if spins else None


def fill_reference(cell: Cell, result: cb.RunResult, tcpdump: ImmediateTcpdump) -> None:
    (tool,) = result.tools.values()
    cell.generator_pps, cell.arrived = result.generator_pps, result.arrived
    cell.tcpdump_captured_pct = 100.0 * tool.captured / result.arrived if result.arrived else 0.0
    cell.tcpdump_kernel_drops, cell.tcpdump_cpu_per_mpkt = tool.kernel_drops, _cpu_per_mpkt(tool)
    cell.latency_p50_us = histogram_upper_edge_us(tuple(tcpdump.latency_hist), 0.50)
    cell.latency_p99_us = histogram_upper_edge_us(tuple(tcpdump.latency_hist), 0.99)


def run_cell(pair: cb.VethPair, gen: cb.Generator, workdir: Path, command: list[str], cell: Cell,
             seconds: float, tcpdump_buffer_kib: int) -> None:
    rate_pps = cb.parse_rate(cell.rate)
    if cell.kind == "reference":
        tcpdump = ImmediateTcpdump(pair, workdir, tcpdump_buffer_kib)
        fill_reference(cell, cb.run_once(pair, gen, [tcpdump], rate_pps, seconds, "alone"), tcpdump)
        return
    ringmon = WindowedRingmon(pair, workdir, command, cell.args)
    try:
        result = cb.run_once(pair, gen, [ringmon, cb.Tcpdump(pair, workdir, tcpdump_buffer_kib)], rate_pps, seconds,
                             "side by side")
    except (cb.BenchError, OSError) as err:  # a cell that cannot run (an option this build refuses) is reported
        cell.error = str(err).splitlines()[0][:300]
        return
    fill(cell, result, ringmon.wakeups_ps())
    cell.cpu_s_by_thread = ringmon.cpu_s_by_thread()


# -- report ------------------------------------------------------------------------------------------


def _fmt(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def _us(value: int | None) -> str:
    if value is None:
        return "–"
    return f"≤{value / 1000:g} ms" if value >= 1000 else f"≤{value} µs"


def progress(cell: Cell) -> str:
    """One line on a cell just run."""
    if cell.error:
        return f"failed: {cell.error}"
    if cell.kind == "reference":
        return (f"captured {_fmt(cell.tcpdump_captured_pct, '.2f')}%  p50 {_us(cell.latency_p50_us)}  "
                f"p99 {_us(cell.latency_p99_us)}")
    return (f"captured {_fmt(cell.captured_pct, '.2f')}%  CPU {_fmt(cell.cpu_per_mpkt, '.3f')} s/Mpkt "
            f"({_fmt(cell.cpu_ratio, '.2f')}x)  p99 {_us(cell.latency_p99_us)}  "
            f"wake-ups {_fmt(cell.wakeups_ps, ',.0f')}/s")


COLUMNS = ("mode", "wait", "rate", "gen pps", "captured", "kernel drops", "ring drops", "CPU s/Mpkt",
           "tcpdump CPU s/Mpkt", "vs tcpdump", "latency p50", "latency p99", "wake-ups/s", "spins found work")


def markdown_row(cell: Cell) -> str:
    head = [cell.mode, cell.strategy, cell.rate]
    if cell.kind == "reference":
        values = [_fmt(cell.generator_pps, ",.0f"), _fmt(cell.tcpdump_captured_pct, ".2f") + " %",
                  _fmt(cell.tcpdump_kernel_drops, ","), "–", "–", _fmt(cell.tcpdump_cpu_per_mpkt, ".3f"), "–",
                  _us(cell.latency_p50_us), _us(cell.latency_p99_us), "–", "–"]
        return "| " + " | ".join(head + values) + " |"
    if not cell.available:
        return "| " + " | ".join(head + [cell.unavailable] + [""] * (len(COLUMNS) - 4)) + " |"
    if cell.error:
        return "| " + " | ".join(head + [f"failed: {cell.error}"] + [""] * (len(COLUMNS) - 4)) + " |"
    values = [
        _fmt(cell.generator_pps, ",.0f"), _fmt(cell.captured_pct, ".2f") + " %", _fmt(cell.kernel_drops, ","),
        _fmt(cell.ring_drops, ","), _fmt(cell.cpu_per_mpkt, ".3f"), _fmt(cell.tcpdump_cpu_per_mpkt, ".3f"),
        _fmt(cell.cpu_ratio, ".2f") + "x" if cell.cpu_ratio else "–", _us(cell.latency_p50_us),
        _us(cell.latency_p99_us), _fmt(cell.wakeups_ps, ",.0f"),
        _fmt(cell.spin_found_pct, ".0f") + " %" if cell.spin_found_pct is not None else "–",
    ]
    return "| " + " | ".join(head + values) + " |"


def markdown(cells: list[Cell], header: str) -> str:
    lines = [header, ""]
    for kind, title in (("matrix", "Mode × wait strategy × rate"),
                        ("overload", "Overload: the classic ring (`" + " ".join(OVERLOAD_ARGS) +
                         "`) at the top rate, drop-early vs drop-late (the *wait* column is the drop policy)"),
                        ("reference", "Latency reference: tcpdump `--immediate-mode -U -w -` alone, read by the "
                         "benchmark (its CPU in *tcpdump CPU s/Mpkt*)")):
        chosen = [c for c in cells if c.kind == kind]
        if not chosen:
            continue
        lines += [f"### {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
        lines += [markdown_row(c) for c in chosen]
        lines.append("")
    return "\n".join(lines)


def update_page(page: Path, table: str) -> bool:
    """Put `table` between the page's markers; False when there is no such page or it has no markers."""
    try:
        text = page.read_text()
    except FileNotFoundError:
        return False
    before, begin, rest = text.partition(TABLE_BEGIN)
    _, end, after = rest.partition(TABLE_END)
    if not begin or not end:
        return False
    page.write_text(f"{before}{TABLE_BEGIN}\n{table}\n{TABLE_END}{after}")
    return True


def plot(cells: list[Cell], out: Path) -> list[Path]:
    """CPU per Mpkt, latency p50/p99 (mode x strategy x rate) and drops by stage under overload, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    done = [c for c in cells if c.kind == "matrix" and c.available and not c.error]
    modes = list(dict.fromkeys(c.mode for c in done))
    rates = list(dict.fromkeys(c.rate for c in done))
    strategies = list(dict.fromkeys(c.strategy for c in done))
    written = []
    if done:
        def grouped(ax, mode: str, value, title: str, reference=None, reference_label: str = "tcpdump") -> None:
            """Bars per strategy in groups by rate (and the reference's), log scale from below the lowest."""
            width = 0.8 / (len(strategies) + (reference is not None))
            bars = [(strategy, [next((value(c) or 0 for c in done if (c.mode, c.strategy, c.rate) == (mode, strategy, r)),
                                     0) for r in rates]) for strategy in strategies]
            if reference is not None:
                bars.append((reference_label, [reference(r) or 0 for r in rates]))
            for i, (label, heights) in enumerate(bars):
                ax.bar([x + i * width for x in range(len(rates))], heights, width, label=label,
                       color="black" if reference is not None and i == len(strategies) else None)
            ax.set_xticks([x + 0.4 - width / 2 for x in range(len(rates))], rates)
            ax.set_yscale("log")
            positive = [h for _, heights in bars for h in heights if h > 0]
            if positive:
                ax.set_ylim(min(positive) / 2, max(positive) * 2)
            ax.set_title(title)

        def tcpdump_at(rate: str) -> float | None:
            values = sorted(c.tcpdump_cpu_per_mpkt for c in done if c.rate == rate and c.tcpdump_cpu_per_mpkt)
            return values[len(values) // 2] if values else None

        fig, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes) + 1.5, 4), squeeze=False)
        for ax, mode in zip(axes[0], modes):
            grouped(ax, mode, lambda c: c.cpu_per_mpkt, f"{mode}: CPU s per Mpkt", tcpdump_at)
            ax.set_xlabel("rate")
        axes[0][0].set_ylabel("CPU seconds per million packets (log)")
        axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        written.append(out / "cpu_per_mpkt.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)

        fig, axes = plt.subplots(2, len(modes), figsize=(5 * len(modes) + 1.5, 7), squeeze=False)
        references = {c.rate: c for c in cells if c.kind == "reference" and c.latency_p50_us}
        for column, mode in enumerate(modes):
            for row, (name, value) in enumerate((("p50", lambda c: (c.latency_p50_us or 0) / 1000),
                                                 ("p99", lambda c: (c.latency_p99_us or 0) / 1000))):
                reference = (lambda r, value=value: value(references[r]) if r in references else None)
                grouped(axes[row][column], mode, value, f"{mode}: latency {name} (ms, upper bound)",
                        reference if references else None, "tcpdump --immediate-mode")
            axes[1][column].set_xlabel("rate")
        axes[0][-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        written.append(out / "latency.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)

    overload = [c for c in cells if c.kind == "overload" and c.available and not c.error and c.arrived]
    if overload:
        fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(overload)), 4))
        labels = [f"{c.mode}\n{c.strategy}" for c in overload]
        share = lambda n: [100.0 * (n(c) or 0) / c.arrived for c in overload]  # noqa: E731
        captured = share(lambda c: c.captured_pct * c.arrived / 100)
        kernel = share(lambda c: c.kernel_drops)
        ring = share(lambda c: c.ring_drops)
        ax.bar(labels, captured, label="captured", color="tab:green")
        ax.bar(labels, kernel, bottom=captured, label="dropped early (kernel)", color="tab:orange")
        ax.bar(labels, ring, bottom=[a + b for a, b in zip(captured, kernel)], label="dropped late (ring)",
               color="tab:red")
        ax.set_ylabel("% of the frames that arrived")
        ax.set_title("Overload: where packets are lost")
        ax.legend(fontsize="small")
        fig.tight_layout()
        written.append(out / "overload_drops.png")
        fig.savefig(written[-1], dpi=100)
        plt.close(fig)
    return written


# -- main --------------------------------------------------------------------------------------------


def _choices(text: str, known: tuple[str, ...] | dict, what: str) -> list[str]:
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(unknown) or '(none)'}: choose from "
                                         f"{', '.join(known)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="flood length of each cell (default 3)")
    parser.add_argument("--rate", default=DEFAULT_RATES,
                        help=f"comma-separated rates: 'max' floods, '100k' is 100 000 pps (default {DEFAULT_RATES})")
    parser.add_argument("--modes", default=",".join(MODES), help=f"capture modes (default {','.join(MODES)})")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"wait strategies (default {','.join(STRATEGIES)})")
    parser.add_argument("--matrix-only", action="store_true",
                        help="skip the overload cells (early vs late drop) and tcpdump's latency reference")
    parser.add_argument("--no-overload", action="store_true",
                        help="skip the overload cells (early vs late drop) but keep tcpdump's latency reference: "
                             "a latency run")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_SECONDS:g} s cells and no generator calibration (CI: does the script work)")
    parser.add_argument("--generator", choices=("auto", "trafgen", "sender"), default="auto",
                        help="trafgen, bench/sender.c, or the faster of the two (default)")
    parser.add_argument("--tcpdump-buffer-kib", type=int, default=cb.DEFAULT_TCPDUMP_BUFFER_KIB,
                        help=f"tcpdump -B (default {cb.DEFAULT_TCPDUMP_BUFFER_KIB}: ringmon's kernel ring)")
    parser.add_argument("--ringmon", default=DEFAULT_RINGMON,
                        help="how to start the capture command (default: the ringmon this Python imports)")
    parser.add_argument("--note", default="", help="a line for the report's header (e.g. the machine's load)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="directory for matrix.md, matrix.json and the plots (default docs/perf)")
    args = parser.parse_args(argv)
    try:
        modes = _choices(args.modes, MODES, "mode")
        strategies = _choices(args.strategies, STRATEGIES, "wait strategy")
        rates = [cb.rate_label(cb.parse_rate(r)) for r in args.rate.split(",") if r.strip()]
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    seconds = QUICK_SECONDS if args.quick else args.seconds
    if seconds < 1 or not rates:
        parser.error("--seconds must be at least 1 and --rate name at least one rate")
    problem = cb.setup_error(("ip", "tcpdump", "taskset"))
    if problem:
        print(f"matrix: {problem}", file=sys.stderr)
        return 2
    command = shlex.split(args.ringmon)
    try:
        help_text = capture_help(command)
    except (cb.BenchError, OSError, subprocess.TimeoutExpired) as err:
        print(f"matrix: {err}", file=sys.stderr)
        return 2
    cells = plan(modes, strategies, rates, help_text)
    if args.matrix_only:
        cells = [c for c in cells if c.kind == "matrix"]
    if args.no_overload:
        cells = [c for c in cells if c.kind != "overload"]
    args.out.mkdir(parents=True, exist_ok=True)
    cb.unwind_on_signals()

    workdir = Path(tempfile.mkdtemp(prefix="rmb-"))
    started = time.time()
    try:
        with cb.VethPair() as pair:
            if args.quick:
                gen: cb.Generator = (cb.CSender if args.generator != "trafgen" else cb.Trafgen)(pair, workdir)
            else:
                gen = cb.choose_generator(pair, workdir, args.generator)
            runnable = [c for c in cells if c.available]
            minutes = len(runnable) * (seconds + CELL_OVERHEAD_S) / 60
            print(f"{len(runnable)} cells of {seconds:g} s, about {minutes:.0f} min ({len(cells) - len(runnable)} "
                  f"not available), {gen.name}; ringmon: {args.ringmon}", flush=True)
            for number, cell in enumerate(runnable, 1):
                run_cell(pair, gen, workdir, command, cell, seconds, args.tcpdump_buffer_kib)
                print(f"  [{number}/{len(runnable)}] {cell.label:<30} {progress(cell)}", flush=True)
    except KeyboardInterrupt:
        print("matrix: interrupted; namespaces removed", file=sys.stderr)
        return 130
    except cb.BenchError as err:
        print(f"matrix: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    minutes = (time.time() - started) / 60
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started))
    header = (f"`python bench/matrix.py{' --quick' if args.quick else ''}` on {when}, {seconds:g} s cells, {minutes:.1f} min, generator {gen.name}, 60-byte UDP frames, one run per cell."
              + (f" {args.note}" if args.note else ""))
    table = markdown(cells, header)
    (args.out / "matrix.md").write_text(table + "\n")
    page = args.out.parent / "PERFORMANCE.md"
    if update_page(page, table):
        print(f"updated the table in {page}")
    (args.out / "matrix.json").write_text(json.dumps({"header": header, "cells": [asdict(c) for c in cells]},
                                                     indent=1) + "\n")
    written = plot(cells, args.out)
    print(f"wrote {args.out / 'matrix.md'}, {args.out / 'matrix.json'}, " + ", ".join(p.name for p in written))
    return 1 if any(c.error for c in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
