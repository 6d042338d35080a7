"""`ringmon demo`: two network namespaces of its own joined by a veth pair, traffic between them, and the
dashboard on both ends; everything it made is removed when it exits, however it exits.

Safety: both ends of the veth live in the demo's namespaces (never the host's), addresses come
from 198.18.0.0/15 (RFC 2544 benchmarking), the namespaces never forward and have no route
beyond their own /24, and the generator stops with the demo.
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from ringcore import in_netns
from ringcore.api import CLASSIC_RING_PAGES, CaptureOptions, DropPolicy, StoreOptions

from ..cli import say, store_options
from ..dashboard import PlugRequest, run_plugged

NAMESPACE_PREFIX = "ringmon-demo-"
DEMO_SUBNET = "198.18.250"
IP_TIMEOUT_S = 30.0
GENERATOR_STOP_TIMEOUT_S = 3.0
# capability(7) bit numbers: `ip netns add` bind-mounts (SYS_ADMIN), veths and addresses need
# NET_ADMIN, capturing needs NET_RAW.
REQUIRED_CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21}
# What each phase of the traffic generator (demo_traffic.PHASES) shows, said on screen while it runs.
PHASE_MEANINGS = {
    "steady": "steady, 2k packets/s: the consumer keeps up",
    "bursty": "bursty, 5k packets each second: the ring fills, then drains",
    "flood": "flood: b drops at its full ring; a leaves the rest in the kernel",
}
CLASSIC_RING_NOTE = "ring: the classic 64 slots, small enough for a flood to fill"
NAMESPACE_SYSCTLS = {
    "net.ipv4.ip_forward": "0",  # a new namespace copies the host's setting: never route anything
    "net.ipv6.conf.all.disable_ipv6": "1",  # no router solicitations or DAD in the demo's captures
    "net.ipv6.conf.default.disable_ipv6": "1",
}


class DemoError(Exception):
    """Setting the demo up failed; str() is one line."""


def missing_capabilities() -> list[str]:
    with open("/proc/self/status") as status:
        effective = int(next(line.split()[1] for line in status if line.startswith("CapEff:")), 16)
    return [name for name, bit in REQUIRED_CAPABILITIES.items() if not effective >> bit & 1]


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if result.returncode != 0:
        raise DemoError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass
class DemoNetwork:
    """The demo's namespaces, veth pair and traffic generator; remove() undoes all of it, and may run twice."""

    ns_a: str
    ns_b: str
    if_a: str = "demo-a"
    if_b: str = "demo-b"
    mac_a: str = "02:00:c6:12:fa:01"
    mac_b: str = "02:00:c6:12:fa:02"
    ip_a: str = f"{DEMO_SUBNET}.1"
    ip_b: str = f"{DEMO_SUBNET}.2"
    generator: subprocess.Popen | None = None
    generator_log: tempfile._TemporaryFileWrapper | None = None
    phase_file: tempfile._TemporaryFileWrapper | None = None  # the generator writes its phase's name there
    stopping_generator: bool = False
    created: list[str] = field(default_factory=list)

    @classmethod
    def for_this_process(cls) -> DemoNetwork:
        pid = os.getpid()
        return cls(f"{NAMESPACE_PREFIX}{pid}-a", f"{NAMESPACE_PREFIX}{pid}-b")

    def create(self) -> None:
        for ns in (self.ns_a, self.ns_b):
            _ip("netns", "add", ns)
            self.created.append(ns)
            with in_netns(ns):
                for name, value in NAMESPACE_SYSCTLS.items():
                    # /proc/sys/net resolves against the writing thread's namespace.
                    with open("/proc/sys/" + name.replace(".", "/"), "w") as sysctl:
                        sysctl.write(value)
        # Both ends are created inside their namespaces: not a moment in the host's.
        _ip("link", "add", self.if_a, "address", self.mac_a, "netns", self.ns_a, "type", "veth",
            "peer", "name", self.if_b, "address", self.mac_b, "netns", self.ns_b)
        for ns, ifname, address in ((self.ns_a, self.if_a, self.ip_a), (self.ns_b, self.if_b, self.ip_b)):
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")

    def plug_requests(self, ring: dict[str, int]) -> list[PlugRequest]:
        """Both ends, with `ring` sizes. The sending end (a) drops early, in the kernel; the receiving
        end (b) drops late, copied and then counted at the ring: a flood shows both stages side by side."""
        return [PlugRequest(self.if_a, CaptureOptions(**ring, drop_policy=DropPolicy.EARLY), self.ns_a),
                PlugRequest(self.if_b, CaptureOptions(**ring, drop_policy=DropPolicy.LATE), self.ns_b)]

    def start_traffic(self) -> None:
        # The generator's stderr goes to a file: the terminal belongs to the dashboard.
        self.generator_log = tempfile.NamedTemporaryFile("w+", prefix="ringmon-demo-", suffix=".log")
        self.phase_file = tempfile.NamedTemporaryFile("w+", prefix="ringmon-demo-", suffix=".phase")
        self.generator = subprocess.Popen(
            [sys.executable, "-P", "-m", "ringmon.commands.demo_traffic",
             "--netns-a", self.ns_a, "--if-a", self.if_a, "--mac-a", self.mac_a, "--ip-a", self.ip_a,
             "--netns-b", self.ns_b, "--if-b", self.if_b, "--mac-b", self.mac_b, "--ip-b", self.ip_b,
             "--parent-pid", str(os.getpid()), "--phase-file", self.phase_file.name],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.generator_log,
        )

    def generator_failure(self) -> str | None:
        """Why the generator died, if it died without being asked to: its last error line, or how it ended."""
        if self.generator is None or self.stopping_generator or self.generator.poll() in (None, 0):
            return None
        assert self.generator_log is not None
        self.generator_log.seek(0)
        lines = self.generator_log.read().strip().splitlines()
        status = self.generator.returncode
        ended = f"killed by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
        return f"the traffic generator died ({ended}){': ' + lines[-1] if lines else ''}"

    def phase_note(self) -> str | None:
        """What the demo is doing now, for the dashboard's line under the session bar."""
        if self.phase_file is None:
            return None
        self.phase_file.seek(0)
        phase = self.phase_file.read().strip()
        # two lines whatever the phase from 80 columns: the panels below do not move as the phases change
        return f"demo phase: {PHASE_MEANINGS.get(phase, 'starting')}\n{CLASSIC_RING_NOTE}"

    def remove(self) -> None:
        self.stopping_generator = True
        if self.generator is not None and self.generator.poll() is None:
            self.generator.terminate()
            try:
                self.generator.wait(GENERATOR_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.generator.kill()
                self.generator.wait()
        if self.phase_file is not None:
            self.phase_file.close()  # and removed
        # Deleting a namespace destroys its veth end and with it the peer.
        while self.created:
            subprocess.run(["ip", "netns", "del", self.created.pop()], capture_output=True, timeout=IP_TIMEOUT_S)


def _raise_exit(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def run_demo(args: argparse.Namespace | None = None) -> int:
    """Returns the exit status. `args` may carry `ring_pages` and `slot_size` (defaults: the classic ring), and the
    store's flags."""
    store = store_options(args) if args is not None else StoreOptions()  # a UsageError: cli.main exits 2
    missing = missing_capabilities()
    if missing:
        say(f"demo needs {', '.join(missing)} (run as root)")
        return 1
    if shutil.which("ip") is None:
        say("demo needs `ip` from iproute2")
        return 1
    # The classic 64-slot ring by default: small enough that the flood visibly fills it.
    ring = {"ring_pages": getattr(args, "ring_pages", None) or CLASSIC_RING_PAGES}
    if getattr(args, "slot_size", None):
        ring["slot_size"] = args.slot_size
    demo = DemoNetwork.for_this_process()
    atexit.register(demo.remove)  # backstop for exits that skip the finally below
    previous = {signum: signal.signal(signum, _raise_exit) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        try:
            demo.create()
            demo.start_traffic()
        except (DemoError, OSError, subprocess.SubprocessError) as error:
            say(f"demo: {error}")
            return 1
        # The demo is about one ring filling: it opens on the first one's panel (o shows both side by side).
        return run_plugged(demo.plug_requests(ring), plug_options=CaptureOptions(**ring),
                           background_failure=demo.generator_failure, note=demo.phase_note, store=store,
                           overview_at_start=False)
    finally:
        for signum in previous:  # cleanup must not be cut short by a second signal
            signal.signal(signum, signal.SIG_IGN)
        demo.remove()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
