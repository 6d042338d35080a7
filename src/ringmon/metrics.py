"""--metrics: a session's statistics in the Prometheus exposition format, served over HTTP by prometheus-client.
Every scrape takes ONE Monitor.stats() snapshot, so the accounting identity (kernel packets == delivered + ring
drops + occupancy) holds between the numbers of one scrape."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import start_http_server
from prometheus_client.core import (CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                   InfoMetricFamily)
from prometheus_client.registry import Collector

from ringcore import Monitor, RingcoreError, RingStats

TOP_TALKERS = 10  # conversations per interface: a bounded label set, whatever the traffic
INTERFACE_LABELS = ("interface", "netns")


def latency_buckets(histogram: tuple[int, ...]) -> list[tuple[str, int]]:
    """The C log2 histogram (bucket b: [2^b, 2^(b+1)) microseconds, the last one open-ended) as Prometheus's
    cumulative buckets, upper bounds in seconds."""
    buckets = []
    total = 0
    for b, count in enumerate(histogram[:-1]):
        total += count
        buckets.append((repr((1 << (b + 1)) / 1e6), total))
    buckets.append(("+Inf", total + histogram[-1]))
    return buckets


class MonitorCollector(Collector):
    """The families of one Monitor; nothing until `watch` names it (the server opens before the session)."""

    def __init__(self) -> None:
        self._monitor: Monitor | None = None

    def watch(self, monitor: Monitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator:
        monitor = self._monitor
        if monitor is None:
            return
        try:
            stats = monitor.stats()  # the one snapshot of this scrape
            writing = monitor.writing
        except RingcoreError:  # the session is closing
            return
        yield from _ring_families(stats)
        if writing is not None:
            yield from _writer_families(stats, writing)
        if monitor.counts_talkers:
            yield _talker_family(monitor, stats)


def _labels(snapshot: RingStats) -> list[str]:
    return [snapshot.ifname, snapshot.netns or ""]


def _ring_families(stats: dict[str, RingStats]) -> Iterator:
    packets = CounterMetricFamily("ringmon_packets", "Packets by stage: taken by the kernel into the ring "
                                  "(kernel), handed to the consumer (delivered), sent by this host (outgoing)",
                                  labels=[*INTERFACE_LABELS, "stage"])
    packet_bytes = CounterMetricFamily("ringmon_bytes", "Wire bytes by stage (as ringmon_packets)",
                                       labels=[*INTERFACE_LABELS, "stage"])
    drops = CounterMetricFamily("ringmon_drops", "Packets lost or cut, by stage: by the kernel before the ring "
                                "(kernel), at a full ring (ring_full: copy mode only, 0 where ringmon_ring_info's "
                                "drop_stages has no ring), received but not taken while stopping (lost_at_stop), "
                                "cut (truncated)", labels=[*INTERFACE_LABELS, "stage"])
    # Info, not a label on every series: a live mode switch changes it without starting the counters' series again.
    ring_info = InfoMetricFamily("ringmon_ring", "What the ring is: its mode (copy, zero-copy, direct), the kernel's "
                                 "ring under it (blocks: TPACKET_V3; frames: TPACKET_V2, --immediate-mode) and the "
                                 "stages where it can drop", labels=INTERFACE_LABELS)
    store = CounterMetricFamily("ringmon_store_packets", "Packet store: delivered packets stored, failed to "
                                "store, and evicted since (oldest first)", labels=[*INTERFACE_LABELS, "outcome"])
    gauges = {
        "ringmon_ring_slots": ("Slots in the ring", lambda s: s.slot_count),
        "ringmon_ring_slot_bytes": ("Bytes per slot", lambda s: s.slot_size),
        "ringmon_ring_occupancy": ("Packets in the ring, not yet consumed", lambda s: s.occupancy),
        "ringmon_ring_slots_used": ("Slots the packets in the ring take", lambda s: s.slots_used),
        "ringmon_ring_slots_used_high": ("High-water mark of ringmon_ring_slots_used", lambda s: s.slots_used_high),
        "ringmon_interface_up": ("1 while the interface is captured, 0 once it went away", lambda s: int(not s.error)),
        "ringmon_latency_max_seconds": ("Largest capture-to-consume latency", lambda s: s.latency_max_ns / 1e9),
    }
    counters = {
        "ringmon_polls": ("Polls of the ring by its consumer", lambda s: s.polls),
        "ringmon_empty_polls": ("Polls that found the ring empty", lambda s: s.empty_polls),
        "ringmon_sleeps": ("Times the consumer slept on an empty ring", lambda s: s.sleeps),
        "ringmon_sleep_seconds": ("Time the consumer slept on an empty ring", lambda s: s.sleep_ns / 1e9),
        "ringmon_wakeups": ("Times the consumer blocked in the kernel and woke up", lambda s: s.wakeups),
        "ringmon_adaptive_spins_found_work": ("Adaptive waits whose spin found work", lambda s: s.spin_found),
        "ringmon_adaptive_spins_slept": ("Adaptive waits whose spin ran out and slept", lambda s: s.spin_slept),
        "ringmon_recaptures": ("Times the interface was captured again after it went away", lambda s: s.recaptures),
    }
    gauge_families = {name: GaugeMetricFamily(name, text, labels=INTERFACE_LABELS)
                      for name, (text, _) in gauges.items()}
    counter_families = {name: CounterMetricFamily(name, text, labels=INTERFACE_LABELS)
                        for name, (text, _) in counters.items()}
    latency = HistogramMetricFamily("ringmon_latency_seconds", "Capture-to-consume latency of delivered packets "
                                    "(kernel timestamp to release), from the ring's log2 histogram",
                                    labels=INTERFACE_LABELS)
    for snapshot in stats.values():
        labels = _labels(snapshot)
        for stage, value, byte_count in (("kernel", snapshot.kernel_packets, snapshot.kernel_bytes),
                                         ("delivered", snapshot.delivered, snapshot.delivered_bytes),
                                         ("outgoing", snapshot.outgoing_packets, snapshot.outgoing_bytes)):
            packets.add_metric([*labels, stage], value)
            packet_bytes.add_metric([*labels, stage], byte_count)
        for stage, value in (("kernel", snapshot.kernel_drops), ("ring_full", snapshot.ring_drops),
                             ("lost_at_stop", snapshot.lost_at_stop), ("truncated", snapshot.truncated)):
            drops.add_metric([*labels, stage], value)
        ring_info.add_metric(labels, {"mode": snapshot.mode.label, "kernel_ring": "frames" if snapshot.immediate
                                      else "blocks", "drop_stages": ",".join(snapshot.mode.drop_stages)})
        if snapshot.storing:
            for outcome, value in (("stored", snapshot.stored), ("failed", snapshot.store_failed),
                                   ("evicted", snapshot.store_evicted)):
                store.add_metric([*labels, outcome], value)
        for name, (_, read) in gauges.items():
            gauge_families[name].add_metric(labels, read(snapshot))
        for name, (_, read) in counters.items():
            counter_families[name].add_metric(labels, read(snapshot))
        latency.add_metric(labels, latency_buckets(snapshot.latency_hist), snapshot.latency_sum_ns / 1e9)
    yield from (packets, packet_bytes, drops, ring_info, latency, *gauge_families.values(),
                *counter_families.values())
    if store.samples:
        yield store


def _writer_families(stats: dict[str, RingStats], writing) -> Iterator:
    written = CounterMetricFamily("ringmon_written_packets", "Packets written to the -w file",
                                  labels=INTERFACE_LABELS)
    for key, snapshot in stats.items():
        written.add_metric(_labels(snapshot), writing.packets_by_interface.get(key, 0))
    yield written
    # A gauge: with -C/-G the writer counts the bytes of the file it writes now, which starts again at each file.
    yield GaugeMetricFamily("ringmon_written_file_bytes", "Bytes of the -w file being written (the current one when "
                            "-C or -G rotate)", value=writing.bytes)
    yield CounterMetricFamily("ringmon_written_files", "Files renamed into place whole (more than one when -C or -G "
                              "rotate)", value=writing.files.written)
    yield CounterMetricFamily("ringmon_removed_files", "Files removed by -W, the oldest first",
                              value=writing.files.removed)
    yield GaugeMetricFamily("ringmon_writer_failed", "1 once writing the file failed (full disk): the capture "
                            "stops", value=int(writing.error is not None))


def _talker_family(monitor: Monitor, stats: dict[str, RingStats]) -> GaugeMetricFamily:
    talkers = GaugeMetricFamily("ringmon_talker_bytes", f"Wire bytes of the {TOP_TALKERS} largest conversations "
                                "per interface in the last 40 s, by protocol and direction (a_to_b: from the lower "
                                "address)", labels=[*INTERFACE_LABELS, "a", "b", "protocol", "direction"])
    for key, snapshot in stats.items():
        try:
            top = monitor.top_talkers(key, TOP_TALKERS)
        except RingcoreError:  # unplugged since the snapshot
            continue
        labels = _labels(snapshot)
        for talker in top.talkers:
            talkers.add_metric([*labels, talker.a, talker.b, talker.protocol, "a_to_b"], talker.bytes_ab)
            talkers.add_metric([*labels, talker.a, talker.b, talker.protocol, "b_to_a"], talker.bytes_ba)
    return talkers


class MetricsServer:
    """The HTTP endpoint, listening from construction (before -Z drops privileges, before any interface opens:
    a port in use is an error before the capture starts); serves the session that `watch` names."""

    def __init__(self, address: tuple[str, int]) -> None:
        host, port = address
        self._collector = MonitorCollector()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self._collector)
        try:
            self._server, self._thread = start_http_server(port, host, registry=registry)
        except OSError as exc:
            raise RingcoreError(f"--metrics {host}:{port}: cannot listen: {exc.strerror or exc}") from None

    def watch(self, monitor: Monitor) -> None:
        self._collector.watch(monitor)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def serving(address: tuple[str, int] | None) -> MetricsServer | None:
    return MetricsServer(address) if address is not None else None

