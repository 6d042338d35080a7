#!/usr/bin/env python3
"""Opens a million-packet capture in `ringmon read` and in termshark, each in a 120x40 tmux, beside
`tshark -T psml` (what termshark builds its list from) and capinfos on the same file, and judges issue 9's
targets: first screen < 1 s; the whole file indexed < 1 s and >= 15x faster than tshark psml; peak RSS
<= 150 MB and <= 1/9 of tshark psml's; End, Home and a jump to a packet each on screen within 100 ms.

    python bench/read_bench.py [--count 1000000] [--format pcap|pcapng] [--file FILE] [--repeats 3]
                               [--termshark-timeout 120] [--no-termshark] [--ringmon CMD] [--json OUT]

Needs tmux, tshark and capinfos; termshark unless --no-termshark. See bench/README.md for what each
number means.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import capture_bench as cb
import packet_mix
from dashboard_bench import TERMINAL_COLUMNS, TERMINAL_LINES, Tmux, pane_process_running

FIRST_SCREEN_TARGET_S = 1.0
INDEX_TARGET_S = 1.0
TSHARK_SPEEDUP_TARGET = 15.0
RSS_TARGET_MB = 150.0
RSS_TSHARK_SHARE = 9  # peak RSS at most 1/9 of tshark psml's
KEY_TARGET_MS = 100.0
# Packets `g` jumps to, in a million (the same fractions of another count); End and Home are pressed as often.
JUMP_TARGETS = (654_321, 123_457, 876_543, 345_679, 987_654)
SCREEN_POLL_S = 0.005  # between two reads of the screen: the resolution of every on-screen time
MEMORY_SAMPLE_S = 0.02
STEP_TIMEOUT_S = 60.0  # for any one thing ringmon is waited for
WARM_UP_PACKETS = 1000
MB = 1_000_000


def packet_row(number: int) -> re.Pattern:
    """A list row of packet `number` (1-based, in the first column, before its time): in ringmon's list and in
    termshark's. A prompt in which the number was typed has no time after it."""
    return re.compile(rf"(?m)^[^\w\n]*{number}\s+\d[\d:.]*\s")


# -- the terminal ------------------------------------------------------------------------------------------


class ControlClient:
    """A tmux control-mode client: reads a session's screen and sends it keys through one long-lived process,
    so that polling the screen every few milliseconds forks nothing. `no-output`: tmux does not copy the
    pane's output to it."""

    def __init__(self, tmux: Tmux, session: str):
        self.session = session
        self.process = subprocess.Popen(
            ["tmux", "-S", str(tmux.socket), "-C", "attach-session", "-f", "no-output,read-only", "-t", session],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, encoding="utf-8",
            errors="replace", preexec_fn=cb._die_with_parent)

    def command(self, *words: str) -> list[str]:
        """The lines a command printed; its reply is the next block tagged as this client's (flag 1)."""
        self.process.stdin.write(" ".join(shlex.quote(word) for word in words) + "\n")
        self.process.stdin.flush()
        lines: list[str] | None = None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if lines is None:
                if line.startswith("%begin ") and line.endswith(" 1"):
                    lines = []
                elif line.startswith("%exit"):
                    break
            elif line.startswith(("%end ", "%error ")) and line.endswith(" 1"):
                if line.startswith("%error"):
                    raise cb.BenchError(f"tmux {' '.join(words)}: {' '.join(lines)}")
                return lines
            else:
                lines.append(line)
        raise cb.BenchError(f"tmux's control client ended ({' '.join(words)})")

    def screen(self) -> str:
        return "\n".join(self.command("capture-pane", "-p", "-t", self.session))

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.command("send-keys", "-t", self.session, *(["-l"] if literal else []), *keys)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, from the kernel's per-thread child lists (no scan of /proc)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError):
                    children = Path(f"/proc/{current}/task/{task}/children").read_text()
                    pending += [int(child) for child in children.split()]
    return found


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (the process's own peak RSS), RssAnon, RssFile and RssShmem, in KiB."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                values[key] = int(rest.split()[0])
    return values


class TreeMemory(threading.Thread):
    """Samples the resident memory of a process tree every MEMORY_SAMPLE_S. The peak is the larger of the
    highest sampled sum over the tree and the highest VmHWM of one process: exact for one process (its
    kernel-kept high-water mark), a lower bound for a tree whose processes peak at different moments."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_sum_kib = self.peak_anon_kib = self.peak_file_kib = 0
        self.hwm_kib: dict[int, int] = {}
        self.processes: set[int] = set()
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.sample()
            self._stopping.wait(MEMORY_SAMPLE_S)

    def sample(self) -> None:
        total = anon = file_backed = 0
        for pid in descendants(self.pid):
            values = memory_kib(pid)
            if not values:
                continue
            self.processes.add(pid)
            total += values.get("VmRSS", 0)
            anon += values.get("RssAnon", 0)
            file_backed += values.get("RssFile", 0) + values.get("RssShmem", 0)
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), values.get("VmHWM", 0))
        self.peak_sum_kib = max(self.peak_sum_kib, total)
        self.peak_anon_kib = max(self.peak_anon_kib, anon)
        self.peak_file_kib = max(self.peak_file_kib, file_backed)

    def stop(self) -> None:
        self.sample()
        self._stopping.set()
        self.join()

    @property
    def peak_mb(self) -> float:
        return max(self.peak_sum_kib, max(self.hwm_kib.values(), default=0)) * 1024 / MB


class TerminalApp:
    """A full-screen command alone in a session of the benchmark's tmux server: its screen, its keys, the
    memory of its process tree; the session and every process of the tree are gone after close()."""

    def __init__(self, tmux: Tmux, session: str, argv: list[str]):
        self.tmux, self.session, self.argv = tmux, session, argv
        self.pid = 0
        self.client: ControlClient | None = None
        self.memory: TreeMemory | None = None

    def start(self) -> float:
        """Starts the command (with more than one word tmux execs it: the pane's process is the command
        itself); returns when it was asked to start."""
        started = time.monotonic()
        self.pid = int(self.tmux("new-session", "-d", "-s", self.session, "-x", str(TERMINAL_COLUMNS), "-y",
                                 str(TERMINAL_LINES), "-P", "-F", "#{pane_pid}", "--", *self.argv))
        self.memory = TreeMemory(self.pid)
        self.memory.start()
        self.client = ControlClient(self.tmux, self.session)
        return started

    def wait_for(self, done: Callable[[str], bool], what: str, timeout_s: float) -> float | None:
        """When the screen first showed `done` (the end of the read that saw it), or None after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.client.screen()
            seen = time.monotonic()
            if done(screen):
                return seen
            if seen > deadline:
                return None
            if not pane_process_running(self.pid):
                raise cb.BenchError(f"{self.argv[0]} ended while waiting for {what}; its screen: "
                                    + " | ".join(line for line in screen.splitlines() if line.strip())[-400:])
            time.sleep(SCREEN_POLL_S)

    def must_see(self, done: Callable[[str], bool], what: str, timeout_s: float = STEP_TIMEOUT_S) -> float:
        seen = self.wait_for(done, what, timeout_s)
        if seen is None:
            raise cb.BenchError(f"{self.argv[0]}: no {what} after {timeout_s:.0f} s; its screen:\n"
                                f"{self.client.screen()}")
        return seen

    def key_answer_ms(self, key: str, done: Callable[[str], bool], what: str) -> float:
        """From sending `key` to the screen showing `done`."""
        pressed = time.monotonic()
        self.client.keys(key)
        return 1000 * (self.must_see(done, what) - pressed)

    def close(self) -> None:
        tree = descendants(self.pid) if self.pid else []
        if self.memory:
            self.memory.stop()
        if self.client:
            self.client.close()
        self.tmux("kill-session", "-t", self.session, check=False)  # tmux hangs up on the command
        deadline = time.monotonic() + 5
        while any(pane_process_running(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in tree:  # children that outlive a hang-up (termshark's tshark) are killed
            if pane_process_running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> TerminalApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the tools ---------------------------------------------------------------------------------------------


@dataclass
class CommandRun:
    """A command run to its end: wall time, CPU time and its own peak RSS (from wait4)."""

    argv: list[str]
    seconds: float
    cpu_s: float
    peak_rss_mb: float


def run_command(argv: list[str], stdout_to_null: bool = False) -> tuple[CommandRun, str]:
    """The run and what it printed on stdout; a non-zero exit or anything on stderr but tshark's notice about
    root is a BenchError."""
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL if stdout_to_null else subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=cb._die_with_parent)
    # wait4 gives this child's own rusage (getrusage(RUSAGE_CHILDREN) would mix in every child so far)
    output = process.stdout.read() if process.stdout else b""
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    complaints = [line for line in errors.decode(errors="replace").splitlines() if "Running as user" not in line]
    if process.returncode != 0 or complaints:
        raise cb.BenchError(f"{' '.join(argv)}: exit {process.returncode}: {' | '.join(complaints)[-300:]}")
    return (CommandRun(argv, seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024 / MB),
            output.decode(errors="replace"))


def capinfos_facts(output: str) -> tuple[int, str]:
    """The packet count and the format, from `capinfos -M`."""
    match = re.search(r"^Number of packets:\s*(\d+)\s*$", output, re.M)
    if not match:
        raise cb.BenchError(f"capinfos gave no packet count: {output[-200:]}")
    return int(match.group(1)), "pcapng" if re.search(r"^File type:.*pcapng", output, re.M) else "pcap"


@dataclass
class RingmonRun:
    first_screen_s: float
    loaded_s: float
    peak_rss_mb: float
    peak_anon_mb: float
    peak_file_mb: float
    end_ms: list[float]  # one per press
    home_ms: list[float]
    jump_ms: list[float]


def ringmon_status_done(count: int) -> Callable[[str], bool]:
    """The status line's contract: `N packets` (N with thousands separators) and no `indexing` once done."""
    total = f"{count:,} packets"
    return lambda screen: total in screen and "indexing" not in screen


def measure_ringmon(tmux: Tmux, ringmon: list[str], path: Path, count: int, jump_targets: list[int]) -> RingmonRun:
    first_row, last_row = packet_row(1), packet_row(count)
    end_ms, home_ms, jump_ms = [], [], []
    with TerminalApp(tmux, "ringmon", [*ringmon, "read", str(path)]) as app:
        started = app.start()
        first_screen = app.must_see(first_row.search, "first packet row") - started
        loaded = app.must_see(ringmon_status_done(count), f"'{count:,} packets' without 'indexing'") - started
        for target in jump_targets:
            end_ms.append(app.key_answer_ms("End", last_row.search, f"row {count} after End"))
            home_ms.append(app.key_answer_ms("Home", first_row.search, "row 1 after Home"))
            before = app.client.screen()
            app.client.keys("g")
            app.must_see(lambda screen: screen != before, "go-to prompt after g")
            app.client.keys(str(target), literal=True)
            app.must_see(lambda screen: str(target) in screen, f"{target} typed in the go-to prompt")
            jump_ms.append(app.key_answer_ms("Enter", packet_row(target).search, f"row {target} after go to"))
        app.memory.sample()
        memory = app.memory
    return RingmonRun(first_screen, loaded, memory.peak_mb, memory.peak_anon_kib * 1024 / MB,
                      memory.peak_file_kib * 1024 / MB, end_ms, home_ms, jump_ms)


@dataclass
class TermsharkRun:
    first_screen_s: float | None  # None: not within the timeout
    loaded_s: float | None
    peak_rss_mb: float
    processes: int  # termshark and the tshark processes it started


def termshark_loaded(screen: str) -> bool:
    """termshark shows a percentage and a <Stop> button in its filter bar while tshark's PSML comes in."""
    return packet_row(1).search(screen) is not None and "<Stop>" not in screen


def measure_termshark(tmux: Tmux, path: Path, timeout_s: float) -> TermsharkRun:
    with TerminalApp(tmux, "termshark", ["termshark", "-r", str(path)]) as app:
        started = app.start()
        first = app.wait_for(packet_row(1).search, "first packet row", timeout_s)
        loaded = app.wait_for(termshark_loaded, "loading to end", timeout_s - (time.monotonic() - started))
        app.memory.sample()
        memory = app.memory
    return TermsharkRun(first and first - started, loaded and loaded - started, memory.peak_mb,
                        len(memory.processes))


def warm_up(tmux: Tmux, ringmon: list[str], path: Path, with_termshark: bool) -> None:
    """Each terminal app once on a small file, to its first screen: the runs measured then find the
    interpreter, the libraries and termshark's cache of tshark's fields already read, as a user's second
    start does."""
    apps = [("ringmon-warm-up", [*ringmon, "read", str(path)])]
    if with_termshark:
        apps.append(("termshark-warm-up", ["termshark", "-r", str(path)]))
    for session, argv in apps:
        with TerminalApp(tmux, session, argv) as app:
            app.start()
            app.must_see(packet_row(1).search, "first packet row (warm-up)")


def read_through(path: Path) -> None:
    """Into the page cache, so that every tool reads the file from memory, none from disk first."""
    with open(path, "rb") as stream:
        while stream.read(8 << 20):
            pass


# -- report ------------------------------------------------------------------------------------------------


@dataclass
class Results:
    file: str
    file_format: str
    file_mb: float
    packets: int
    jump_targets: list[int]
    machine: str
    ringmon_command: str
    load_average: tuple[float, float, float]
    capinfos: CommandRun
    tshark_psml: CommandRun
    ringmon_runs: list[RingmonRun]
    termshark: TermsharkRun | None
    targets: dict[str, dict] = field(default_factory=dict)  # what: {"pass": bool, "measured": text}

    def ringmon(self, name: str) -> float:
        """ringmon's `name`: for a time the median over the repeats (over every press of every repeat, for a
        key), for memory the worst run's."""
        values = self.presses(name)
        return max(values) if name.startswith("peak") else statistics.median(values)

    def worst(self, name: str) -> float:
        return max(self.presses(name))

    def presses(self, name: str) -> list[float]:
        """Every value of `name` over the repeats: one per run, or one per key press."""
        values = [getattr(run, name) for run in self.ringmon_runs]
        return [value for presses in values for value in presses] if isinstance(values[0], list) else values


def _seconds(value: float | None, timeout_s: float | None = None) -> str:
    if value is None:
        return f"> {timeout_s:.0f} s" if timeout_s else "-"
    return f"{value:.2f} s"


def print_table(results: Results, termshark_timeout_s: float) -> None:
    r = results
    head = (f"{'tool':<34} {'first screen':>12} {'all loaded':>11} {'peak RSS':>10} {'End':>8} {'Home':>8} "
            f"{'go to':>8}")
    print(head)
    print("-" * len(head))
    print(f"{'ringmon read (median of ' + str(len(r.ringmon_runs)) + ')':<34} "
          f"{_seconds(r.ringmon('first_screen_s')):>12} {_seconds(r.ringmon('loaded_s')):>11} "
          f"{r.ringmon('peak_rss_mb'):>7,.0f} MB {r.ringmon('end_ms'):>5.0f} ms {r.ringmon('home_ms'):>5.0f} ms "
          f"{r.ringmon('jump_ms'):>5.0f} ms")
    if r.termshark:
        first, loaded = (_seconds(value, termshark_timeout_s) for value in (r.termshark.first_screen_s,
                                                                             r.termshark.loaded_s))
        print(f"{'termshark (+ its tshark processes)':<34} {first:>12} {loaded:>11} "
              f"{r.termshark.peak_rss_mb:>7,.0f} MB")
    for label, run in (("tshark -r FILE -T psml > /dev/null", r.tshark_psml), ("capinfos FILE", r.capinfos)):
        print(f"{label:<34} {'-':>12} {_seconds(run.seconds):>11} {run.peak_rss_mb:>7,.0f} MB")
    print(f"\nringmon's keys, median (worst) of {len(r.presses('end_ms'))} presses each: End {r.ringmon('end_ms'):.0f} "
          f"({r.worst('end_ms'):.0f}) ms, Home {r.ringmon('home_ms'):.0f} ({r.worst('home_ms'):.0f}) ms, go to "
          f"{r.ringmon('jump_ms'):.0f} ({r.worst('jump_ms'):.0f}) ms (to packets "
          f"{', '.join(map(str, r.jump_targets))})")
    print(f"ringmon's peak RSS: {r.ringmon('peak_anon_mb'):,.0f} MB anonymous, {r.ringmon('peak_file_mb'):,.0f} MB "
          "file-backed (pages of the mapped capture count while mapped); every run: "
          + ", ".join(f"{run.loaded_s:.2f} s / {run.peak_rss_mb:.0f} MB" for run in r.ringmon_runs))


def judge_targets(results: Results) -> dict[str, tuple[bool, str]]:
    r = results
    loaded, rss = r.ringmon("loaded_s"), r.ringmon("peak_rss_mb")
    speedup = r.tshark_psml.seconds / loaded
    verdicts = {
        f"first screen < {FIRST_SCREEN_TARGET_S:g} s": (r.ringmon("first_screen_s") < FIRST_SCREEN_TARGET_S,
                                                       _seconds(r.ringmon("first_screen_s"))),
        f"whole file indexed < {INDEX_TARGET_S:g} s": (loaded < INDEX_TARGET_S, _seconds(loaded)),
        f"indexed >= {TSHARK_SPEEDUP_TARGET:g}x faster than tshark psml": (
            speedup >= TSHARK_SPEEDUP_TARGET, f"{speedup:.1f}x: {r.tshark_psml.seconds:.2f} s / {loaded:.2f} s"),
        f"peak RSS <= {RSS_TARGET_MB:g} MB": (rss <= RSS_TARGET_MB, f"{rss:,.0f} MB"),
        f"peak RSS <= 1/{RSS_TSHARK_SHARE} of tshark psml's": (
            rss * RSS_TSHARK_SHARE <= r.tshark_psml.peak_rss_mb,
            f"1/{r.tshark_psml.peak_rss_mb / rss:.1f}: {rss:,.0f} MB vs {r.tshark_psml.peak_rss_mb:,.0f} MB"),
    }
    for name, label in (("end_ms", "End (last row shown)"), ("home_ms", "Home (first row shown)"),
                        ("jump_ms", "go to a packet (its row shown)")):
        verdicts[f"{label} <= {KEY_TARGET_MS:g} ms"] = (
            r.ringmon(name) <= KEY_TARGET_MS,
            f"median {r.ringmon(name):.0f} ms, worst {r.worst(name):.0f} ms of {len(r.presses(name))}")
    return verdicts


def print_targets(results: Results, verdicts: dict[str, tuple[bool, str]]) -> None:
    r = results
    notes = [f"tshark psml / ringmon: {r.tshark_psml.seconds / r.ringmon('loaded_s'):.1f}x the time, "
             f"{r.tshark_psml.peak_rss_mb / r.ringmon('peak_rss_mb'):.1f}x the memory"]
    if r.termshark and r.termshark.loaded_s:
        notes.append(f"termshark / ringmon: {r.termshark.loaded_s / r.ringmon('loaded_s'):.1f}x the time to load, "
                     f"{r.termshark.peak_rss_mb / r.ringmon('peak_rss_mb'):.1f}x the memory")
    if r.termshark and r.termshark.first_screen_s:
        notes.append(f"termshark's first screen / ringmon's: "
                     f"{r.termshark.first_screen_s / r.ringmon('first_screen_s'):.1f}x")
    print("\n".join(notes))
    print(f"\ntargets (ringmon: medians of {len(r.ringmon_runs)} run(s), peak RSS the worst run's):")
    for what, (ok, detail) in verdicts.items():
        print(f"  {what:<46} {'PASS' if ok else 'MISS'}  ({detail})")


def write_json(path: str, results: Results) -> None:
    """To stdout for '-'; else a new file (exclusive, 0600)."""
    text = json.dumps(asdict(results), indent=1, default=str) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
        stream.write(text)


# -- main --------------------------------------------------------------------------------------------------


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} x {model}, kernel {platform.release()}"


def default_ringmon() -> str:
    """The console script installed next to this interpreter (a venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("ringmon")
    return str(beside) if beside.exists() else "ringmon"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="an existing capture to read (default: one packet_mix.py writes "
                                                  "into a temporary directory, removed at the end)")
    parser.add_argument("--count", type=packet_mix._count, default=1_000_000,
                        help="packets in the generated file (default: 1,000,000)")
    parser.add_argument("--format", choices=sorted(packet_mix.FORMATS), default="pcap", dest="file_format")
    parser.add_argument("--repeats", type=int, default=3, help="ringmon runs, medians reported (default: 3)")
    parser.add_argument("--termshark-timeout", type=float, default=120.0, metavar="S",
                        help="give up waiting for termshark after S seconds (default: 120)")
    parser.add_argument("--no-termshark", action="store_true", help="leave termshark out")
    parser.add_argument("--ringmon", default=default_ringmon(),
                        help="how to start ringmon (default: the ringmon beside this Python, else on PATH)")
    parser.add_argument("--json", metavar="OUT", help="also write the numbers as JSON to OUT (new file; - = stdout)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    ringmon = shlex.split(args.ringmon)
    tools = ["tmux", "tshark", "capinfos", ringmon[0], *([] if args.no_termshark else ["termshark"])]
    missing = next((tool for tool in tools if not shutil.which(tool)), None)
    if missing:
        print(f"read_bench: {missing} is not installed", file=sys.stderr)
        return 2
    if args.file and not args.file.is_file():
        print(f"read_bench: {args.file}: no such file", file=sys.stderr)
        return 2
    cb.unwind_on_signals()  # Ctrl-C, SIGTERM, SIGHUP: the contexts below remove tmux, its apps and the files

    workdir = Path(tempfile.mkdtemp(prefix="read-bench-"))
    try:
        warm_up_file = workdir / "warm-up.pcap"
        packet_mix.write_capture(str(warm_up_file), WARM_UP_PACKETS)
        path = args.file
        if path is None:
            path = workdir / f"mix.{args.file_format}"
            started = time.monotonic()
            packet_mix.write_capture(str(path), args.count, args.file_format)
            print(f"wrote {args.count:,} packets ({path.stat().st_size / MB:,.0f} MB, {args.file_format}) in "
                  f"{time.monotonic() - started:.1f} s", flush=True)
        read_through(path)
        file_mb = path.stat().st_size / MB
        capinfos, capinfos_output = run_command(["capinfos", "-M", str(path)])
        count, file_format = capinfos_facts(capinfos_output)
        jump_targets = [max(1, round(count * target / 1_000_000)) for target in JUMP_TARGETS]
        print(f"{path}: {count:,} packets, {file_mb:,.0f} MB; {machine()}; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        tshark_psml, _ = run_command(["tshark", "-r", str(path), "-T", "psml"], stdout_to_null=True)
        print(f"  tshark psml: {tshark_psml.seconds:.2f} s, {tshark_psml.peak_rss_mb:,.0f} MB", flush=True)
        with Tmux(workdir) as tmux:
            warm_up(tmux, ringmon, warm_up_file, not args.no_termshark)
            ringmon_runs = []
            for repeat in range(args.repeats):
                run = measure_ringmon(tmux, ringmon, path, count, jump_targets)
                ringmon_runs.append(run)
                print(f"  ringmon #{repeat + 1}: first screen {run.first_screen_s:.2f} s, loaded {run.loaded_s:.2f} s, "
                      f"{run.peak_rss_mb:,.0f} MB; End, Home, go to (ms): "
                      + "; ".join(" ".join(f"{ms:.0f}" for ms in presses)
                                  for presses in (run.end_ms, run.home_ms, run.jump_ms)), flush=True)
            termshark = None
            if not args.no_termshark:
                termshark = measure_termshark(tmux, path, args.termshark_timeout)
                print(f"  termshark: first screen {_seconds(termshark.first_screen_s, args.termshark_timeout)}, "
                      f"loaded {_seconds(termshark.loaded_s, args.termshark_timeout)}, "
                      f"{termshark.peak_rss_mb:,.0f} MB", flush=True)
    except KeyboardInterrupt:
        print("read_bench: interrupted; tmux, its apps and the temporary files removed", file=sys.stderr)
        return 130
    except (cb.BenchError, OSError) as err:
        print(f"read_bench: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    results = Results(str(path), file_format, file_mb, count, jump_targets, machine(), args.ringmon, os.getloadavg(),
                      capinfos, tshark_psml, ringmon_runs, termshark)
    print()
    print_table(results, args.termshark_timeout)
    print()
    verdicts = judge_targets(results)
    print_targets(results, verdicts)
    results.targets = {what: {"pass": ok, "measured": detail} for what, (ok, detail) in verdicts.items()}
    if args.json:
        try:
            write_json(args.json, results)
        except OSError as err:
            print(f"read_bench: {args.json}: {err.strerror}", file=sys.stderr)
            return 1
    return 0 if all(ok for ok, _ in verdicts.values()) else 3


if __name__ == "__main__":
    sys.exit(main())
