#!/usr/bin/env python3
"""Soak: a bursty flood on two interfaces for minutes, with unplug and plug, pause, drop-policy changes and
rotation of the file every few seconds, through the public Python API (ringcore.Monitor), with ringcore's C
library built under AddressSanitizer+UBSan or ThreadSanitizer. It passes when no sanitizer reports anything,
every frame sent is accounted for exactly, and the process keeps no memory, descriptor or mapping per cycle.

    python bench/soak.py --minutes 10 --sanitizer asan|tsan|none [--rate PPS] [--json SUMMARY.json]

Needs root (namespaces, packet sockets), iproute2, gcc and capinfos (Debian: tshark). See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import capture_bench as cb

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
C_SOURCES = ROOT / "src" / "ringcore" / "src"
DRIVER = BENCH_DIR / "soak_driver.py"
# setup.py's flags (its sources are every C file of C_SOURCES); a sanitizer build swaps -O2 for its own.
SETUP_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread", "-shared", "-fPIC"]
SANITIZER_FLAGS = {
    "none": ["-O2"],
    "asan": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
    "tsan": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=thread"],
}
# The interpreter is not instrumented, so the sanitizer's runtime must be loaded before it starts.
SANITIZER_RUNTIME = {"asan": "libasan.so", "tsan": "libtsan.so"}
SANITIZER_OPTIONS = {
    # detect_leaks=0: CPython does not free its interned objects, arenas and modules at exit, so LeakSanitizer
    # would report the interpreter on every run. Leaks of ringcore show in the soak's own resource figures.
    # quarantine_size_mb: freed blocks wait there to catch a use after free; bounded so that RSS can be flat.
    "asan": {"ASAN_OPTIONS": "detect_leaks=0 halt_on_error=1 detect_stack_use_after_return=1 quarantine_size_mb=16",
             "UBSAN_OPTIONS": "print_stacktrace=1 halt_on_error=1"},
    # No suppressions: the interpreter is not instrumented, so TSan sees only ringcore's accesses (and libc's).
    "tsan": {"TSAN_OPTIONS": "halt_on_error=0 second_deadlock_stack=1"},
    "none": {},
}
SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:")
NAMESPACE_TAG = "rms"
DEFAULT_RATE_PPS = 20_000
DEFAULT_MAX_BURST = 2_000
DEFAULT_FAULT_INTERVAL_S = 2.0
DEFAULT_WARM_UP_S = 30.0
# RSS may end this much above where it started (after the warm-up), in KiB: two default rings are 32 MiB, so a
# leaked ring, or ~1 KiB kept per fault over a 10-minute soak, exceeds it; what moves without leaking is the
# allocators' free lists and the ASan quarantine's fill, a few MiB.
RSS_TOLERANCE_KIB = 8 * 1024
# Set-up, warm-up and the final accounting on top of the flood's duration, generous for TSan's slowdown.
DRIVER_OVERHEAD_S = 300


class SoakNetwork:
    """Namespaces rms-<pid>-s (senders) and rms-<pid>-r (capture ends) joined by two veth pairs, both ends of
    each inside them. No addresses and no IPv6: the capture ends send nothing, so they carry only the flood."""

    def __init__(self, pairs: int = 2) -> None:
        tag = f"{NAMESPACE_TAG}-{os.getpid()}"
        self.sender_ns, self.capture_ns = f"{tag}-s", f"{tag}-r"
        self.pairs = [(f"{tag}-s{index}", f"{tag}-r{index}") for index in range(pairs)]  # <= 15 characters
        self._created: list[str] = []

    def __enter__(self) -> SoakNetwork:
        cb.remove_stale_namespaces(NAMESPACE_TAG)
        try:
            for ns in (self.sender_ns, self.capture_ns):
                cb.run("ip", "netns", "add", ns)
                self._created.append(ns)
                cb.run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                       "net.ipv6.conf.default.disable_ipv6=1")
            for sender_if, capture_if in self.pairs:
                cb.run("ip", "link", "add", sender_if, "netns", self.sender_ns, "type", "veth",
                       "peer", "name", capture_if, "netns", self.capture_ns)
                cb.run("ip", "-n", self.sender_ns, "link", "set", sender_if, "up")
                cb.run("ip", "-n", self.capture_ns, "link", "set", capture_if, "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for ns in reversed(self._created):
            cb.run("ip", "netns", "del", ns, check=False)  # takes the veth pairs with it
        self._created.clear()

    def links(self) -> list[tuple[str, str, str, str]]:
        """(capture namespace, capture interface, sender namespace, sender interface) per pair."""
        return [(self.capture_ns, capture_if, self.sender_ns, sender_if) for sender_if, capture_if in self.pairs]


def build_library(sanitizer: str, out_dir: Path) -> Path:
    """ringcore's C library from this tree's sources, as setup.py builds it, with the sanitizer's flags."""
    library = out_dir / f"ringcore-{sanitizer}.so"
    built = subprocess.run(["gcc", *SETUP_FLAGS, *SANITIZER_FLAGS[sanitizer],
                            *map(str, sorted(C_SOURCES.glob("*.c"))), "-lpcap", "-o", str(library)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise cb.BenchError(f"building ringcore ({sanitizer}) failed:\n{built.stderr}")
    return library


def driver_environment(sanitizer: str, library: Path) -> dict[str, str]:
    """This tree's Python package, the library just built in its place, and the sanitizer's runtime and options."""
    env = {**os.environ, **SANITIZER_OPTIONS[sanitizer], "RINGCORE_LIBRARY": str(library),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    if sanitizer in SANITIZER_RUNTIME:
        runtime = subprocess.run(["gcc", f"-print-file-name={SANITIZER_RUNTIME[sanitizer]}"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        env["LD_PRELOAD"] = runtime
    return env


def run_driver(args: argparse.Namespace, network: SoakNetwork, workdir: Path) -> tuple[dict, str, int]:
    """Run the soak's driver under the sanitizer: (its figures, its stderr, its exit status)."""
    library = build_library(args.sanitizer, workdir)
    out_dir = workdir / "files"
    out_dir.mkdir()
    config = {"links": network.links(), "duration_s": args.seconds, "rate_pps": args.rate,
              "max_burst": args.max_burst, "fault_interval_s": args.fault_interval, "seed": args.seed,
              "warm_up_s": args.warm_up,
              "out_dir": str(out_dir)}
    config_path, report_path, log_path = workdir / "config.json", workdir / "report.json", workdir / "driver.log"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, str(DRIVER), str(config_path), str(report_path)]
    if args.sanitizer == "tsan":  # TSan's fixed shadow layout; without ASLR it always maps
        command = ["setarch", platform.machine(), "-R", *command]
    with open(log_path, "w+") as log:
        try:
            status = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=driver_environment(args.sanitizer, library),
                                    timeout=args.seconds + DRIVER_OVERHEAD_S, preexec_fn=cb._die_with_parent).returncode
        except subprocess.TimeoutExpired:
            status = -1
        log.seek(0)
        output = log.read()
    figures = json.loads(report_path.read_text()) if report_path.exists() else {}
    return figures, output, status


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def judge(sanitizer: str, figures: dict, output: str, status: int) -> tuple[list[Check], list[str]]:
    """The soak's checks, and the sanitizer reports' first lines."""
    reports = [line for line in output.splitlines() if SANITIZER_REPORT.search(line)]
    periods, files = figures.get("periods", []), figures.get("files", [])
    sent = sum(p["sent"] for p in periods)
    delivered = sum(p["delivered"] for p in periods)
    inexact = [p for p in periods if not p["exact"]]
    in_files = sum(f["in_file"] for f in files)
    start, end = figures.get("resources_start", {}), figures.get("resources_end", {})
    rss_growth = end.get("rss_kib", 0) - start.get("rss_kib", 0)
    failure = figures.get("failure") or (f"driver exited with status {status}" if status else None)
    libraries = figures.get("libraries", [])
    expected = [f"ringcore-{sanitizer}.so"]
    if sanitizer in SANITIZER_RUNTIME:
        expected.append(SANITIZER_RUNTIME[sanitizer].removesuffix(".so"))
    checks = [
        Check("driver ran to the end", not failure and bool(end), failure or "yes"),
        Check("ran this build", all(any(name in path for path in libraries) for name in expected),
              ", ".join(Path(path).name for path in libraries) or "unknown"),
        Check("sanitizer reports", not reports, f"{len(reports)}"),
        Check("sent = kernel took + kernel dropped, per plugged period", bool(periods) and not inexact,
              f"{len(periods) - len(inexact)} of {len(periods)} periods exact; {sent:,} sent"),
        Check("packets in the files = delivered", bool(files) and in_files == delivered,
              f"{in_files:,} in {len(files)} files, {delivered:,} delivered"),
        Check("identity in every snapshot", figures.get("snapshots", 0) > 0 and not figures.get("identity_violations"),
              f"{figures.get('identity_violations', 0)} violations in {figures.get('snapshots', 0):,} snapshots"
              + (f"; first: {figures['first_violation']}" if figures.get("first_violation") else "")),
        Check(f"RSS growth <= {RSS_TOLERANCE_KIB // 1024} MiB", bool(end) and rss_growth <= RSS_TOLERANCE_KIB,
              f"{start.get('rss_kib', 0) / 1024:.1f} -> {end.get('rss_kib', 0) / 1024:.1f} MiB "
              f"({rss_growth / 1024:+.1f})"),
        Check("open descriptors as at the start", bool(end) and start.get("fds") == end.get("fds"),
              f"{start.get('fds')} -> {end.get('fds')}"),
    ]
    return checks, reports


def summary(args: argparse.Namespace, figures: dict, checks: list[Check], reports: list[str]) -> dict:
    periods = figures.get("periods", [])
    return {
        "sanitizer": args.sanitizer,
        "duration_s": round(figures.get("duration_s", 0.0), 1),
        "warm_up_s": args.warm_up,
        "sent": sum(p["sent"] for p in periods),
        "kernel_packets": sum(p["kernel_packets"] for p in periods),
        "kernel_drops": sum(p["kernel_drops"] for p in periods),
        "delivered": sum(p["delivered"] for p in periods),
        "ring_drops": sum(p["ring_drops"] for p in periods),
        "in_files": sum(f["in_file"] for f in figures.get("files", [])),
        "files": len(figures.get("files", [])),
        "faults": figures.get("faults", {}),
        "snapshots": figures.get("snapshots", 0),
        "sanitizer_reports": len(reports),
        "rss_start_kib": figures.get("resources_start", {}).get("rss_kib"),
        "rss_end_kib": figures.get("resources_end", {}).get("rss_kib"),
        "rss_max_kib": max(figures.get("rss_samples_kib") or [0]),
        "rss_samples_kib": figures.get("rss_samples_kib", []),  # one a second, from the warm-up on
        "checks": {check.name: check.passed for check in checks},
        "passed": all(check.passed for check in checks),
    }


def print_summary(result: dict, checks: list[Check], reports: list[str], command: str) -> None:
    faults = result["faults"]
    print(f"soak ({result['sanitizer']}): {command}")
    print(f"  duration      {result['duration_s']:.1f} s, after a {result['warm_up_s']:g} s warm-up")
    print(f"  sent          {result['sent']:>12,}  (two interfaces, bursty; packets include the warm-up's)")
    print(f"  kernel took   {result['kernel_packets']:>12,}  kernel dropped {result['kernel_drops']:,}")
    print(f"  delivered     {result['delivered']:>12,}  ring dropped {result['ring_drops']:,}")
    print(f"  in files      {result['in_files']:>12,}  ({result['files']} files, read by capinfos)")
    print(f"  faults        (after the warm-up) plug {faults.get('plug', 0)}, unplug {faults.get('unplug', 0)}, "
          f"pause {faults.get('pause', 0)}, drop policy {faults.get('drop_policy', 0)}, "
          f"rotation {faults.get('rotation', 0)}, mode {faults.get('mode', 0)}")
    print(f"  RSS           start {result['rss_start_kib'] or 0:,} KiB, end {result['rss_end_kib'] or 0:,} KiB, "
          f"max {result['rss_max_kib']:,} KiB")
    for check in checks:
        print(f"  {'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    for line in reports[:5]:
        print(f"  report: {line.strip()}")
    print("soak passed" if result["passed"] else "soak FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long the flood and faults run (default 10)")
    length.add_argument("--seconds", type=float, help="the same, in seconds")
    parser.add_argument("--sanitizer", choices=list(SANITIZER_FLAGS), default="asan")
    parser.add_argument("--rate", type=int, default=DEFAULT_RATE_PPS,
                        help=f"average frames per second per interface (default {DEFAULT_RATE_PPS:,})")
    parser.add_argument("--max-burst", type=int, default=DEFAULT_MAX_BURST,
                        help=f"largest burst in frames, sent back to back (default {DEFAULT_MAX_BURST:,})")
    parser.add_argument("--fault-interval", type=float, default=DEFAULT_FAULT_INTERVAL_S,
                        help=f"seconds between faults (default {DEFAULT_FAULT_INTERVAL_S:g})")
    parser.add_argument("--warm-up", type=float, default=DEFAULT_WARM_UP_S,
                        help=f"seconds of flood and faults before the start figures (default {DEFAULT_WARM_UP_S:g})")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--keep-log", type=Path, help="copy the driver's stderr (sanitizer reports) here")
    args = parser.parse_args(argv)
    args.seconds = args.seconds if args.seconds is not None else 60 * (args.minutes or 10)
    if args.seconds < 1 or args.rate < 1 or args.max_burst < 1 or args.fault_interval <= 0:
        parser.error("--seconds/--minutes, --rate and --max-burst must be positive")
    problem = cb.setup_error(("ip", "gcc", "capinfos", "setarch"))
    if problem:
        print(f"soak: {problem}", file=sys.stderr)
        return 2
    cb.unwind_on_signals()
    workdir = Path(tempfile.mkdtemp(prefix="rms-"))
    started = time.monotonic()
    try:
        with SoakNetwork() as network:
            figures, output, status = run_driver(args, network, workdir)
        if args.keep_log:
            args.keep_log.write_text(output)
    except KeyboardInterrupt:
        print("soak: interrupted; namespaces removed", file=sys.stderr)
        return 130
    except cb.BenchError as err:
        print(f"soak: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    checks, reports = judge(args.sanitizer, figures, output, status)
    result = summary(args, figures, checks, reports)
    result["wall_s"] = round(time.monotonic() - started, 1)
    print_summary(result, checks, reports, " ".join(["python", "bench/soak.py", *(argv or sys.argv[1:])]))
    if not result["passed"] and output.strip():
        print("driver output (last lines):\n" + "\n".join(output.splitlines()[-30:]), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if result["passed"] else 3


if __name__ == "__main__":
    sys.exit(main())
