"""The real `ringmon read` in a terminal (tmux): the status line counts the file (what the benchmark waits for),
End shows its last packet, a file cut short shows every whole packet and says what is wrong, q gives the
terminal back, and so do SIGTERM and SIGHUP."""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from packet_files import FIRST_TS_S, STEP_US, write_mixed_pcap
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
    status = wait_for_screen(session, r"2,999 packets  cut\.pcap  pcap  .*(truncated at offset \d+: .*)").group(1)
    assert "indexing" not in status, screen(session)
    wait_for_screen(session, r"(?s)tried to.*only got \d+")  # the whole message, in the notification


@pytest.mark.parametrize(("words", "shown"), [
    (["arp"], r"600 of 3,000 packets match arp.*\n.*\n\s*5\s+0\.006000\s"),  # BPF: packet 5 is the first ARP
    (["dns.qry.name", "contains", '"host10."'], r"1 of 3,000 packets match dns\.qry\.name contains \"host10\.\""
                                                r".*\n.*\n\s*11\s+0\.015000\s"),  # Wireshark's, detected
], ids=["bpf", "wireshark"])
def test_read_with_a_filter_opens_the_list_showing_only_its_matches(tmp_path, words, shown):
    netns.require(shutil.which("tshark") is not None or words == ["arp"], "Wireshark's syntax is run by tshark")
    path = write_mixed_pcap(tmp_path / "mixed.pcap", PACKETS)
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    session = start_in_tmux(" ".join([RINGMON, "read", str(path), *map(shlex.quote, words)]),
                            tmp_path / "exit-status")
    try:
        wait_for_screen(session, shown)
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(session, tmp_path / "exit-status") == 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_ends_read_with_128_plus_the_signal_and_the_terminal_given_back(tmp_path, reading, signum):
    session = reading(write_mixed_pcap(tmp_path / "mixed.pcap", 100))
    wait_for_screen(session, r"100 packets")
    os.kill(command_pid(session), signum)
    assert wait_for_exit(session, tmp_path / "exit-status") == 128 + signum
    assert_terminal_restored(session, tmp_path / "stty")


def test_filter_mark_and_export_in_a_terminal_write_the_marked_packet_under_a_new_name_here(tmp_path):
    """\\ opens the filter, space marks, e exports: the dialog's default name is a new file in the current
    directory, and tcpdump reads the one marked packet from it."""
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    path = write_mixed_pcap(tmp_path / "mixed.pcap", PACKETS)
    workdir = tmp_path / "here"
    workdir.mkdir()
    session = start_in_tmux(f"{RINGMON} read {path}", tmp_path / "exit-status", cwd=workdir)
    try:
        wait_for_screen(session, r"3,000 packets")
        tmux("send-keys", "-t", session, "\\")
        wait_for_screen(session, r"Filter \[detect\]")
        tmux("send-keys", "-t", session, "-l", "arp")
        tmux("send-keys", "-t", session, "Enter")
        wait_for_screen(session, r"600 of 3,000 packets match arp")
        tmux("send-keys", "-t", session, "Down", "Space")  # packet 10, the second ARP
        wait_for_screen(session, r"1 marked")
        tmux("send-keys", "-t", session, "e")
        wait_for_screen(session, r"Export packets to a file")
        tmux("send-keys", "-t", session, "Enter")  # marked, pcapng, the name offered
        wait_for_screen(session, r"1 packet, .* written to")
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(session, tmp_path / "exit-status") == 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
    [written] = os.listdir(workdir)
    assert written.startswith("ringmon-export-") and written.endswith(".pcapng")
    done = subprocess.run(["tcpdump", "-r", str(workdir / written), "-n", "-tt"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1 and "ARP" in done.stdout
    assert done.stdout.startswith(f"{FIRST_TS_S + 9 * STEP_US / 10**6:.6f}")
