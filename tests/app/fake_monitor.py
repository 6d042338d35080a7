"""A deterministic stand-in for ringcore.Monitor: every stats() call is one 100 ms step of scripted traffic.

Phases repeat every 10 s: steady, bursty, then a flood the consumer cannot keep up with, so the
ring fills and drops appear at the stage the drop policy says. Same calls, same numbers, every run.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from ringcore import SlotView, WriteStatus
from ringcore.api import (
    TALKERS_SPANS_S,
    CaptureOptions,
    DropPolicy,
    FilterError,
    RingcoreError,
    RingMode,
    RingStats,
    Talker,
    TopTalkers,
    WaitStrategy,
    interface_key,
)

from packet_files import ListStore

from ringmon.iface_facts import InterfaceFacts, NicCounters

STEP_S = 0.1
SLOT_COUNT = 64
SLOT_SIZE = 2048
CONSUMER_PACKETS_PER_STEP = 3000
FRAME_BYTES = 98
TRUNCATED_FLAG = 0x1  # RC_SLOT_TRUNCATED in ringcore.h
STORED_PER_STEP = 20  # of each ring's delivered packets, the fake's store keeps a few: rows to look at
# (a, b, protocol, share of the window's bytes, share of those sent a -> b); the rest is "other"
CONVERSATIONS = (
    ("198.18.0.1", "198.18.0.2", "tcp", 0.55, 0.7),
    ("198.18.0.1", "198.18.0.9", "udp", 0.25, 0.1),
    ("2001:db8::1", "2001:db8::2", "icmp6", 0.1, 0.5),
    ("02:00:c6:12:00:01", "02:00:c6:12:00:02", "arp", 0.06, 1.0),
)


def arrivals_at(step: int) -> int:
    """Packets arriving in one 100 ms step: steady 4 s, bursty 3 s, flood 3 s."""
    phase_step = step % 100
    if phase_step < 40:
        return 500 + (step * 37) % 100
    if phase_step < 70:
        return 2500 if phase_step % 5 == 0 else 50
    return 6000 + (step * 101) % 1000


def fake_frame(index: int) -> bytes:
    """Ethernet/IPv4/UDP whose payload carries markup and control bytes: the UI must show them as data."""
    payload = b"[bold red]not markup[/] \x00\x01\x1b[31m\xff" + bytes(range(index % 7, 40))
    udp = struct.pack("!HHHH", 40000, 40001, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index, 0x4000, 64, 17, 0,
                     bytes([198, 18, 0, 2]), bytes([198, 18, 0, 1])) + udp
    return bytes.fromhex("0200c6120001" "0200c6120002" "0800") + ip


@dataclass
class FakeRing:
    ifname: str
    ifindex: int
    outgoing_share: float  # of arrivals sent by this host
    options: CaptureOptions
    counters: dict[str, int] = field(default_factory=dict)
    batch_hist: list[int] = field(default_factory=lambda: [0] * 16)
    latency_hist: list[int] = field(default_factory=lambda: [0] * 32)
    paused: bool = False
    filter: str | None = None
    drop_policy: DropPolicy = DropPolicy.EARLY
    wait_strategy: WaitStrategy = WaitStrategy.SLEEP
    poll_interval_us: int = 1000
    mode: RingMode = RingMode.COPY
    occupancy: int = 0
    slots_used_high: int = 0
    head: int = 0
    tail: int = 0

    def step(self, step: int) -> None:
        counters = self.counters
        arriving = arrivals_at(step)
        capacity = 0 if self.paused else CONSUMER_PACKETS_PER_STEP
        consumed = min(self.occupancy + arriving, capacity)
        remaining = self.occupancy + arriving - consumed
        kept = min(remaining, SLOT_COUNT)
        dropped = remaining - kept
        taken = arriving if self.drop_policy == DropPolicy.LATE else arriving - dropped
        if self.drop_policy == DropPolicy.EARLY:
            counters["kernel_drops"] = counters.get("kernel_drops", 0) + dropped
        else:
            counters["ring_drops"] = counters.get("ring_drops", 0) + dropped
        outgoing = int(taken * self.outgoing_share)
        # The NIC counts every arrival, captured or dropped; what this host sent, the kernel took whole.
        wire_tx = outgoing + int(dropped * self.outgoing_share)
        counters["wire_rx"] = counters.get("wire_rx", 0) + arriving - wire_tx
        counters["wire_tx"] = counters.get("wire_tx", 0) + wire_tx
        for name, increment in (
            ("kernel_packets", taken), ("kernel_bytes", taken * FRAME_BYTES), ("kernel_seen", arriving),
            ("outgoing_packets", outgoing), ("outgoing_bytes", outgoing * FRAME_BYTES),
            ("delivered", consumed), ("delivered_bytes", consumed * FRAME_BYTES),
            ("truncated", 1 if step % 50 == 49 else 0),
        ):
            counters[name] = counters.get(name, 0) + increment
        polls = 0 if self.paused else max(1, 100 - min(arriving, 10_000) // 120)
        empty = polls // 2 if arriving < 1000 else polls // 10
        counters["polls"] = counters.get("polls", 0) + polls
        counters["empty_polls"] = counters.get("empty_polls", 0) + empty
        counters["sleeps"] = counters.get("sleeps", 0) + empty
        counters["sleep_ns"] = counters.get("sleep_ns", 0) + empty * 1_000_000
        if consumed:
            self.batch_hist[min(8, max(0, (consumed // max(1, polls - empty)).bit_length() - 1))] += polls - empty
            fast, slow = (3, 6) if arriving < 1000 else (9, 11)  # log2 buckets of microseconds
            self.latency_hist[fast] += consumed * 3 // 4
            self.latency_hist[slow] += consumed - consumed * 3 // 4
            counters["latency_sum_ns"] = (counters.get("latency_sum_ns", 0)  # each at its bucket's lower bound
                                          + (consumed * 3 // 4 << fast) * 1000 + (consumed - consumed * 3 // 4 << slow) * 1000)
        self.tail += consumed
        self.occupancy = kept
        self.head = self.tail + kept
        self.slots_used_high = max(self.slots_used_high, kept)

    def stats(self) -> RingStats:
        counters = self.counters
        return RingStats(
            ifname=self.ifname, ifindex=self.ifindex,
            kernel_packets=counters.get("kernel_packets", 0), kernel_bytes=counters.get("kernel_bytes", 0),
            kernel_drops=counters.get("kernel_drops", 0), kernel_seen=counters.get("kernel_seen", 0),
            lost_at_stop=0,
            ring_drops=counters.get("ring_drops", 0), truncated=counters.get("truncated", 0),
            outgoing_packets=counters.get("outgoing_packets", 0), outgoing_bytes=counters.get("outgoing_bytes", 0),
            produced=counters.get("delivered", 0) + self.occupancy,
            head=self.head, delivered=counters.get("delivered", 0), delivered_bytes=counters.get("delivered_bytes", 0),
            tail=self.tail, consuming=self.tail + min(self.occupancy, 5),
            polls=counters.get("polls", 0), empty_polls=counters.get("empty_polls", 0),
            sleeps=counters.get("sleeps", 0), sleep_ns=counters.get("sleep_ns", 0),
            latency_max_ns=4_200_000 if counters.get("delivered") else 0,
            latency_sum_ns=counters.get("latency_sum_ns", 0),
            batch_hist=tuple(self.batch_hist), latency_hist=tuple(self.latency_hist),
            occupancy=self.occupancy, slots_used=self.occupancy, slots_used_high=self.slots_used_high,
            slot_size=SLOT_SIZE, slot_count=SLOT_COUNT, drop_policy=self.drop_policy,
            wait_strategy=self.wait_strategy, poll_interval_us=self.poll_interval_us,
            paused=self.paused, filter=self.filter, mode=self.mode,
        )


class FakeMonitor:
    """The methods of ringcore.Monitor the dashboard calls, over scripted rings."""

    def __init__(self, interfaces: tuple[str, ...] = ("eth0", "eth1")) -> None:
        self._rings = {
            ifname: FakeRing(ifname, number + 2, 0.05 if number % 2 == 0 else 0.5, CaptureOptions())
            for number, ifname in enumerate(interfaces)
        }
        self._steps = 0
        self._writing: WriteStatus | None = None
        self._store = ListStore(names=tuple(self._rings), format="live", done=False)
        self.closed = False
        self.kept_spool: tuple[str, int] | None = None  # a fake session saves no spool

    def clock(self) -> float:
        return self._steps * STEP_S

    @property
    def interfaces(self) -> list[str]:
        return list(self._rings)

    def _ring(self, ifname: str) -> FakeRing:
        try:
            return self._rings[ifname]
        except KeyError:
            raise RingcoreError(f"{ifname} is not plugged") from None

    def plug(self, ifname: str, options: CaptureOptions = CaptureOptions(), *, netns: str | None = None) -> str:
        key = interface_key(ifname, netns)
        if key in self._rings:
            raise RingcoreError(f"{key} is already plugged")
        mode = RingMode.DIRECT if options.direct_dispatch else RingMode.ZERO_COPY if options.zero_copy else RingMode.COPY
        self._rings[key] = FakeRing(ifname, len(self._rings) + 2, 0.1, options, filter=options.filter,
                                    drop_policy=options.drop_policy, wait_strategy=options.wait_strategy,
                                    poll_interval_us=options.poll_interval_us, mode=mode)
        return key

    def recapture(self, key: str) -> None:
        raise RingcoreError(f"{key} is still capturing")  # the fake's interfaces never go down

    def unplug(self, ifname: str) -> None:
        self._ring(ifname)
        del self._rings[ifname]

    def stats(self) -> dict[str, RingStats]:
        self._steps += 1
        for ring in self._rings.values():
            ring.step(self._steps)
        for number, key in enumerate(self._store.names):  # the interfaces plugged from the start
            if key in self._rings and not self._rings[key].paused:
                for index in range(STORED_PER_STEP):
                    self._store.append(1_700_000_000 * 10**9 + self._steps * 10**8 + index, fake_frame(index), number)
        if self._writing is not None:
            delivered = sum(ring.counters.get("delivered", 0) for ring in self._rings.values())
            packets = delivered - self._written_from
            self._writing = replace(self._writing, packets=packets, bytes=packets * (FRAME_BYTES + 16))
        return {ifname: ring.stats() for ifname, ring in self._rings.items()}

    def pause(self, ifname: str, paused: bool) -> None:
        self._ring(ifname).paused = paused

    def set_drop_policy(self, ifname: str, policy: DropPolicy) -> None:
        self._ring(ifname).drop_policy = policy

    def set_wait(self, ifname: str, strategy: WaitStrategy, poll_interval_us: int) -> None:
        ring = self._ring(ifname)
        ring.wait_strategy, ring.poll_interval_us = strategy, poll_interval_us

    def set_mode(self, ifname: str, mode: RingMode) -> None:
        ring = self._ring(ifname)
        ring.mode = mode
        if mode != RingMode.COPY:
            ring.drop_policy = DropPolicy.EARLY

    def set_filter(self, ifname: str, expression: str | None) -> None:
        ring = self._ring(ifname)
        if expression and "bogus" in expression:
            raise FilterError(f"{ifname}: filter {expression!r}: syntax error in filter expression")
        ring.filter = expression

    def reset_high_water(self, ifname: str) -> None:
        ring = self._ring(ifname)
        ring.slots_used_high = ring.occupancy

    def read_slot(self, ifname: str, index: int) -> SlotView | None:
        ring = self._ring(ifname)
        if not 0 <= index < SLOT_COUNT:
            return None
        frame = fake_frame(index)
        flags = TRUNCATED_FLAG if index % 16 == 15 else 0
        return SlotView(index, len(frame), len(frame) + (100 if flags else 0), 1_700_000_000_123_456_789 + index * 1000,
                        ring.ifindex, flags, frame)

    def slot_kinds(self, ifname: str) -> bytes:
        self._ring(ifname)
        return bytes(SLOT_COUNT)  # every packet fits its slot: each slot starts a record

    def top_talkers(self, ifname: str, n: int) -> TopTalkers:
        """The scripted traffic of the last window and of its shorter spans, split over fixed conversations."""
        self._ring(ifname)
        spans = tuple(sum(arrivals_at(step) for step in range(max(1, self._steps - int(span_s / STEP_S) + 1),
                                                               self._steps + 1)) * FRAME_BYTES
                      for span_s in TALKERS_SPANS_S)
        talkers = []
        for a, b, protocol, share, forward in CONVERSATIONS[:n]:
            spans_ab = tuple(int(int(span_bytes * share) * forward) for span_bytes in spans)
            spans_ba = tuple(int(span_bytes * share) - ab for span_bytes, ab in zip(spans, spans_ab))
            talkers.append(Talker(a, b, spans_ab[-1], spans_ba[-1], int(spans[-1] * share) // FRAME_BYTES, protocol,
                                  spans_ab, spans_ba))
        rest_spans = tuple(span_bytes - sum(talker.spans_ab[span] + talker.spans_ba[span] for talker in talkers)
                           for span, span_bytes in enumerate(spans))
        return TopTalkers(tuple(talkers), rest_spans[-1], rest_spans[-1] // FRAME_BYTES, rest_spans=rest_spans)

    def start_writing(self, path: str, fmt: str = "pcapng") -> None:
        if self._writing is not None:
            raise RingcoreError(f"already writing to {self._writing.path}")
        self._written_from = sum(ring.counters.get("delivered", 0) for ring in self._rings.values())
        self._writing = WriteStatus(path, fmt, 0, 0)

    @property
    def store(self) -> ListStore:
        return self._store

    @property
    def writing(self) -> WriteStatus | None:
        return self._writing

    def stop_writing(self) -> WriteStatus:
        if self._writing is None:
            raise RingcoreError("not writing")
        status, self._writing = self._writing, None
        return status

    def close(self) -> None:
        self.closed = True

    def store_error(self) -> str | None:
        return None

    def facts(self, ifname: str, netns: str | None = None) -> InterfaceFacts:
        """Interface facts that do not depend on the machine the tests run on; the NIC counted what
        arrived on the ring's interface (plus what it had counted before), never less than was captured."""
        ring = self._rings.get(interface_key(ifname, netns))
        counters = ring.counters if ring is not None else {}  # unplugged: up, as every interface of the fake
        return InterfaceFacts(
            ifname, netns, is_up=True, has_carrier=True, mtu=1500, speed_mbps=10000, duplex="full",
            addresses=("inet 198.18.0.1/24", "link 02:00:c6:12:00:01"),
            nic=NicCounters(rx_packets=1000 + counters.get("wire_rx", 0), rx_errors=0, rx_drops=0,
                            tx_packets=200 + counters.get("wire_tx", 0)),
        )


