"""The --metrics collector over the dashboard's scripted monitor: one statistics snapshot per scrape (so the
accounting identity holds inside every scrape), the log2 latency histogram as Prometheus buckets in seconds, and
a bounded talkers family."""
from __future__ import annotations

from dataclasses import replace

from fake_monitor import FakeMonitor
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ringcore.api import RingMode
from ringmon.metrics import TOP_TALKERS, MonitorCollector, latency_buckets


class CountingMonitor(FakeMonitor):
    """FakeMonitor (each stats() call is one step of its traffic) that counts the snapshots taken."""

    counts_talkers = True

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0

    def stats(self):
        self.snapshots += 1
        return super().stats()


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple], float]:
    text = generate_latest(registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, interface: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"interface": interface, "netns": "", **labels}.items())))]


def test_every_scrape_takes_one_snapshot_in_which_the_accounting_identity_holds():
    monitor = CountingMonitor()
    monitor.start_writing("/nonexistent/out.pcapng")
    collector = MonitorCollector()
    collector.watch(monitor)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    for scrapes in range(1, 41):  # the fake's traffic rises past what its consumer takes: the ring fills
        samples = scrape(registry)
        assert monitor.snapshots == scrapes
        for interface in monitor.interfaces:
            kernel = value(samples, "ringmon_packets_total", interface, stage="kernel")
            delivered = value(samples, "ringmon_packets_total", interface, stage="delivered")
            ring_full = value(samples, "ringmon_drops_total", interface, stage="ring_full")
            occupancy = value(samples, "ringmon_ring_occupancy", interface)
            assert kernel == delivered + ring_full + occupancy
            assert value(samples, "ringmon_latency_seconds_count", interface) == delivered
            talkers = [key for key in samples if key[0] == "ringmon_talker_bytes" and ("interface", interface) in key[1]]
            assert len(talkers) <= 2 * TOP_TALKERS
    assert samples[("ringmon_written_file_bytes", ())] > 0


def test_log2_microsecond_buckets_become_cumulative_buckets_in_seconds():
    histogram = (2, 0, 5) + (0,) * 28 + (1,)  # <2 us, [4, 8) us, and one beyond the last bound
    buckets = latency_buckets(histogram)
    assert buckets[:3] == [("2e-06", 2), ("4e-06", 2), ("8e-06", 7)]
    assert buckets[-2] == (repr(2 ** 31 / 1e6), 7)
    assert buckets[-1] == ("+Inf", 8)
    assert len(buckets) == 32


def test_each_ring_says_its_mode_kernel_ring_and_drop_stages_in_an_info_family():
    class ModesMonitor(CountingMonitor):
        def stats(self):
            stats = super().stats()
            return {**stats, "eth1": replace(stats["eth1"], mode=RingMode.ZERO_COPY, immediate=True)}

    collector = MonitorCollector()
    collector.watch(ModesMonitor())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    samples = scrape(registry)
    assert value(samples, "ringmon_ring_info", "eth0", mode="copy", kernel_ring="blocks", drop_stages="kernel,ring") == 1
    assert value(samples, "ringmon_ring_info", "eth1", mode="zero-copy", kernel_ring="frames", drop_stages="kernel") == 1
