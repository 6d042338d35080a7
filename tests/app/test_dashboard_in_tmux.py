"""The real `ringmon` dashboard in a terminal (tmux) on a test veth pair: the ring and polling it defaults to,
on screen, everything given back (terminal, promiscuous mode) when it is quit or ended by SIGTERM or SIGHUP, and
the packet store kept with --keep-spool."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from tmux_terminal import (
    RINGMON,
    assert_terminal_restored,
    command_pid,
    start_in_tmux,
    terminal_settings_to,
    tmux,
    wait_for_exit,
    wait_for_screen,
)

import netns
from readback import tshark_read


def promiscuity(pair: netns.VethPair) -> int:
    """How many holders keep end a in promiscuous mode (a capture socket is one)."""
    done = subprocess.run(["ip", "-n", pair.ns_a, "-d", "-j", "link", "show", pair.if_a], check=True,
                          capture_output=True, text=True, timeout=30)
    return json.loads(done.stdout)[0]["promiscuity"]


def start_dashboard(pair: netns.VethPair, tmp_path: Path) -> str:
    """`ringmon -i` on end a, inside its namespace, as a user would start it; waits for its first screen."""
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    session = start_in_tmux(f"ip netns exec {pair.ns_a} {RINGMON} -i {pair.if_a}", tmp_path / "exit-status",
                            then=terminal_settings_to(tmp_path / "stty"))
    try:
        wait_for_screen(session, r"Ring occupancy")
    except BaseException:
        end_session(session)
        raise
    return session


def end_session(session: str) -> None:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_dashboard_defaults_to_the_8192_slot_ring_and_sleeping_1ms_when_empty(veth_pair, tmp_path):
    session = start_dashboard(veth_pair, tmp_path)
    try:
        wait_for_screen(session, r" 0/8192 slots ")
        wait_for_screen(session, r"sleep 1\.0ms when empty")
        # an idle consumer sleeping 1 ms at a time wakes up to about 1000 times a second, never more
        # (the first refreshes have no rate yet: 0/s)
        sleeps = wait_for_screen(session, r"sleeps ([1-9]\d*)/s").group(1)
        assert 300 <= int(sleeps) <= 1000, sleeps
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(session, tmp_path / "exit-status") == 0
        assert_terminal_restored(session, tmp_path / "stty")
    finally:
        end_session(session)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_ends_the_dashboard_with_128_plus_the_signal_and_everything_given_back(veth_pair, tmp_path,
                                                                                              signum):
    session = start_dashboard(veth_pair, tmp_path)
    try:
        assert promiscuity(veth_pair) == 1, "the capture put the interface in promiscuous mode"
        os.kill(command_pid(session), signum)
        assert wait_for_exit(session, tmp_path / "exit-status") == 128 + signum
        assert_terminal_restored(session, tmp_path / "stty")
        assert promiscuity(veth_pair) == 0
    finally:
        end_session(session)


@pytest.mark.parametrize(("limit", "sent", "held"), [
    ("--spool-size 2M", 300, 300),
    ("--spool-packets 4K", 5000, 4096),  # small packets: the index fills before the spool's bytes
], ids=["all-held", "index-full"])
def test_keep_spool_saves_the_stored_packets_at_quit_as_a_pcapng_tshark_reads_and_removes_the_spool(veth_pair,
                                                                                                    tmp_path, limit,
                                                                                                    sent, held):
    keep_dir, spool_parent = tmp_path / "kept", tmp_path / "spool"
    keep_dir.mkdir()
    spool_parent.mkdir()
    frames = veth_pair.frames_to_a(range(sent), size=60)
    session = start_in_tmux(f"TMPDIR={spool_parent} ip netns exec {veth_pair.ns_a} {RINGMON} -i {veth_pair.if_a} "
                            f"{limit} --keep-spool {keep_dir} udp dst port {netns.UDP_DST_PORT}",
                            tmp_path / "exit-status")
    try:
        wait_for_screen(session, r"Ring occupancy")
        (spool_dir,) = spool_parent.iterdir()  # the private directory, while the dashboard runs
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_for_screen(session, f"stored {sent:,} of delivered ✓")
        wait_for_screen(session, f"= held {held:,} \\+ evicted {sent - held:,}")
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(session, tmp_path / "exit-status") == 0
    finally:
        end_session(session)
    (kept,) = keep_dir.iterdir()
    assert kept.name.startswith("ringmon-") and kept.suffix == ".pcapng"
    assert [packet.frame for packet in tshark_read(kept)] == frames[sent - held:]
    assert not spool_dir.exists() and list(spool_parent.iterdir()) == []


def test_keep_spool_gone_at_quit_saves_the_store_in_the_spools_directory_says_so_in_one_line_and_exits_1(veth_pair,
                                                                                                      tmp_path):
    keep_dir, spool_parent = tmp_path / "kept", tmp_path / "spool"
    keep_dir.mkdir()
    spool_parent.mkdir()
    frames = veth_pair.frames_to_a(range(100))
    session = start_in_tmux(f"TMPDIR={spool_parent} ip netns exec {veth_pair.ns_a} {RINGMON} -i {veth_pair.if_a} "
                            f"--keep-spool {keep_dir} udp dst port {netns.UDP_DST_PORT}", tmp_path / "exit-status")
    try:
        wait_for_screen(session, r"Ring occupancy")
        (spool_dir,) = spool_parent.iterdir()
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_for_screen(session, r"stored 100 of delivered ✓")
        keep_dir.rmdir()  # checked at start, gone at the end
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(session, tmp_path / "exit-status") == 1
        # the terminal after the app: its lines joined where the 100 columns wrapped them
        (line,) = [line for line in tmux("capture-pane", "-p", "-J", "-t", session).splitlines() if line.strip()]
    finally:
        end_session(session)
    (kept,) = spool_dir.iterdir()  # the spool removed, its directory left with the store in it
    assert line.startswith(f"ringmon: {keep_dir}/ringmon-") and "cannot create the file" in line
    assert line.endswith(f"; all 100 stored packets kept in {kept} instead")
    assert [packet.frame for packet in tshark_read(kept)] == frames
