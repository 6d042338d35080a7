"""Turns cumulative ring and NIC counters into what the dashboard shows: per-second rates, latency over the
last seconds, and the last minute of rates."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ringcore.api import RingStats, WaitStrategy

from .iface_facts import NicCounters

REFRESH_HZ = 10
LATENCY_WINDOW_S = 5.0  # long enough for a p99 of few samples, short enough that a pause's backlog ages out
HISTORY_S = 60


@dataclass(frozen=True)
class RingRates:
    """Per-second rates and shares over the last second, from two snapshots of one ring."""

    rx_pps: float = 0.0
    rx_bps: float = 0.0
    tx_pps: float = 0.0
    tx_bps: float = 0.0
    kernel_drops_ps: float = 0.0
    ring_drops_ps: float = 0.0
    truncated_ps: float = 0.0
    polls_ps: float = 0.0
    empty_poll_share: float = 0.0
    sleeps_ps: float = 0.0
    asleep_share: float = 0.0  # of wall time the consumer spent sleeping
    batch_hist: tuple[int, ...] = ()  # batches per size bucket within the window

    @property
    def taken_pps(self) -> float:
        """Packets per second taken from the kernel, both ways: what the wire's rx + tx became once filtered."""
        return self.rx_pps + self.tx_pps


@dataclass(frozen=True)
class WireRates:
    """Packets per second the interface itself counted (/proc/net/dev): what crossed the wire, captured or not."""

    rx_pps: float
    tx_pps: float


@dataclass(frozen=True)
class LatencySummary:
    """Capture-to-consume latency over one window, in µs; no percentile is above the max."""

    p50_us: float | None = None  # upper bounds: a log2 bucket's edge, or the max when that is lower
    p99_us: float | None = None
    max_us: float | None = None
    max_is_exact: bool = False  # else max_us is an upper bound too


def histogram_upper_edge_us(latency_hist: tuple[int, ...], quantile: float) -> int | None:
    """The upper edge (µs) of the log2 bucket holding `quantile` of the samples; None when empty.

    Bucket b holds latencies in [2^b, 2^(b+1)) µs, so the edge is an upper bound, never an estimate
    below the truth.
    """
    total = sum(latency_hist)
    if total == 0:
        return None
    threshold = quantile * total
    running = 0
    for bucket, count in enumerate(latency_hist):
        running += count
        if running >= threshold:
            return 2 ** (bucket + 1)
    return 2 ** len(latency_hist)


def _difference(newer: tuple[int, ...], older: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(newer, older))


def latency_summary(older: RingStats, newer: RingStats) -> LatencySummary:
    """The latency of the packets released between two snapshots.

    The ring keeps one all-time max: if it grew between the snapshots it is this window's max;
    otherwise the window's max lies in its highest non-empty bucket, so that bucket's edge, or
    the all-time max when lower, bounds it.
    """
    latency_hist = _difference(newer.latency_hist, older.latency_hist)
    highest = max((bucket for bucket, count in enumerate(latency_hist) if count), default=None)
    if highest is None:
        return LatencySummary()
    all_time_max_us = newer.latency_max_ns / 1000
    if newer.latency_max_ns > older.latency_max_ns:
        max_us, exact = all_time_max_us, True
    elif all_time_max_us >= (2 ** highest if highest else 0):
        max_us, exact = min(2 ** (highest + 1), all_time_max_us), False
    else:  # a snapshot taken between a release's histogram and max updates
        max_us, exact = 2 ** (highest + 1), False
    return LatencySummary(
        p50_us=min(histogram_upper_edge_us(latency_hist, 0.50), max_us),
        p99_us=min(histogram_upper_edge_us(latency_hist, 0.99), max_us),
        max_us=max_us, max_is_exact=exact,
    )


def ring_rates(older: RingStats, newer: RingStats, elapsed_s: float) -> RingRates:
    if elapsed_s <= 0:
        return RingRates()

    def per_second(field: str) -> float:
        return (getattr(newer, field) - getattr(older, field)) / elapsed_s

    rx_packets = (newer.kernel_packets - newer.outgoing_packets) - (older.kernel_packets - older.outgoing_packets)
    rx_bytes = (newer.kernel_bytes - newer.outgoing_bytes) - (older.kernel_bytes - older.outgoing_bytes)
    polls = newer.polls - older.polls
    return RingRates(
        rx_pps=rx_packets / elapsed_s,
        rx_bps=rx_bytes * 8 / elapsed_s,
        tx_pps=per_second("outgoing_packets"),
        tx_bps=per_second("outgoing_bytes") * 8,
        kernel_drops_ps=per_second("kernel_drops"),
        ring_drops_ps=per_second("ring_drops"),
        truncated_ps=per_second("truncated"),
        polls_ps=polls / elapsed_s,
        empty_poll_share=(newer.empty_polls - older.empty_polls) / polls if polls else 0.0,
        sleeps_ps=per_second("sleeps"),
        asleep_share=min(1.0, (newer.sleep_ns - older.sleep_ns) / 1e9 / elapsed_s),
        batch_hist=_difference(newer.batch_hist, older.batch_hist),
    )


class _SnapshotWindow:
    """Snapshots spanning at least `span_s`: the oldest kept is the newest one at least that old."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self._snapshots: deque[tuple[float, RingStats]] = deque()

    def add(self, now_s: float, stats: RingStats) -> tuple[float, RingStats]:
        """Add a snapshot; returns the base (time, snapshot) to difference it against."""
        snapshots = self._snapshots
        snapshots.append((now_s, stats))
        while len(snapshots) > 2 and snapshots[1][0] <= now_s - self.span_s:
            snapshots.popleft()
        return snapshots[0]

    def restart(self) -> None:
        self._snapshots.clear()


class InterfaceHistory:
    """The recent snapshots of one interface: occupancy and the latency of the last seconds at each refresh; about
    once a second, the rates of the second since the last, the ring's and the NIC's own over the same interval
    (side by side they compare: taken + kernel drops against what the wire counted), and series of them over
    the last minute. While the interface is down nothing is captured: its series hold None there (a gap, not a
    rate of zero), and `gaps` says when."""

    def __init__(self) -> None:
        self._latency_window = _SnapshotWindow(LATENCY_WINDOW_S)
        self._wait: tuple[WaitStrategy, int] | None = None
        self._latest: tuple[float, RingStats] | None = None  # the last snapshot; None while down
        self._second_base: tuple[float, RingStats] | None = None  # the snapshot the last second's rates ended at
        self._nic_reading: tuple[float, NicCounters] | None = None
        self.occupancy: deque[int | None] = deque(maxlen=HISTORY_S * REFRESH_HZ)
        self.rx_pps: deque[float | None] = deque(maxlen=HISTORY_S)
        self.tx_pps: deque[float | None] = deque(maxlen=HISTORY_S)
        self.taken_pps: deque[float | None] = deque(maxlen=HISTORY_S)
        self.down_since: float | None = None  # wall-clock seconds (time.time())
        self.gaps: list[tuple[float, float]] = []  # (went down, captured again), wall-clock seconds
        self.rates = RingRates()
        self.latency = LatencySummary()
        self.wire: WireRates | None = None

    def add(self, now_s: float, stats: RingStats) -> None:
        """One snapshot of the ring, at each refresh."""
        if stats.error:
            self._add_down()
            return
        self._latest = (now_s, stats)
        wait = (stats.wait_strategy, stats.poll_interval_us)
        if wait != self._wait:  # latency under another way of waiting is another window
            self._wait = wait
            self._latency_window.restart()
        self.latency = latency_summary(self._latency_window.add(now_s, stats)[1], stats)
        self.occupancy.append(stats.slots_used)

    def _add_down(self) -> None:
        """A snapshot of a ring whose interface went down or away: no rates or latency while it is down, and a
        second read then is a gap in the series (the counters of its next capture go on from these)."""
        self._latest = None
        self._latency_window.restart()
        self.rates = RingRates()
        self.latency = LatencySummary()
        self.occupancy.append(None)

    def add_second(self, now_s: float, nic: NicCounters | None) -> None:
        """About once a second, right after add(): the ring's rates since the last call, from its snapshots, and
        the NIC's, from this reading of its counters (None: they cannot be read). Rates over different seconds
        would not compare: at a flood's start the ring's newer second would show more taken than the wire sent."""
        base, self._second_base = self._second_base, self._latest
        if self._latest is None:  # down: a gap in the series
            self._add_point(None)
        elif base is not None:
            self.rates = ring_rates(base[1], self._latest[1], self._latest[0] - base[0])
            self._add_point(self.rates)
        self._add_wire(now_s, nic)

    def _add_point(self, rates: RingRates | None) -> None:
        self.rx_pps.append(rates.rx_pps if rates else None)
        self.tx_pps.append(rates.tx_pps if rates else None)
        self.taken_pps.append(rates.taken_pps if rates else None)

    def went_down(self, wall_s: float) -> None:
        if self.down_since is None:
            self.down_since = wall_s

    def recaptured(self, wall_s: float) -> None:
        self.gaps.append((self.down_since if self.down_since is not None else wall_s, wall_s))
        self.down_since = None

    def _add_wire(self, now_s: float, nic: NicCounters | None) -> None:
        previous = self._nic_reading
        if nic is None:
            self._nic_reading = self.wire = None
            return
        if previous is not None and now_s <= previous[0]:
            return
        self._nic_reading = (now_s, nic)
        if previous is not None:
            elapsed_s = now_s - previous[0]
            self.wire = WireRates((nic.rx_packets - previous[1].rx_packets) / elapsed_s,
                                  (nic.tx_packets - previous[1].tx_packets) / elapsed_s)
