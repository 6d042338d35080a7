"""The real `ringmon read` in a terminal (tmux): the status line counts the file (what the benchmark waits for),
End shows its last packet, a file cut short shows every whole packet and says what is wrong, q gives the
terminal back, and so do SIGTERM and SIGHUP."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from packet_files import write_mixed_pcap
from tmux_terminal import (
    RINGMON,
    assert_terminal_restored,
    command_pid,
    screen,
    start_in_tmux,
    terminal_settings_to,
    tmux,
    wait_for_exit,
    wait_for_screen,
)

import netns

PACKETS = 3000


@pytest.fixture
def reading(tmp_path):
    """Starts `ringmon read PATH` in tmux; yields the function, ends the session after the test."""
    sessions = []

    def start(path: Path) -> str:
        netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
        session = start_in_tmux(f"{RINGMON} read {path}", tmp_path / "exit-status",
                                then=terminal_settings_to(tmp_path / "stty"))
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_read_counts_the_file_shows_its_last_packet_on_end_and_q_gives_the_terminal_back(tmp_path, reading):
    session = reading(write_mixed_pcap(tmp_path / "mixed.pcap", PACKETS))
    wait_for_screen(session, r"3,000 packets .*mixed\.pcap\s+pcap")
    assert "indexing" not in screen(session)
    tmux("send-keys", "-t", session, "End")
    wait_for_screen(session, r"\n\s*3000\s+4\.498500\s")
    tmux("send-keys", "-t", session, "q")
    assert wait_for_exit(session, tmp_path / "exit-status") == 0
    assert_terminal_restored(session, tmp_path / "stty")


def test_a_file_cut_short_shows_every_whole_packet_and_says_what_is_wrong(tmp_path, reading):
    whole = write_mixed_pcap(tmp_path / "whole.pcap", PACKETS).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-10])  # the last record loses its end
    session = reading(cut)
    status = wait_for_screen(session, r"2,999 packets  (truncated: .*)").group(1)
    assert "indexing" not in status and "2999 whole" in status, screen(session)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_ends_read_with_128_plus_the_signal_and_the_terminal_given_back(tmp_path, reading, signum):
    session = reading(write_mixed_pcap(tmp_path / "mixed.pcap", 100))
    wait_for_screen(session, r"100 packets")
    os.kill(command_pid(session), signum)
    assert wait_for_exit(session, tmp_path / "exit-status") == 128 + signum
    assert_terminal_restored(session, tmp_path / "stty")
