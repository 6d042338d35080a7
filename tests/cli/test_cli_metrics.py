"""--metrics: the headless monitor (capture --count-only) scraped by a real Prometheus server, its exposition and
the example alert rules checked by promtool, and the monitor under least privilege."""
from __future__ import annotations

import fcntl
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from cli_process import (
    EXIT_TIMEOUT_S,
    NET_RAW_ONLY,
    RINGMON,
    START_TIMEOUT_S,
    assert_one_error_line,
    run_ringmon,
    summary_counts,
)

import netns
from ringmon.cli import listen_address
from tmux_terminal import start_in_tmux, wait_for_screen

FRAME_COUNT = 50
FLOOD_COUNT = 2000  # many times what a blocked printer's pipe and an 8-slot ring hold
F_SETPIPE_SZ = 1031  # fcntl.h: a pipe's capacity
PAGE_SIZE = 4096
DOCS = Path(__file__).resolve().parents[2] / "docs" / "fleet"
PROMETHEUS_WAIT_S = 60.0  # scrapes every second; a loaded CI machine starts the server slowly
DROP_STAGES = ("kernel", "ring_full", "lost_at_stop", "truncated")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def sample_key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


def samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    """The exposition's samples by name and labels (any label order)."""
    return {sample_key(sample.name, **sample.labels): sample.value
            for family in text_string_to_metric_families(exposition) for sample in family.samples}


def scrape_in(ns: str, port: int) -> str:
    """scrape() from inside a test namespace (its loopback up)."""
    code = (f"import urllib.request, sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{port}/metrics',"
            " timeout=10).read().decode())")
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=EXIT_TIMEOUT_S).stdout


class HeadlessMonitor:
    """`ringmon capture --count-only --metrics PORT` on end a of the pair (through --netns, so its port is on
    this namespace's loopback), started once it listens; SIGINT ends it."""

    def __init__(self, pair: netns.VethPair, port: int, *args: str, prefix: tuple[str, ...] = (),
                 count_only: bool = True):
        """With a `prefix` (setpriv: no CAP_SYS_ADMIN to enter a namespace) it runs inside A's namespace instead,
        its port on that namespace's loopback: see scrape_in. Without `count_only` it prints its lines to
        process.stdout, a pipe."""
        command = ["ip", "netns", "exec", pair.ns_a, *prefix, RINGMON] if prefix else [RINGMON]
        netns_flag = () if prefix else ("--netns", pair.ns_a)
        mode = ("--count-only",) if count_only else ()
        self.process = subprocess.Popen(
            [*command, "capture", *mode, *netns_flag, "-i", pair.if_a, "--metrics", str(port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while "listening on" not in (line := self.process.stderr.readline()):
            assert line and time.monotonic() < deadline, f"did not start: {line}{self.process.stderr.read()}"

    def finish(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGINT)
        stdout, stderr = self.process.communicate(timeout=EXIT_TIMEOUT_S)
        return self.process.returncode, stdout, stderr

    def __enter__(self) -> HeadlessMonitor:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(EXIT_TIMEOUT_S)


@pytest.fixture
def prometheus_server() -> Iterator[callable]:
    """Starts a real Prometheus (the Debian package) on a free loopback port, scraping the given ringmon port every
    second, with a temporary config and storage; killed at the end, pass or fail. Yields start(target_port) ->
    query(promql) -> {labels: value}."""
    netns.require(shutil.which("prometheus") is not None, "prometheus is not installed (scripts/install.sh)")
    directory = Path(tempfile.mkdtemp(prefix="ringmon-prometheus-"))
    processes: list[subprocess.Popen] = []

    def start(target_port: int):
        port = free_port()
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          "scrape_configs:\n  - job_name: ringmon\n    static_configs:\n"
                          f"      - targets: ['127.0.0.1:{target_port}']\n")
        with open(directory / "prometheus.log", "wb") as log:
            processes.append(subprocess.Popen(
                ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log, stdin=subprocess.DEVNULL))

        def query(promql: str) -> dict[tuple, float]:
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.load(response)
            assert answer["status"] == "success", answer
            return {tuple(sorted(sample["metric"].items())): float(sample["value"][1])
                    for sample in answer["data"]["result"]}
        return query

    try:
        yield start
    finally:
        for process in processes:
            process.kill()
            process.wait(EXIT_TIMEOUT_S)
        shutil.rmtree(directory)


def eventually(query, promql: str, expected: float) -> dict[tuple, float]:
    """The query's samples once every one equals `expected` (Prometheus sees a new value only at its next scrape);
    the last answer otherwise, for the assertion to show."""
    deadline = time.monotonic() + PROMETHEUS_WAIT_S
    while True:
        try:
            samples = query(promql)
        except OSError:  # the server is still starting
            samples = {}
        if (samples and all(value == expected for value in samples.values())) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


def test_prometheus_scraping_the_headless_monitor_sees_every_frame_delivered_and_no_drop(
        veth_pair, prometheus_server, tmp_path):
    metrics_port = free_port()
    stats_path = tmp_path / "stats.json"
    with HeadlessMonitor(veth_pair, metrics_port, "--stats-json", str(stats_path)) as monitor:
        query = prometheus_server(metrics_port)
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT)))
        delivered = eventually(query, 'ringmon_packets_total{stage="delivered"}', FRAME_COUNT)
        assert list(delivered.values()) == [FRAME_COUNT], delivered
        labels = dict(next(iter(delivered)))
        assert (labels["interface"], labels["netns"], labels["job"]) == (veth_pair.if_a, veth_pair.ns_a, "ringmon")
        assert list(query('ringmon_packets_total{stage="kernel"}').values()) == [FRAME_COUNT]
        drops = query("ringmon_drops_total")
        assert {dict(key)["stage"]: value for key, value in drops.items()} == dict.fromkeys(DROP_STAGES, 0)
        assert list(query("ringmon_latency_seconds_count").values()) == [FRAME_COUNT]
        assert list(query('ringmon_latency_seconds_bucket{le="+Inf"}').values()) == [FRAME_COUNT]
        assert list(query("ringmon_interface_up").values()) == [1]
        polls = list(query("ringmon_polls_total").values())
        returncode, stdout, stderr = monitor.finish()
    assert returncode == 0, stderr
    assert stdout == ""  # counted, never printed
    assert summary_counts(stderr)["captured"] == FRAME_COUNT
    # the numbers Prometheus holds are ringmon's own (its final statistics, read by the same Monitor.stats())
    final = json.loads(stats_path.read_text())[veth_pair.key_a]
    assert (final["kernel_packets"], final["delivered"], final["ring_drops"], final["kernel_drops"]) == (
        FRAME_COUNT, FRAME_COUNT, 0, 0)
    assert 0 < polls[0] <= final["polls"]


def test_prometheus_sees_the_exact_ring_full_drops_of_a_consumer_that_stopped_consuming(veth_pair, prometheus_server):
    """The printing consumer blocks on a pipe nobody reads (shrunk to one page); with --drop-policy late the ring
    (8 slots) takes every frame from the kernel and drops what does not fit. Prometheus sees the identity hold
    with drops, and the very drop count ringmon sums up once the pipe is read."""
    metrics_port = free_port()
    with HeadlessMonitor(veth_pair, metrics_port, "--ring-pages", "5", "--slot-size", "2048", "--drop-policy", "late",
                         count_only=False) as monitor:
        fcntl.fcntl(monitor.process.stdout.fileno(), F_SETPIPE_SZ, PAGE_SIZE)
        query = prometheus_server(metrics_port)
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FLOOD_COUNT), size=100))
        kernel = eventually(query, 'ringmon_packets_total{stage="kernel"}', FLOOD_COUNT)
        assert list(kernel.values()) == [FLOOD_COUNT]
        delivered, ring_full, occupancy, kernel_drops = (
            sum(query(promql).values()) for promql in ('ringmon_packets_total{stage="delivered"}',
                                                       'ringmon_drops_total{stage="ring_full"}',
                                                       "ringmon_ring_occupancy", 'ringmon_drops_total{stage="kernel"}'))
        assert ring_full > 0 and kernel_drops == 0
        assert delivered + ring_full + occupancy == FLOOD_COUNT
        monitor.process.send_signal(signal.SIGINT)
        stdout, stderr = monitor.process.communicate(timeout=EXIT_TIMEOUT_S)  # reads the pipe: the rest is printed
    assert monitor.process.returncode == 0, stderr
    summary = summary_counts(stderr)
    assert summary["dropped at ring"] == ring_full
    assert summary["captured"] == len(stdout.splitlines()) == FLOOD_COUNT - ring_full


def test_the_exposition_passes_promtool_check_metrics(veth_pair):
    metrics_port = free_port()
    with HeadlessMonitor(veth_pair, metrics_port) as monitor:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT)))
        exposition = scrape(metrics_port)
        monitor.finish()
    checked = subprocess.run(["promtool", "check", "metrics"], input=exposition, capture_output=True, text=True,
                             timeout=EXIT_TIMEOUT_S)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for family in ("ringmon_packets_total", "ringmon_drops_total", "ringmon_ring_slots", "ringmon_ring_occupancy",
                   "ringmon_polls_total", "ringmon_empty_polls_total", "ringmon_latency_seconds_bucket",
                   "ringmon_latency_seconds_sum"):
        assert f"\n{family}{{" in exposition, family


def test_the_example_alert_rules_and_scrape_config_pass_promtool():
    for command in (["check", "rules", str(DOCS / "ringmon-rules.yml")],
                    ["check", "config", str(DOCS / "prometheus.yml")]):
        checked = subprocess.run(["promtool", *command], capture_output=True, text=True, timeout=EXIT_TIMEOUT_S)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = (DOCS / "ringmon-rules.yml").read_text()
    for alert in ("RingmonRingDrops", "RingmonKernelDrops", "RingmonRingAbove80Percent", "RingmonInterfaceGone"):
        assert f"alert: {alert}\n" in rules


def test_the_grafana_dashboard_is_json_with_the_expected_panels_over_ringmons_metrics():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    panels = {panel["title"]: panel for panel in dashboard["panels"]}
    assert {"Packet rates by stage", "Drops by stage", "Ring occupancy", "Capture-to-consume latency"} <= set(panels)
    assert panels["Capture-to-consume latency"]["type"] == "heatmap"
    exposition_names = {"ringmon_packets_total", "ringmon_drops_total", "ringmon_ring_slots_used", "ringmon_ring_slots",
                        "ringmon_latency_seconds_bucket"}
    expressions = " ".join(target["expr"] for panel in panels.values() for target in panel["targets"])
    assert all(name in expressions for name in exposition_names)


@pytest.mark.usefixtures("installation_readable_by_nobody")
def test_the_headless_monitor_runs_as_a_user_with_only_cap_net_raw(veth_pair):
    metrics_port = free_port()
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", "lo", "up"], check=True, timeout=EXIT_TIMEOUT_S)
    with HeadlessMonitor(veth_pair, metrics_port, prefix=NET_RAW_ONLY) as monitor:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT)))
        deadline = time.monotonic() + START_TIMEOUT_S
        delivered = sample_key("ringmon_packets_total", interface=veth_pair.if_a, netns="", stage="delivered")
        while (exposition := samples(scrape_in(veth_pair.ns_a, metrics_port))).get(delivered) != FRAME_COUNT:
            assert time.monotonic() < deadline, exposition
            time.sleep(0.2)
        returncode, _, stderr = monitor.finish()
    assert returncode == 0, stderr


@pytest.mark.usefixtures("installation_readable_by_nobody")
def test_with_z_the_port_is_opened_before_dropping_privileges(veth_pair):
    """A port below 1024 needs root's CAP_NET_BIND_SERVICE: served by nobody, it was opened before -Z."""
    privileged_port = next(port for port in range(1000, 900, -1) if _bindable(port))
    with HeadlessMonitor(veth_pair, privileged_port, "-Z", "nobody") as monitor:
        assert "ringmon_packets_total{" in scrape(privileged_port)
        with open(f"/proc/{monitor.process.pid}/status") as status:
            assert "Uid:\t65534\t65534\t65534\t65534" in status.read()
        returncode, _, stderr = monitor.finish()
    assert returncode == 0, stderr


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_metrics_port_in_use_is_one_error_line(veth_pair):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ringmon("capture", "--count-only", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a,
                             "--metrics", str(port))
    assert_one_error_line(result, f"--metrics 127.0.0.1:{port}: cannot listen")


@pytest.mark.parametrize("value", ["nine", "0", "70000", "127.0.0.1:"])
def test_a_bad_metrics_address_is_one_error_line(value):
    result = run_ringmon("capture", "--count-only", "-i", "lo", "--metrics", value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "is not [ADDR:]PORT" in result.stderr


@pytest.mark.usefixtures("installation_readable_by_nobody")
def test_the_dashboard_serves_the_same_counts_with_its_store_and_talkers(veth_pair, tmp_path):
    netns.require(shutil.which("tmux") is not None, "the dashboard test needs tmux")
    metrics_port = free_port()
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", "lo", "up"], check=True, timeout=EXIT_TIMEOUT_S)
    session = start_in_tmux(f"ip netns exec {veth_pair.ns_a} {RINGMON} -i {veth_pair.if_a} -Z nobody "
                            f"--metrics {metrics_port}", tmp_path / "exit-status")
    try:
        wait_for_screen(session, r"Ring occupancy")
        frames = veth_pair.frames_to_a(range(FRAME_COUNT))
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_for_screen(session, rf"taken {FRAME_COUNT} = delivered")
        exposition = samples(scrape_in(veth_pair.ns_a, metrics_port))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
    interface = {"interface": veth_pair.if_a, "netns": ""}
    assert exposition[sample_key("ringmon_packets_total", **interface, stage="delivered")] == FRAME_COUNT
    assert exposition[sample_key("ringmon_store_packets_total", **interface, outcome="stored")] == FRAME_COUNT
    # every frame went from b to a within the talkers' window
    assert exposition[sample_key("ringmon_talker_bytes", **interface, a=veth_pair.ip_a, b=veth_pair.ip_b,
                                 protocol="udp", direction="b_to_a")] == sum(len(frame) for frame in frames)


@pytest.mark.parametrize(("args", "message"), [
    (("--count-only", "-i", "lo", "-w", "out.pcap"), "--count-only writes no packet: it cannot be used with -w"),
    (("-r", "in.pcap", "--metrics", "9477"), "-r reads a file, so it cannot be used with --metrics"),
    (("-r", "in.pcap", "--count-only"), "-r reads a file, so it cannot be used with --count-only"),
])
def test_count_only_and_metrics_refuse_what_they_cannot_serve_in_one_line(args, message):
    assert_one_error_line(run_ringmon("capture", *args), message)


@pytest.mark.parametrize(("text", "address"), [("9477", ("127.0.0.1", 9477)), ("0.0.0.0:9477", ("0.0.0.0", 9477)),
                                              ("[::1]:9477", ("::1", 9477))])
def test_a_metrics_port_alone_listens_on_this_host_only(text, address):
    assert listen_address(text) == address
