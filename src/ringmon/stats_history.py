"""Turns cumulative ring counters into what the dashboard shows: per-second rates and the last minute of them."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ringcore.api import RingStats

REFRESH_HZ = 10
RATE_WINDOW_S = 1.0  # rates are differences over the last second: steady at 10 Hz refresh
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
    latency_p50_us: int | None = None  # upper edge of the histogram bucket
    latency_p99_us: int | None = None


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


def ring_rates(older: RingStats, newer: RingStats, elapsed_s: float) -> RingRates:
    if elapsed_s <= 0:
        return RingRates()

    def per_second(field: str) -> float:
        return (getattr(newer, field) - getattr(older, field)) / elapsed_s

    rx_packets = (newer.kernel_packets - newer.outgoing_packets) - (older.kernel_packets - older.outgoing_packets)
    rx_bytes = (newer.kernel_bytes - newer.outgoing_bytes) - (older.kernel_bytes - older.outgoing_bytes)
    polls = newer.polls - older.polls
    latency_hist = _difference(newer.latency_hist, older.latency_hist)
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
        latency_p50_us=histogram_upper_edge_us(latency_hist, 0.50),
        latency_p99_us=histogram_upper_edge_us(latency_hist, 0.99),
    )


class InterfaceHistory:
    """The recent snapshots of one interface: rates over the last second, series over the last minute."""

    def __init__(self) -> None:
        self._window: deque[tuple[float, RingStats]] = deque()
        self.occupancy: deque[int] = deque(maxlen=HISTORY_S * REFRESH_HZ)
        self.rx_pps: deque[float] = deque(maxlen=HISTORY_S)
        self.tx_pps: deque[float] = deque(maxlen=HISTORY_S)
        self._last_point_s: float | None = None
        self.rates = RingRates()

    def add(self, now_s: float, stats: RingStats) -> RingRates:
        window = self._window
        window.append((now_s, stats))
        # Keep the newest snapshot at least RATE_WINDOW_S old as the base of the difference.
        while len(window) > 2 and window[1][0] <= now_s - RATE_WINDOW_S:
            window.popleft()
        base_s, base = window[0]
        self.rates = ring_rates(base, stats, now_s - base_s)
        self.occupancy.append(stats.occupancy)
        if self._last_point_s is None or now_s - self._last_point_s >= 1.0:
            self._last_point_s = now_s
            self.rx_pps.append(self.rates.rx_pps)
            self.tx_pps.append(self.rates.tx_pps)
        return self.rates
