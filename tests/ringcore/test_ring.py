"""The slot ring through its Python API: classic geometry, zero-copy batches, the rx_poll loop, waiting, bad sizes."""
from __future__ import annotations

import ctypes
import mmap
import struct
import threading
import time

import pytest

from isolated import assert_every_call_raises_after_close, run_isolated
from ringcore import Drain, DropPolicy, Limit, OutOfRangeError, Ring, RingcoreError, WaitStrategy, validate_ring
from ringcore import _binding as rc

PAGE = mmap.PAGESIZE
SLOT_DATA = 2048 - rc.SLOT_HDR_SIZE
# struct rc_ring_header up to its head: six uint32 fields
RING_HEADER = struct.Struct("<6I")


@pytest.fixture
def classic_ring():
    ring = Ring.create(slot_size=2048, ring_pages=33)
    yield ring
    ring.close()


def packet(seq: int, size: int = 100) -> bytes:
    return bytes((seq * 7 + i) & 0xFF for i in range(size))


def view_address(view: memoryview) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def test_classic_ring_of_33_pages_has_64_slots_of_2048_bytes_in_one_33_page_mapping(classic_ring):
    assert PAGE == 4096, "the classic ring is defined for 4 KiB pages"
    assert validate_ring(2048, 33) == 64
    stats = classic_ring.stats()
    assert (stats.slot_count, stats.slot_size) == (64, 2048)
    assert rc.lib.rc_ring_map_size(classic_ring.handle) == 33 * PAGE
    base = rc.lib.rc_ring_base(classic_ring.handle)
    assert base % PAGE == 0
    header = RING_HEADER.unpack(ctypes.string_at(base, RING_HEADER.size))
    # magic, version, page_size, slot_size, slot_count, ring_pages
    assert header == (0x52494E47, 2, PAGE, 2048, 64, 33)
    # one header page, then the 64 slots fill the other 32 pages exactly
    assert rc.lib.rc_ring_slot(classic_ring.handle, 0) == base + PAGE
    assert rc.lib.rc_ring_slot(classic_ring.handle, 63) + 2048 == base + 33 * PAGE


def test_batch_poll_gives_zero_copy_views_into_the_mapping_holding_what_was_produced(classic_ring):
    sent = [packet(seq, 60 + seq * 37) for seq in range(10)]
    for seq, data in enumerate(sent):
        assert classic_ring.produce(data, wirelen=len(data) + 4, ts_ns=1_000 + seq, ifindex=3)
    batch = classic_ring.poll(64)
    assert [bytes(view) for view, _ in batch] == sent
    base = rc.lib.rc_ring_base(classic_ring.handle)
    for seq, (view, meta) in enumerate(batch):
        assert isinstance(view, memoryview)
        assert (meta.position, meta.caplen, meta.wirelen, meta.ts_ns, meta.ifindex, meta.truncated) == (
            seq, len(sent[seq]), len(sent[seq]) + 4, 1_000 + seq, 3, False)
        address = view_address(view)
        assert address == rc.lib.rc_ring_slot(classic_ring.handle, seq) + rc.SLOT_HDR_SIZE
        assert base + PAGE <= address < base + 33 * PAGE
    # the view is the slot itself: a change to the mapping shows through it
    ctypes.memmove(view_address(batch[2][0]), b"\xee\xff", 2)
    assert bytes(batch[2][0][:2]) == b"\xee\xff"
    classic_ring.release(len(batch))
    stats = classic_ring.stats()
    assert (stats.delivered, stats.occupancy) == (10, 0)


def test_poll_takes_at_most_max_items_and_release_frees_exactly_that_many(classic_ring):
    for seq in range(10):
        classic_ring.produce(packet(seq))
    first = classic_ring.poll(4)
    assert [meta.position for _, meta in first] == [0, 1, 2, 3]
    assert classic_ring.stats().occupancy == 10
    classic_ring.release(4)
    assert classic_ring.stats().occupancy == 6
    rest = classic_ring.poll(64)
    assert [meta.position for _, meta in rest] == list(range(4, 10))
    assert [bytes(view) for view, _ in rest] == [packet(seq) for seq in range(4, 10)]


def test_full_ring_refuses_the_next_packet_and_keeps_its_high_water_mark(classic_ring):
    assert all(classic_ring.produce(packet(seq)) for seq in range(64))
    assert not classic_ring.produce(packet(64))
    stats = classic_ring.stats()
    assert (stats.occupancy, stats.slots_used_high, stats.kernel_packets) == (64, 64, 64)
    classic_ring.release(len(classic_ring.poll(64)))
    assert classic_ring.stats().slots_used_high == 64
    classic_ring.reset_high_water()
    assert classic_ring.stats().slots_used_high == 0


def test_with_truncate_to_slot_a_packet_longer_than_the_slot_is_cut_and_flagged_truncated():
    ring = Ring.create(slot_size=2048, ring_pages=33, truncate_to_slot=True)
    data = packet(1, 3000)
    assert ring.produce(data)
    [(view, meta)] = ring.poll(1)
    assert (meta.caplen, meta.wirelen, meta.truncated, meta.slots) == (SLOT_DATA, 3000, True, 1)
    assert bytes(view) == data[:SLOT_DATA]
    assert (ring.stats().truncated, ring.stats().truncate_to_slot) == (1, True)
    ring.release(1)
    ring.close()


def test_a_packet_longer_than_a_slot_is_one_whole_record_polled_as_one_view_and_released_as_one_packet(classic_ring):
    # 62 one-slot packets, then a 9000-byte one: it needs 5 slots, only 2 are left before the end, so it goes to
    # slot 0 after a padding record, once the first slots are free
    small = [packet(seq) for seq in range(62)]
    for data in small:
        assert classic_ring.produce(data)
    classic_ring.release(len(classic_ring.poll(64)))
    jumbo = packet(99, 9000)
    assert classic_ring.produce(jumbo, ts_ns=7)
    [(view, meta)] = classic_ring.poll(64)
    assert bytes(view) == jumbo, "the packet whole, as one zero-copy view"
    assert (meta.position % 64, meta.slots, meta.caplen, meta.truncated) == (0, 5, 9000, False)
    base = rc.lib.rc_ring_base(classic_ring.handle)
    assert view_address(view) == base + PAGE + rc.SLOT_HDR_SIZE
    stats = classic_ring.stats()
    assert (stats.occupancy, stats.slots_used, stats.truncated) == (1, 7, 0), "1 packet in 5 slots + 2 of padding"
    kinds = classic_ring.slot_kinds()
    assert kinds[62:] == bytes([rc.RC_SLOT_KIND_PADDING] * 2)
    assert kinds[:6] == bytes([rc.RC_SLOT_KIND_FIRST] + [rc.RC_SLOT_KIND_CONTINUED] * 4 + [rc.RC_SLOT_KIND_FIRST])
    opened = classic_ring.copy_slot(3)  # a continuation slot: the inspector gets the record it belongs to
    assert (opened.index, opened.slots, opened.data, opened.ts_ns) == (0, 5, jumbo, 7)
    assert classic_ring.copy_slot(63).padding
    with pytest.raises(RingcoreError):
        classic_ring.release(2)
    classic_ring.release(1)
    stats = classic_ring.stats()
    assert (stats.delivered, stats.occupancy, stats.slots_used) == (63, 0, 0)
    assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy


def test_rx_poll_calls_fn_per_packet_in_order_and_frees_each_slot_after_fn_returns(classic_ring):
    sent = [packet(seq, 64 + seq) for seq in range(64)]
    for data in sent:
        assert classic_ring.produce(data)
    seen, occupancy_inside, views = [], [], []

    def fn(view, meta):
        seen.append((meta.position, bytes(view)))
        occupancy_inside.append(classic_ring.stats().occupancy)
        views.append(view)

    assert classic_ring.rx_poll(fn, count=64) == 64
    assert seen == list(enumerate(sent))
    # the slot of packet k is still held while fn runs, freed before packet k+1
    assert occupancy_inside == [64 - k for k in range(64)]
    assert classic_ring.stats().occupancy == 0
    # a view kept past fn is released with its slot: it can no longer read reused memory
    with pytest.raises(ValueError):
        bytes(views[0])


def test_rx_poll_takes_every_packet_in_order_from_a_concurrent_producer(classic_ring):
    total = 2000
    classic_ring.set_wait(WaitStrategy.SLEEP, 100)

    def produce():
        for seq in range(total):
            while not classic_ring.produce(packet(seq, 20 + seq % 500), ts_ns=seq):
                time.sleep(0.0001)

    producer = threading.Thread(target=produce)
    producer.start()
    got = []
    try:
        handled = classic_ring.rx_poll(lambda view, meta: got.append((meta.ts_ns, bytes(view))),
                                       count=total, timeout_s=30)
    finally:
        producer.join()
    assert handled == total
    assert got == [(seq, packet(seq, 20 + seq % 500)) for seq in range(total)]
    stats = classic_ring.stats()
    assert stats.kernel_packets == stats.delivered == total


def test_rx_poll_waits_when_empty_and_counts_polls_empty_polls_sleeps_and_time_asleep(classic_ring):
    calls = []
    started = time.monotonic()
    assert classic_ring.rx_poll(lambda view, meta: calls.append(meta), timeout_s=0.1) == 0
    elapsed = time.monotonic() - started
    stats = classic_ring.stats()
    assert calls == []
    assert stats.polls == stats.empty_polls
    # one 1 ms sleep after each empty poll: about 100 in 0.1 s, never more than the time allows
    assert stats.sleeps == stats.empty_polls
    assert 10 <= stats.sleeps <= elapsed * 1000 + 1
    assert stats.sleeps * 1_000_000 <= stats.sleep_ns <= elapsed * 1e9
    assert sum(stats.batch_hist) == 0

    for seq in range(3):
        classic_ring.produce(packet(seq))
    polls_before = stats.polls
    assert classic_ring.rx_poll(lambda view, meta: None, count=3) == 3
    stats = classic_ring.stats()
    assert stats.polls == polls_before + 1
    assert list(stats.batch_hist[:3]) == [0, 1, 0]  # one batch of 3: bucket [2, 4)
    assert sum(stats.latency_hist) == 3
    # the sum lies within the buckets' bounds ([2^b, 2^(b+1)) us; bucket 0 from 0)
    assert sum(count * (1 << b) * 1000 for b, count in enumerate(stats.latency_hist) if b) <= stats.latency_sum_ns
    assert stats.latency_sum_ns <= 3 * stats.latency_max_ns


@pytest.mark.parametrize(
    ("strategy", "interval_us"),
    # YIELD and SPIN get a long interval they must not spend: a yield on a busy machine may take a time slice
    [(WaitStrategy.SLEEP, 2000), (WaitStrategy.YIELD, 20000), (WaitStrategy.SPIN, 20000)],
)
def test_wait_strategy_decides_how_an_empty_ring_waits(classic_ring, strategy, interval_us):
    classic_ring.set_wait(strategy, interval_us)
    started = time.monotonic_ns()
    for _ in range(20):
        classic_ring.wait()
    elapsed_ns = time.monotonic_ns() - started
    stats = classic_ring.stats()
    assert (stats.wait_strategy, stats.poll_interval_us) == (strategy, interval_us)
    if strategy == WaitStrategy.SLEEP:
        assert stats.sleeps == 20 and stats.sleep_ns >= 20 * interval_us * 1000
    elif strategy == WaitStrategy.YIELD:
        # a yield is counted as a wait but does not sleep the interval
        assert stats.sleeps == 20 and stats.sleep_ns < 20 * interval_us * 1000
    else:
        assert stats.sleeps == 0 and stats.sleep_ns == 0
        assert elapsed_ns < 20 * interval_us * 1000


def test_event_wait_sleeps_until_the_producer_signals_and_at_most_its_bound(classic_ring):
    classic_ring.set_wait(WaitStrategy.EVENT, 1000)
    started = time.monotonic_ns()
    classic_ring.wait()  # nobody produces: the whole bound, not the 1 ms poll interval
    assert time.monotonic_ns() - started >= rc.RC_EVENT_WAIT_MAX_US * 1000 * 0.9

    producer = threading.Timer(0.02, classic_ring.produce, args=(b"wake",))
    producer.start()
    try:
        started = time.monotonic_ns()
        classic_ring.wait()
        woke_after_ns = time.monotonic_ns() - started
    finally:
        producer.join()
    # woken by the producer's signal, well before the bound (generous for a busy machine)
    assert woke_after_ns < rc.RC_EVENT_WAIT_MAX_US * 1000 * 0.8
    assert [bytes(view) for view, _ in classic_ring.poll()] == [b"wake"]
    assert classic_ring.stats().sleeps == 2


def test_out_of_range_poll_interval_is_refused(classic_ring):
    with pytest.raises(RingcoreError, match="poll interval -1 us"):
        classic_ring.set_wait(WaitStrategy.SLEEP, -1)
    with pytest.raises(RingcoreError, match="poll interval -5 us"):
        Ring.create(slot_size=2048, ring_pages=33, poll_interval_us=-5)


def test_drop_policy_changes_live_and_shows_in_the_statistics(classic_ring):
    assert classic_ring.stats().drop_policy == DropPolicy.EARLY
    classic_ring.set_drop_policy(DropPolicy.LATE)
    assert classic_ring.stats().drop_policy == DropPolicy.LATE


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    text = str(error.value)
    assert "\n" not in text and text.strip() == text
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize("slot_size", [0, 48, 63, 65552, 100, 2056])
def test_slot_size_below_64_above_64k_or_not_a_multiple_of_16_is_refused_in_one_line(slot_size):
    with pytest.raises(RingcoreError) as error:
        Ring.create(slot_size=slot_size, ring_pages=33)
    assert_one_line(error, f"slot size {slot_size}", "multiple of 16", "64", "65536")


@pytest.mark.parametrize(
    ("slot_size", "ring_pages"),
    [(2048, 1), (2048, 0), (2048, -3), (65536, 16), (2048, (1 << 22) + 1)],
)
def test_ring_size_that_does_not_fit_is_refused_in_one_line(slot_size, ring_pages):
    with pytest.raises(RingcoreError) as error:
        Ring.create(slot_size=slot_size, ring_pages=ring_pages)
    assert_one_line(error, f"{ring_pages} pages", "does not fit")


def test_largest_slot_fits_a_ring_of_17_pages():
    ring = Ring.create(slot_size=65536, ring_pages=17)
    try:
        assert ring.stats().slot_count == 1
    finally:
        ring.close()


# One call of each public Ring method, with arguments that would be fine on an open ring.
RING_CALLS = {
    "produce": lambda ring: ring.produce(b"x"),
    "poll": lambda ring: ring.poll(),
    "release": lambda ring: ring.release(0),
    "wait": lambda ring: ring.wait(),
    "rx_poll": lambda ring: ring.rx_poll(lambda view, meta: None, count=1),
    "stats": lambda ring: ring.stats(),
    "copy_slot": lambda ring: ring.copy_slot(0),
    "slot_kinds": lambda ring: ring.slot_kinds(),
    "set_drop_policy": lambda ring: ring.set_drop_policy(DropPolicy.LATE),
    "set_wait": lambda ring: ring.set_wait(WaitStrategy.SPIN, 0),
    "reset_high_water": lambda ring: ring.reset_high_water(),
}


def test_every_call_on_a_closed_ring_raises_instead_of_reaching_into_freed_memory():
    def closed_ring() -> Ring:
        ring = Ring.create(slot_size=2048, ring_pages=33)
        ring.produce(packet(1))
        ring.close()
        return ring

    assert_every_call_raises_after_close(Ring, closed_ring, RING_CALLS)


def test_views_from_poll_are_released_on_close_and_a_slice_kept_past_it_still_reads_mapped_memory():
    def views_after_close():
        ring = Ring.create(slot_size=2048, ring_pages=33)
        sent = [packet(seq, 1000) for seq in range(3)]
        for data in sent:
            ring.produce(data)
        batch = ring.poll()
        kept = batch[0][0][10:20]  # a slice is a view of its own: close cannot release it
        ring.close()
        for view, _ in batch:
            with pytest.raises(ValueError, match="released"):
                bytes(view)
        assert bytes(kept) == sent[0][10:20]
        del batch, view
        # a fresh ring of the same size must not be handed the kept slice's mapping
        other = Ring.create(slot_size=2048, ring_pages=33)
        other.produce(packet(9, 1000))
        assert bytes(kept) == sent[0][10:20]
        other.close()

    run_isolated(views_after_close)


def test_release_frees_only_packets_that_were_polled_and_refuses_more(classic_ring):
    for seq in range(10):
        classic_ring.produce(packet(seq))
    with pytest.raises(ValueError, match="cannot release 1 packets: 0 are polled"):
        classic_ring.release(1)
    batch = classic_ring.poll(3)
    with pytest.raises(ValueError, match="cannot release 4 packets: 3 are polled"):
        classic_ring.release(4)
    stats = classic_ring.stats()
    # nothing was freed by the refused releases: no packet counted as delivered unseen
    assert (stats.delivered, stats.occupancy) == (0, 10)
    classic_ring.release(2)
    with pytest.raises(ValueError, match="released"):
        bytes(batch[0][0])  # its slot is free: the view went with it
    assert bytes(batch[2][0]) == packet(2)
    classic_ring.release(1)
    assert (classic_ring.stats().delivered, classic_ring.stats().occupancy) == (3, 7)


def test_a_poll_takes_the_slots_after_the_ones_still_held(classic_ring):
    for seq in range(6):
        classic_ring.produce(packet(seq))
    first, second = classic_ring.poll(2), classic_ring.poll(3)
    assert [meta.position for _, meta in first + second] == [0, 1, 2, 3, 4]
    assert [bytes(view) for view, _ in second] == [packet(seq) for seq in (2, 3, 4)]
    classic_ring.release(5)
    assert [meta.position for _, meta in classic_ring.poll()] == [5]


def test_a_ring_drained_in_c_refuses_a_python_poll_and_the_other_way_round(classic_ring):
    for seq in range(4):
        classic_ring.produce(packet(seq))
    drain = Drain(classic_ring)
    try:
        with pytest.raises(RingcoreError, match="already has a consumer"):
            classic_ring.poll()
    finally:
        drain.stop()
    assert classic_ring.stats().delivered == 4
    classic_ring.produce(packet(4))
    assert [bytes(view) for view, _ in classic_ring.poll()] == [packet(4)]
    with pytest.raises(RingcoreError, match="already has a consumer"):
        Drain(classic_ring)


def test_a_drain_keeps_its_ring_after_the_ring_is_closed():
    def close_under_a_drain():
        ring = Ring.create(slot_size=2048, ring_pages=33)
        for seq in range(8):
            ring.produce(packet(seq))
        drain = Drain(ring)
        ring.close()
        del ring
        time.sleep(0.01)
        drain.stop()

    run_isolated(close_under_a_drain)


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("batch size", lambda ring: ring.poll(-1)),
        ("release count", lambda ring: ring.release(-1)),
        ("slot index", lambda ring: ring.copy_slot(-1)),
        ("wire length", lambda ring: ring.produce(b"x", wirelen=-1)),
        ("timestamp", lambda ring: ring.produce(b"x", ts_ns=-1)),
        ("interface index", lambda ring: ring.produce(b"x", ifindex=1 << 31)),
        ("batch size", lambda ring: Drain(ring, batch_max=0)),
        ("interface id", lambda ring: Drain(ring, ifid=-(1 << 31) - 1)),
        ("packet count", lambda ring: Limit(-2)),
    ],
)
def test_counts_and_sizes_that_c_cannot_take_raise_value_error_instead_of_wrapping(classic_ring, what, call):
    with pytest.raises(ValueError, match=f"{what} -?[0-9]+.* is out of range"):
        call(classic_ring)
    assert classic_ring.stats().head == 0


def test_adaptive_spin_is_set_within_its_bound_and_an_out_of_range_one_changes_nothing(classic_ring):
    classic_ring.set_wait(WaitStrategy.ADAPTIVE, 1000, spin_us=120)
    assert (classic_ring.stats().wait_strategy, classic_ring.stats().spin_us) == (WaitStrategy.ADAPTIVE, 120)
    for spin_us in (0, 1001):
        with pytest.raises(OutOfRangeError, match=f"spin {spin_us} us is out of range: 1 to 1000 us"):
            classic_ring.set_wait(WaitStrategy.SLEEP, 1000, spin_us=spin_us)
    assert (classic_ring.stats().wait_strategy, classic_ring.stats().spin_us) == (WaitStrategy.ADAPTIVE, 120)
    classic_ring.set_wait(WaitStrategy.EVENT, 1000)  # no spin given: it stays
    assert classic_ring.stats().spin_us == 120


def test_unknown_drop_policy_or_wait_strategy_is_refused(classic_ring):
    with pytest.raises(ValueError):
        classic_ring.set_drop_policy(7)
    with pytest.raises(ValueError):
        classic_ring.set_wait(9, 1000)
    stats = classic_ring.stats()
    assert (stats.drop_policy, stats.wait_strategy) == (DropPolicy.EARLY, WaitStrategy.SLEEP)
