"""Rates, shares and percentiles the dashboard derives from cumulative ring counters."""
from __future__ import annotations

from dataclasses import replace

from fake_monitor import FakeMonitor

from ringmon.stats_history import InterfaceHistory, histogram_upper_edge_us, ring_rates
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
    for _ in range(2000):  # 200 s at 10 Hz
        history.add(fake.clock(), fake.stats()["eth0"])
    assert len(history.rx_pps) == 60
    assert len(history.occupancy) == 600


def test_slot_states_follow_the_free_running_positions_across_wrap_around():
    stats = replace(FakeMonitor().stats()["eth0"], slot_count=8, tail=14, consuming=16, head=19)
    # positions 14,15 being consumed (slots 6,7); 16,17,18 filled (slots 0,1,2); the rest free
    assert [slot_state(stats, index) for index in range(8)] == [
        FILLED, FILLED, FILLED, FREE, FREE, FREE, CONSUMING, CONSUMING]
