"""Builds each C test of tests/ringcore/c against ringcore's sources three ways (plain with warnings as errors,
ThreadSanitizer, AddressSanitizer+UBSan) and runs it: it must exit 0 with no sanitizer report."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import warnings
from pathlib import Path

import pytest

import netns
from readback import tshark_read

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ringcore" / "src"
C_TESTS = Path(__file__).parent / "c"
# The C tests never open a socket; capture.c is linked when it builds, so the whole library is checked together.
OPTIONAL_SOURCES = ("capture",)
LIBRARY_SOURCES = tuple(sorted(path.stem for path in SRC.glob("*.c") if path.stem not in OPTIONAL_SOURCES))
LIBRARIES = ["-lpcap"]  # as setup.py links: display filters are libpcap's (libpcap-dev)
COMMON_FLAGS = ["-std=gnu11", "-pthread", "-Wall", "-Wextra", "-Werror", f"-I{SRC}", f"-I{C_TESTS}"]
FLAVORS = {
    "plain": ["-O2"],
    "tsan": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=thread"],
    "asan-ubsan": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
}
SANITIZER_OPTIONS = {
    "TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1",
    "ASAN_OPTIONS": "detect_leaks=1 halt_on_error=1 detect_stack_use_after_return=1",
    "UBSAN_OPTIONS": "print_stacktrace=1 halt_on_error=1",
}
SANITIZER_REPORT = re.compile(r"(Thread|Address|Leak|UndefinedBehavior)Sanitizer|runtime error:")
# TSAN needs its fixed shadow layout; with a high mmap randomisation some kernels break it. Without ASLR it runs.
TSAN_BAD_MAPPING = "unexpected memory mapping"
# Seconds each timed C test runs for (stress, shared limit, concurrent writer): bounded on 2 cores under TSAN.
TIMED_SECONDS = "1.0"
RUN_TIMEOUT_S = 60
# Frames the real-capture test floods: enough to fill the 64-slot ring and the small kernel ring many times.
REAL_CAPTURE_FRAMES = 20_000


def _compile(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["gcc", *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


@pytest.fixture(scope="module")
def library_objects(tmp_path_factory):
    """flavor -> ringcore's object files built that way (each flavor built once per module)."""
    built: dict[str, list[Path]] = {}

    def objects(flavor: str) -> list[Path]:
        if flavor not in built:
            out = tmp_path_factory.mktemp(f"ringcore-{flavor}")
            paths = []
            for name in LIBRARY_SOURCES + OPTIONAL_SOURCES:
                obj = out / f"{name}.o"
                result = _compile([*COMMON_FLAGS, *FLAVORS[flavor], "-c", str(SRC / f"{name}.c"), "-o", str(obj)])
                if result.returncode != 0:
                    if name in OPTIONAL_SOURCES:
                        warnings.warn(f"{name}.c does not build ({flavor}); C tests run without it:\n{result.stderr}")
                        continue
                    pytest.fail(f"{name}.c does not build ({flavor}):\n{result.stderr}")
                paths.append(obj)
            built[flavor] = paths
        return built[flavor]

    return objects


@pytest.fixture(params=list(FLAVORS))
def build_c_test(request, library_objects, tmp_path):
    """Build one C test in this fixture's flavor: (command prefix that runs it, environment, flavor)."""
    flavor = request.param

    def build(name: str) -> tuple[list[str], dict[str, str], str]:
        exe = tmp_path / f"{name}-{flavor}"
        built = _compile([*COMMON_FLAGS, *FLAVORS[flavor], str(C_TESTS / f"{name}.c"),
                          *map(str, library_objects(flavor)), *LIBRARIES, "-o", str(exe)])
        assert built.returncode == 0, f"{name}.c does not build ({flavor}):\n{built.stderr}"
        return [str(exe)], {**os.environ, **SANITIZER_OPTIONS, "TMPDIR": str(tmp_path)}, flavor

    return build


def check_c_test(name: str, flavor: str, returncode: int, stdout: str, stderr: str) -> str:
    """A C test passed cleanly: exit 0, its ok line, and no sanitizer report."""
    output = f"{name} ({flavor}) exited {returncode}\n{stdout}{stderr}"
    assert returncode == 0, output
    assert not SANITIZER_REPORT.search(stderr), output
    assert f"{name}: ok" in stdout, output
    return stdout


@pytest.fixture
def run_c_test(build_c_test):
    """Build one C test in each flavor and run it; fails with its output unless it passed cleanly."""

    def run(name: str, *args: str) -> str:
        command, env, flavor = build_c_test(name)
        command += args
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S)
        if flavor == "tsan" and TSAN_BAD_MAPPING in result.stderr:
            result = subprocess.run(["setarch", platform.machine(), "-R", *command],
                                    capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_S)
        return check_c_test(name, flavor, result.returncode, result.stdout, result.stderr)

    return run


def test_two_threads_with_records_of_one_to_three_slots_lose_nothing_tear_nothing_and_account_exactly(run_c_test):
    run_c_test("ring_stress_two_threads", TIMED_SECONDS)


def test_adaptive_wait_spins_then_sleeps_on_the_event_and_switching_strategies_loses_nothing(run_c_test):
    run_c_test("ring_wait_adaptive", TIMED_SECONDS)


def test_positions_far_past_slot_count_land_in_their_slot_in_order(run_c_test):
    run_c_test("ring_wraparound")


def test_full_ring_refuses_with_enobufs_and_counts_drops_by_policy(run_c_test):
    run_c_test("ring_full_both_policies")


def test_with_truncate_to_slot_a_packet_longer_than_a_slot_is_cut_to_it_and_flagged_truncated(run_c_test):
    run_c_test("ring_truncation")


def test_packet_larger_than_a_slot_is_one_whole_record_that_never_wraps_and_one_larger_than_the_ring_is_cut(
        run_c_test):
    run_c_test("ring_records")


def test_ring_has_the_classic_geometry_and_refuses_configs_that_do_not_fit(run_c_test):
    run_c_test("ring_create_config")


def test_one_consumer_per_ring_releases_only_what_it_polled_and_the_ring_lives_while_referenced(run_c_test):
    run_c_test("ring_consumer_ownership")


def test_a_zero_copy_ring_over_kernel_laid_blocks_delivers_each_packet_once_in_place_and_gives_every_block_back(
        run_c_test):
    run_c_test("ring_kernel_blocks", TIMED_SECONDS)


def test_two_drains_sharing_a_limit_take_exactly_the_limit(run_c_test):
    run_c_test("drain_shared_limit", TIMED_SECONDS)


def test_writer_keeps_every_packet_whole_and_in_order_under_two_concurrent_drains(run_c_test):
    run_c_test("writer_concurrent_drains", TIMED_SECONDS)


def test_writer_packet_buffered_hands_each_batch_to_a_fifo_reader_at_once_and_a_buffered_one_at_close(run_c_test):
    run_c_test("writer_packet_buffered")


def test_writer_rotating_by_size_under_two_drains_makes_whole_files_within_the_size_holding_each_packet_once(
        run_c_test):
    run_c_test("writer_rotation_size")


def test_writer_rotating_by_time_makes_one_whole_file_per_period_named_by_strftime_and_keeps_the_newest(run_c_test):
    run_c_test("writer_rotation_time")


def test_a_rotating_writer_that_cannot_make_its_next_file_or_fills_the_disk_keeps_whole_files_it_counts_exactly(
        run_c_test):
    run_c_test("writer_rotation_errors")


def test_talkers_key_each_frame_by_its_addresses_keep_a_window_that_ages_out_after_a_clock_step_and_lose_no_byte(
        run_c_test):
    run_c_test("talkers_window")


def test_talkers_counted_by_a_drain_while_read_add_up_to_what_was_produced(run_c_test):
    run_c_test("talkers_drain_concurrent", TIMED_SECONDS)


def test_a_pcap_in_each_byte_order_and_unit_indexes_every_packet_with_its_time_lengths_and_bytes(run_c_test):
    run_c_test("store_file_pcap")


def test_a_pcapng_of_two_sections_and_three_interfaces_indexes_epb_spb_pb_and_their_comments(run_c_test):
    run_c_test("store_file_pcapng")


def test_a_damaged_file_indexes_up_to_the_damage_and_says_what_and_where(run_c_test):
    run_c_test("store_file_damage")


def test_a_store_read_while_indexing_grows_whole_and_closes_at_once_while_indexing_or_waiting_on_a_stream(
        run_c_test):
    run_c_test("store_file_close")
def test_two_drains_store_into_one_evicting_spool_and_every_snapshot_keeps_the_store_identity(run_c_test):
    run_c_test("store_spool_drain_identity", TIMED_SECONDS)


def test_spool_held_after_many_laps_reads_back_the_newest_packets_whole_and_saves_them_to_pcapng(run_c_test):
    run_c_test("store_spool_readback")


def test_a_spool_that_cannot_grow_counts_every_packet_not_stored_in_one_line(run_c_test):
    run_c_test("store_spool_write_error")


def test_a_full_spool_index_evicts_the_oldest_by_count_as_full_bytes_do_and_counts_them_evicted(run_c_test):
    run_c_test("store_spool_index_cap")


def test_a_batch_read_gives_each_packets_entry_and_bytes_in_order_and_stops_at_eviction_the_newest_or_a_full_buffer(
        run_c_test):
    run_c_test("store_read_batch")


def test_a_selection_sets_its_numbers_bits_in_a_bitmap_and_one_made_from_a_bitmap_holds_exactly_its_bits(run_c_test):
    run_c_test("selection_bits")


def test_a_display_filter_over_a_file_and_a_spool_of_two_link_types_matches_exactly_while_the_spool_grows(run_c_test):
    run_c_test("store_filter_link_types")


def test_an_exported_selection_holds_exactly_its_packets_and_a_failed_or_cancelled_export_leaves_no_file(run_c_test):
    run_c_test("store_export_selection")


def test_a_drain_stuck_storing_a_batch_does_not_delay_a_snapshot_which_keeps_the_identity(run_c_test):
    run_c_test("store_spool_stats_no_wait")


@pytest.mark.parametrize("ring_mode", ["early", "late", "zero-copy", "direct", "immediate", "immediate-zero-copy"])
def test_real_capture_on_a_flooded_veth_accounts_for_every_frame_sent_by_stage(build_c_test, veth_pair, tmp_path,
                                                                             ring_mode):
    """capture.c's producer, its drop policy (or a zero-copy ring: the drain reads the kernel's blocks; or direct:
    the drain's sinks run in the capture thread; immediate: over a TPACKET_V2 ring of frames), a drain, the writer and talkers on a real interface, under each
    sanitizer: the kernel took or dropped every frame the
    test sent, and the identity closes."""
    command, env, flavor = build_c_test("capture_real_veth")
    if flavor == "tsan":  # TSan's fixed shadow layout; without ASLR it always maps
        command = ["setarch", platform.machine(), "-R", *command]
    capture = subprocess.Popen(["ip", "netns", "exec", veth_pair.ns_a, *command, veth_pair.if_a, ring_mode,
                                str(REAL_CAPTURE_FRAMES), str(tmp_path / "out.pcap")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert capture.stdout.readline().strip() == "ready", capture.stderr.read()
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(REAL_CAPTURE_FRAMES)))
        stdout, stderr = capture.communicate("sent\n", timeout=RUN_TIMEOUT_S)
    finally:
        capture.kill()
        capture.wait()
    check_c_test("capture_real_veth", flavor, capture.returncode, stdout, stderr)
    delivered = int(re.search(r"delivered (\d+)", stdout).group(1))
    assert len(tshark_read(tmp_path / "out.pcap")) == delivered, "tshark reads every delivered packet from the file"


def test_every_c_test_program_is_run_here():
    run_here = set(re.findall(r'(?:run_c_test|build_c_test)\("(\w+)"', Path(__file__).read_text()))
    on_disk = {path.stem for path in C_TESTS.glob("*.c")}
    assert on_disk == run_here
