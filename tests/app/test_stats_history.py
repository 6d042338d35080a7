"""Rates, shares and percentiles the dashboard derives from cumulative ring counters."""
from __future__ import annotations

from dataclasses import replace

import pytest
from fake_monitor import FakeMonitor

from ringcore.api import WaitStrategy

from ringmon.iface_facts import NicCounters
from ringmon.stats_history import InterfaceHistory, histogram_upper_edge_us, latency_summary, ring_rates
from ringmon.widgets.ring.slot_map import CONSUMING, FILLED, FREE, slot_state


def test_rates_are_differences_per_second_split_in_and_out():
    start = FakeMonitor().stats()["eth0"]
    later = replace(start, kernel_packets=start.kernel_packets + 3000, outgoing_packets=start.outgoing_packets + 1000,
                    kernel_bytes=start.kernel_bytes + 300_000, outgoing_bytes=start.outgoing_bytes + 100_000,
                    ring_drops=start.ring_drops + 50, polls=start.polls + 200, empty_polls=start.empty_polls + 50,
                    sleep_ns=start.sleep_ns + 500_000_000)
    rates = ring_rates(start, later, 2.0)
    assert (rates.rx_pps, rates.tx_pps) == (1000, 500)
    assert (rates.rx_bps, rates.tx_bps) == (800_000, 400_000)
    assert rates.ring_drops_ps == 25
    assert rates.empty_poll_share == 0.25
    assert rates.asleep_share == 0.25


def test_latency_percentile_is_the_upper_edge_of_its_log2_bucket():
    histogram = [0] * 32
    histogram[3] = 90  # [8, 16) µs
    histogram[10] = 10  # [1024, 2048) µs
    assert histogram_upper_edge_us(tuple(histogram), 0.50) == 16
    assert histogram_upper_edge_us(tuple(histogram), 0.99) == 2048
    assert histogram_upper_edge_us((0,) * 32, 0.5) is None


def test_history_keeps_one_minute_of_per_second_points_whatever_the_refresh_count():
    fake = FakeMonitor()
    history = InterfaceHistory()
    for refresh in range(2000):  # 200 s at 10 Hz, a second's rates each 10 refreshes
        history.add(fake.clock(), fake.stats()["eth0"])
        if refresh % 10 == 0:
            history.add_second(fake.clock(), fake.facts("eth0").nic)
    assert len(history.rx_pps) == 60
    assert len(history.occupancy) == 600


def test_the_rings_rates_and_the_wires_are_of_the_same_second_whenever_they_are_drawn():
    """The fake's NIC counts every arrival, and its ring takes each or drops it early, in the kernel: over one
    second, taken + kernel drops = the wire's rx + tx. Over different seconds (the ring's the last at each
    refresh, the wire's the last at its once-a-second reading) a flood's start showed more taken than the
    wire had counted."""
    fake = FakeMonitor(("eth0",))
    history = InterfaceHistory()
    compared, flooded = 0, 0.0
    for refresh in range(200):  # two cycles of steady, bursty and flood traffic
        history.add(fake.clock(), fake.stats()["eth0"])
        if refresh % 10 == 0:
            history.add_second(fake.clock(), fake.facts("eth0").nic)
        if history.wire is not None and refresh >= 20:  # the ring's first second is known a second after it
            rates, wire = history.rates, history.wire
            assert rates.taken_pps + rates.kernel_drops_ps == pytest.approx(wire.rx_pps + wire.tx_pps), refresh
            compared += 1
            flooded = max(flooded, rates.kernel_drops_ps)
    assert compared == 180 and flooded > 10_000  # the floods were among them


def test_slot_states_follow_the_free_running_positions_across_wrap_around():
    stats = replace(FakeMonitor().stats()["eth0"], slot_count=8, tail=14, consuming=16, head=19)
    # positions 14,15 being consumed (slots 6,7); 16,17,18 filled (slots 0,1,2); the rest free
    assert [slot_state(stats, index) for index in range(8)] == [
        FILLED, FILLED, FILLED, FREE, FREE, FREE, CONSUMING, CONSUMING]


def with_latency(stats, bucket: int, count: int, max_us: float | None = None):
    """`stats` with `count` more releases in latency bucket `bucket` ([2^b, 2^(b+1)) µs), and a new all-time max."""
    histogram = list(stats.latency_hist)
    histogram[bucket] += count
    latency_max_ns = stats.latency_max_ns if max_us is None else max(stats.latency_max_ns, int(max_us * 1000))
    return replace(stats, latency_hist=tuple(histogram), latency_max_ns=latency_max_ns)


def test_latency_percentiles_are_never_above_the_max_they_are_shown_with():
    start = replace(FakeMonitor().stats()["eth0"], latency_hist=(0,) * 32, latency_max_ns=0)
    # as seen: every release in [262 ms, 524 ms), the slowest 305.4 ms
    later = with_latency(start, 18, 100, max_us=305_400)
    latency = latency_summary(start, later)
    assert (latency.max_us, latency.max_is_exact) == (305_400, True)
    assert latency.p50_us == latency.p99_us == 305_400


def test_latency_max_comes_from_the_window_so_a_pauses_max_ages_out():
    fake = FakeMonitor()
    stats = replace(fake.stats()["eth0"], latency_hist=(0,) * 32, latency_max_ns=0)
    history = InterfaceHistory()
    history.add(0.0, stats)
    stats = with_latency(stats, 21, 64, max_us=3_100_000)  # the backlog of a 3 s pause
    history.add(0.1, stats)
    assert history.latency.max_us == 3_100_000 and history.latency.max_is_exact
    for step in range(2, 70):  # then 7 s of releases within [8, 16) µs
        stats = with_latency(stats, 3, 100)
        history.add(step / 10, stats)
    latency = history.latency
    assert (latency.max_us, latency.max_is_exact) == (16, False)  # bounded by the bucket, not the old max
    assert latency.p50_us == latency.p99_us == 16


def test_a_change_of_wait_strategy_starts_a_new_latency_window():
    stats = replace(FakeMonitor().stats()["eth0"], latency_hist=(0,) * 32, latency_max_ns=0)
    history = InterfaceHistory()
    history.add(0.0, stats)
    stats = with_latency(stats, 10, 100, max_us=1500)
    history.add(0.1, stats)
    assert history.latency.p50_us == 1500
    history.add(0.2, replace(stats, wait_strategy=WaitStrategy.SPIN))
    assert history.latency.p50_us is None and history.latency.max_us is None
    history.add(0.3, with_latency(replace(stats, wait_strategy=WaitStrategy.SPIN), 2, 10))
    assert (history.latency.p99_us, history.latency.max_us) == (8, 8)


def test_wire_rates_are_the_nics_own_counts_between_two_readings():
    history = InterfaceHistory()
    history.add_second(10.0, NicCounters(rx_packets=1000, rx_errors=0, rx_drops=0, tx_packets=50))
    assert history.wire is None  # one reading is no rate
    history.add_second(12.0, NicCounters(rx_packets=581_000, rx_errors=0, rx_drops=0, tx_packets=250))
    assert (history.wire.rx_pps, history.wire.tx_pps) == (290_000, 100)
