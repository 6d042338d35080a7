"""The process the soak puts under a sanitizer: one ringcore Monitor on two flooded interfaces, faults every few
seconds (unplug and plug, pause, drop policy, rotation of the file), and the accounting of every frame sent. As
the dashboard's, the session stores every packet in a packet store, here a small spool that evicts all along.

Started by bench/soak.py, which owns the network, the sanitizer build and the verdict:

    python soak_driver.py CONFIG.json REPORT.json

Accounting, exact by construction: a generator is stopped (and its frame count read) before its interface is
unplugged and whenever the file rotates, and the soak waits until the ring has taken or dropped every frame it
sent and the drain has emptied the ring. So per plugged period `kernel_packets + kernel_drops` equals the
frames sent, and the writer never changes while a packet is in flight: the files together hold exactly the
packets delivered. The flood runs during everything else (pause, drop policy, the other interface's unplug).
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ringcore.api import (CLASSIC_RING_PAGES, DEFAULT_RING_PAGES, CaptureOptions, DropPolicy, RingcoreError, RingMode,
                          RingStats, StoreOptions, WaitStrategy, interface_key)
from ringcore.monitor import Monitor

GENERATOR = Path(__file__).resolve().parent / "soak_generator.py"
STATS_INTERVAL_S = 0.1  # the dashboard's refresh rate
RSS_SAMPLE_TICKS = 10  # one RSS sample a second
# Under TSan the producer and drain run 5-15x slower: time to take a full kernel ring (8 MiB) and a full ring.
SETTLE_TIMEOUT_S = 60.0
# Ring sizes a plug picks from: the classic 64 slots (full in every burst), 256 slots, and the default 8192.
RING_PAGES_CHOICES = (CLASSIC_RING_PAGES, 129, DEFAULT_RING_PAGES)
# not spin or yield: they would take a shared core (adaptive spins at most 50 us a wait, less once it learns)
WAIT_CHOICES = (WaitStrategy.SLEEP, WaitStrategy.EVENT, WaitStrategy.ADAPTIVE)
# What a plug's ring is: copied into slots, the kernel's blocks read in place, or those with the sinks run in the
# capture thread (CaptureOptions.zero_copy, direct_dispatch); the last two drop only early.
MODE_CHOICES = ("copy", "zero-copy", "direct")
RING_MODES = {"copy": RingMode.COPY, "zero-copy": RingMode.ZERO_COPY, "direct": RingMode.DIRECT}
FAULTS = ("replug", "pause", "drop_policy", "rotate", "mode")
SPOOL_BYTES = 2 << 20  # a few seconds of the soak's traffic: the store evicts from the warm-up on
# An index sized to that spool (1 MiB): evicting, the store walks its whole index over and over, giving its pages
# back behind it, but TSan never gives back the shadow of the default index's 64 MiB.
SPOOL_PACKETS = 1 << 15


class SoakFailure(Exception):
    """The soak found a fault in what it checks; str() is one line."""


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))


def resources() -> dict[str, int]:
    """What a leak would grow: resident memory (rings are populated when made) and open descriptors (packet
    sockets with their kernel rings, eventfds, files). Not the count of mappings: the interpreter's arenas and
    glibc's cache of thread stacks move it without any leak."""
    return {"rss_kib": rss_kib(), "fds": len(os.listdir("/proc/self/fd"))}


def loaded_libraries() -> list[str]:
    """The ringcore library this process runs and the sanitizer runtimes in it: proof of what was tested."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "/" in line}
    return sorted(path for path in paths if re.search(r"/lib(asan|tsan|ubsan)\.so|ringcore", path))


def clean_env() -> dict[str, str]:
    """The environment of helper processes: without the sanitizer runtime, which is for this process only."""
    return {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}


class Generator:
    """A soak_generator.py child in the sender's namespace, spoken to line by line."""

    def __init__(self, netns: str, ifname: str, rate_pps: int, max_burst: int, seed: int):
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-P", str(GENERATOR), ifname, "--rate", str(rate_pps),
             "--max-burst", str(max_burst), "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_env())

    def _ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        if not answer or answer.startswith("error"):
            raise SoakFailure(f"generator: {answer or f'ended (status {self.process.poll()})'}")
        return answer

    def go(self) -> None:
        self._ask("go")

    def stop(self) -> int:
        """Frames sent since go."""
        return int(self._ask("stop").split()[1])

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Period:
    """One plugged period of one interface: what the generator sent, and the ring's final counts."""

    ifname: str
    options: str
    sent: int = 0
    kernel_seen: int = 0
    kernel_packets: int = 0
    kernel_drops: int = 0
    delivered: int = 0
    ring_drops: int = 0

    @property
    def exact(self) -> bool:
        return self.sent == self.kernel_seen == self.kernel_packets + self.kernel_drops


@dataclass
class Link:
    """One capture interface and the generator that floods it."""

    netns: str
    ifname: str
    generator: Generator
    period: Period | None = None  # while plugged
    policy: DropPolicy = DropPolicy.EARLY
    mode: str = "copy"
    paused: bool = False
    flooding: bool = False


@dataclass
class Figures:
    faults: dict[str, int] = field(default_factory=lambda: {"plug": 0, "unplug": 0, "pause": 0, "drop_policy": 0,
                                                             "rotation": 0, "mode": 0})
    periods: list[dict] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    snapshots: int = 0
    identity_violations: int = 0
    first_violation: str | None = None
    resources_start: dict[str, int] = field(default_factory=dict)
    resources_end: dict[str, int] = field(default_factory=dict)
    rss_samples_kib: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    libraries: list[str] = field(default_factory=list)
    failure: str | None = None


class Soak:
    """The monitor, the links and their generators, the faults and the figures."""

    def __init__(self, config: dict):
        self.config = config
        self.random = random.Random(config["seed"])
        self.monitor = Monitor(count_talkers=True,
                               store=StoreOptions(spool_bytes=SPOOL_BYTES, spool_packets=SPOOL_PACKETS,
                                                  directory=config["out_dir"]))
        self.links = [Link(netns, ifname, Generator(sender_ns, sender_if, config["rate_pps"], config["max_burst"],
                                                    config["seed"] + index))
                      for index, (netns, ifname, sender_ns, sender_if) in enumerate(config["links"])]
        self.out_dir = Path(config["out_dir"])
        self.files_written = 0
        self.figures = Figures()
        self.stopping = threading.Event()

    # -- statistics, as the dashboard reads them -----------------------------------------------------------

    def watch_stats(self) -> None:
        """Every snapshot of every ring must close the identity; read from another thread than the faults', as
        the dashboard does (with its talkers and the file's status)."""
        try:
            self._watch_stats()
        except Exception as error:  # noqa: BLE001  (a thread's exception would otherwise only be printed)
            self.figures.failure = f"statistics thread: {error!r}"

    def _watch_stats(self) -> None:
        ticks = 0
        while not self.stopping.wait(STATS_INTERVAL_S):
            for stats in self.monitor.stats().values():
                self.figures.snapshots += 1
                violation = None
                if stats.kernel_packets != stats.delivered + stats.ring_drops + stats.occupancy:
                    violation = (f"kernel_packets {stats.kernel_packets} != delivered {stats.delivered} "
                                 f"+ ring_drops {stats.ring_drops} + occupancy {stats.occupancy}")
                elif stats.delivered != stats.stored or stats.store_failed or stats.store_held < 0:
                    violation = (f"delivered {stats.delivered} != stored {stats.stored} (not stored "
                                 f"{stats.store_failed}, evicted {stats.store_evicted})")
                if violation:
                    self.figures.identity_violations += 1
                    self.figures.first_violation = self.figures.first_violation or f"{stats.ifname}: {violation}"
            for ifname in self.monitor.interfaces:
                with contextlib.suppress(RingcoreError):  # unplugged since: the API's answer, not a fault
                    self.monitor.top_talkers(ifname, 10)
            _ = self.monitor.writing
            if ticks % RSS_SAMPLE_TICKS == 0:
                self.figures.rss_samples_kib.append(rss_kib())
            ticks += 1

    def stats_of(self, link: Link) -> RingStats:
        return self.monitor.stats()[interface_key(link.ifname, link.netns)]

    # -- quiet moments: every frame sent is taken or dropped, and the ring is empty ---------------------------

    def settle(self, link: Link) -> RingStats:
        """Stop the link's generator and wait until its ring has accounted for every frame and delivered all."""
        if link.flooding:
            link.period.sent += link.generator.stop()
            link.flooding = False
        if link.paused:
            self.set_paused(link, False)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            stats = self.stats_of(link)
            if (stats.kernel_seen == link.period.sent == stats.kernel_packets + stats.kernel_drops
                    and stats.occupancy == 0 and stats.consuming == stats.tail):
                return stats
            if time.monotonic() > deadline:
                raise SoakFailure(
                    f"{link.ifname}: {link.period.sent} frames sent, but after {SETTLE_TIMEOUT_S:g} s the ring has "
                    f"kernel_seen {stats.kernel_seen}, kernel_packets {stats.kernel_packets}, kernel_drops "
                    f"{stats.kernel_drops}, occupancy {stats.occupancy}")
            time.sleep(0.02)

    def flood(self, link: Link) -> None:
        link.generator.go()
        link.flooding = True

    # -- faults -----------------------------------------------------------------------------------------------

    def plug(self, link: Link) -> None:
        link.mode = self.random.choice(MODE_CHOICES)
        if link.mode != "copy":
            link.policy = DropPolicy.EARLY
        options = CaptureOptions(ring_pages=self.random.choice(RING_PAGES_CHOICES), drop_policy=link.policy,
                                 wait_strategy=self.random.choice(WAIT_CHOICES), zero_copy=link.mode == "zero-copy",
                                 direct_dispatch=link.mode == "direct")
        self.monitor.plug(link.ifname, options, netns=link.netns)
        link.period = Period(link.ifname, f"{link.mode}, {options.ring_pages} pages, "
                                          f"{options.drop_policy.name.lower()}, {options.wait_strategy.name.lower()}")
        self.figures.faults["plug"] += 1
        self.flood(link)

    def unplug(self, link: Link) -> None:
        stats = self.settle(link)
        period = link.period
        period.kernel_seen, period.kernel_packets, period.kernel_drops = (
            stats.kernel_seen, stats.kernel_packets, stats.kernel_drops)
        period.delivered, period.ring_drops = stats.delivered, stats.ring_drops
        self.monitor.unplug(link.ifname)
        link.period = None
        self.figures.periods.append({**asdict(period), "exact": period.exact})
        self.figures.faults["unplug"] += 1
        if not period.exact:
            raise SoakFailure(f"{period.ifname}: sent {period.sent}, kernel_seen {period.kernel_seen}, kernel took "
                              f"{period.kernel_packets} and dropped {period.kernel_drops}")

    def replug(self, link: Link) -> None:
        self.unplug(link)
        self.plug(link)

    def set_paused(self, link: Link, paused: bool) -> None:
        self.monitor.pause(link.ifname, paused)
        link.paused = paused

    def pause(self, link: Link) -> None:
        """The drain stops until the next fault: the ring fills and the policy drops."""
        self.set_paused(link, True)
        self.figures.faults["pause"] += 1

    def drop_policy(self, link: Link) -> None:
        policy = DropPolicy.LATE if link.policy is DropPolicy.EARLY else DropPolicy.EARLY
        self.figures.faults["drop_policy"] += 1
        try:
            self.monitor.set_drop_policy(link.ifname, policy)
        except RingcoreError:
            if link.mode == "copy":
                raise
            return  # the kernel's blocks drop only early: refused, as it should be
        if link.mode != "copy":
            raise SoakFailure(f"{link.ifname}: a {link.mode} ring took drop-late")
        link.policy = policy

    def mode(self, link: Link) -> None:
        """Switch a plugged ring to another kind mid-flood (Monitor.set_mode): its period's count stays exact."""
        if link.period is None:
            return
        link.mode = self.random.choice([mode for mode in MODE_CHOICES if mode != link.mode])
        self.monitor.set_mode(link.ifname, RING_MODES[link.mode])
        if link.mode != "copy":
            link.policy = DropPolicy.EARLY
        link.period.options += f" -> {link.mode}"
        self.figures.faults["mode"] += 1

    def start_file(self) -> None:
        self.files_written += 1
        self.monitor.start_writing(str(self.out_dir / f"soak-{self.files_written:04d}.pcapng"), "pcapng")

    def close_file(self) -> None:
        """Close the file and compare what it holds, read by capinfos, with what the writer counted."""
        status = self.monitor.stop_writing()
        if status.error:
            raise SoakFailure(f"writing {status.path}: {status.error}")
        counted = subprocess.run(["capinfos", "-M", "-c", "-T", "-r", status.path], capture_output=True, text=True,
                                 env=clean_env(), timeout=120)
        if counted.returncode != 0:
            raise SoakFailure(f"capinfos {status.path}: {counted.stderr.strip()}")
        in_file = int(counted.stdout.split()[-1])
        self.figures.files.append({"path": status.path, "written": status.packets, "in_file": in_file})
        os.unlink(status.path)  # a minutes-long flood would fill the disk
        if in_file != status.packets:
            raise SoakFailure(f"{status.path} holds {in_file} packets, the writer counted {status.packets}")

    def rotate(self, _link: Link) -> None:
        plugged = [link for link in self.links if link.period is not None]
        for link in plugged:
            self.settle(link)
        self.close_file()
        self.start_file()
        self.figures.faults["rotation"] += 1
        for link in plugged:
            self.flood(link)

    # -- the run ----------------------------------------------------------------------------------------------

    def cycle(self, seconds: float) -> None:
        """Open a file, plug every link, run the faults for `seconds`, unplug every link and close the file."""
        self.start_file()
        for link in self.links:
            self.plug(link)
        self.fault_loop(time.monotonic() + seconds)
        for link in self.links:
            self.unplug(link)
        self.close_file()

    def run(self) -> None:
        # Started first, so that the start figures include its thread's stack (glibc keeps it after the join).
        watcher = threading.Thread(target=self.watch_stats, name="soak-stats")
        watcher.start()
        try:
            # The start figures are taken after a warm-up, so they include what any run keeps for good: the
            # interpreter's caches, the allocators' pools, the sanitizer's own tables (TSan's grow for ~20 s).
            self.cycle(self.config["warm_up_s"])
            self.figures.faults = dict.fromkeys(self.figures.faults, 0)
            self.figures.resources_start = resources()
            started = time.monotonic()
            self.cycle(self.config["duration_s"])
        finally:
            self.stopping.set()
            watcher.join()
        self.figures.duration_s = time.monotonic() - started
        self.figures.resources_end = resources()
        self.figures.libraries = loaded_libraries()

    def fault_loop(self, end: float) -> None:
        turn = 0
        while time.monotonic() < end:
            time.sleep(max(0.0, min(self.config["fault_interval_s"], end - time.monotonic())))
            for link in self.links:
                if link.paused:
                    self.set_paused(link, False)
            fault = FAULTS[turn % len(FAULTS)]
            getattr(self, fault)(self.random.choice(self.links))
            turn += 1

    def close(self) -> None:
        """After a failure too: generators end (end of input), every ring and the file are closed."""
        self.stopping.set()
        for link in self.links:
            link.generator.close()
        self.monitor.close()


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text())
    soak = Soak(config)
    try:
        soak.run()
    except SoakFailure as failure:
        soak.figures.failure = str(failure)
    finally:
        soak.close()
        Path(sys.argv[2]).write_text(json.dumps(asdict(soak.figures), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
