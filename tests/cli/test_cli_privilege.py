"""Least privilege: capture needs CAP_NET_RAW and nothing else, and -Z USER goes on as USER with no capability
once the interfaces (and files) are open."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_process import (
    EXIT_TIMEOUT_S,
    RINGMON,
    START_TIMEOUT_S,
    assert_one_error_line,
    run_ringmon,
    summary_counts,
    tshark_packets,
)

import netns
from tmux_terminal import command_pid, start_in_tmux, tmux, wait_for_exit, wait_for_screen
from ringcore import RingcoreError
from ringmon.privilege import installation_needs, require_access

FRAME_COUNT = 40
NOBODY = pwd.getpwnam("nobody")
# nobody with CAP_NET_RAW alone (and reading the interpreter under root's home): what `setcap cap_net_raw+ep`
# on the interpreter gives a non-root user.
NET_RAW_ONLY = ("setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
                "--inh-caps=-all,+net_raw,+dac_read_search", "--ambient-caps=+net_raw,+dac_read_search")


@pytest.fixture
def nobodys_directory() -> Iterator[Path]:
    """A directory nobody may write in (pytest's tmp_path is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="ringmon-nobody-"))
    os.chmod(directory, 0o755)
    os.chown(directory, NOBODY.pw_uid, NOBODY.pw_gid)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def installation_readable_by_nobody() -> Iterator[None]:
    """After -Z the process must still read its Python installation (lazy imports); a system install is
    readable by all, this machine's interpreter may sit under root's 0700 home: let others traverse its
    parents for the test, and restore their modes after."""
    changed: list[tuple[Path, int]] = []
    for directory in reversed(Path(sys.executable).resolve().parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(directory, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append((directory, stat.S_IMODE(mode)))
    try:
        yield
    finally:
        for directory, mode in changed:
            os.chmod(directory, mode)


def status_of(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def capture_every_frame(pair: netns.VethPair, *ringmon_args: str, prefix: tuple[str, ...] = (),
                        while_listening: Callable[[int], None] = lambda pid: None) -> None:
    """`ringmon capture -i A -c N ARGS` inside A's namespace (under `prefix`): once it listens,
    `while_listening(its pid)`, then N frames; it must take every one and exit 0."""
    capture = subprocess.Popen(
        ["ip", "netns", "exec", pair.ns_a, *prefix, RINGMON, "capture", "-i", pair.if_a, "-c", str(FRAME_COUNT),
         *ringmon_args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "listening on" not in (line := capture.stderr.readline()):
            assert line and time.monotonic() < deadline, f"did not start: {line}{capture.stderr.read()}"
        while_listening(capture.pid)  # ip netns exec execs what it runs: the same process
        netns.send_frames(pair.ns_b, pair.if_b, pair.frames_to_a(range(FRAME_COUNT)))
        _, stderr = capture.communicate(timeout=EXIT_TIMEOUT_S)
    finally:
        capture.kill()
        capture.wait()
    assert capture.returncode == 0, stderr
    assert summary_counts(stderr)["captured"] == FRAME_COUNT


def test_capture_as_a_non_root_user_with_only_cap_net_raw_takes_every_frame(veth_pair, nobodys_directory):
    out = nobodys_directory / "out.pcap"
    capture_every_frame(veth_pair, "-w", str(out), prefix=NET_RAW_ONLY)
    assert len(tshark_packets(out)) == FRAME_COUNT
    assert out.stat().st_uid == NOBODY.pw_uid


def test_dashboard_with_z_runs_as_that_user_without_capabilities_and_keeps_capturing(
        veth_pair, tmp_path, installation_readable_by_nobody):
    netns.require(shutil.which("tmux") is not None, "the dashboard test needs tmux")
    session = start_in_tmux(f"ip netns exec {veth_pair.ns_a} {RINGMON} -i {veth_pair.if_a} -Z nobody",
                            tmp_path / "exit-status")
    pid = None
    try:
        wait_for_screen(session, r"Ring occupancy")  # drawn only once it has become nobody
        pid = command_pid(session)
        status = status_of(pid)
        assert status["Uid"].split() == [str(NOBODY.pw_uid)] * 4
        assert status["Gid"].split() == [str(NOBODY.pw_gid)] * 4
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT)))
        wait_for_screen(session, rf"taken {FRAME_COUNT} = delivered")
        # Closing its terminal (SIGHUP, then SIGCONT, the tty gone) ends it: signal handlers that ran inside
        # Textual's output queue once deadlocked it here, two runs in three.
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while os.path.exists(f"/proc/{pid}"):
            assert time.monotonic() < deadline, "the dashboard did not end when its terminal closed"
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
        if pid is not None and os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("command", [(), ("capture",)], ids=["dashboard", "capture"])
def test_z_with_an_unknown_user_is_one_error_line(veth_pair, command):
    result = run_ringmon(*command, "-i", veth_pair.if_a, "-Z", "no-such-user-ringmon")
    assert_one_error_line(result, "-Z no-such-user-ringmon: no such user")


def test_z_refuses_before_opening_anything_when_the_user_could_not_read_what_it_needs(tmp_path):
    """The check runs as the user, in a child: root's 0700 directory is unreadable to nobody, the library is not."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(RingcoreError, match=rf"-Z nobody: nobody cannot read it: {private}$"):
        require_access(NOBODY, [(str(private), os.R_OK | os.X_OK, "read it")])
    require_access(NOBODY, [("/usr/lib", os.R_OK | os.X_OK, "read it")])
    assert {path for path, _, _ in installation_needs()} >= {os.path.dirname(os.__file__)}


@pytest.fixture
def sticky_directory() -> Iterator[Path]:
    """Root's, world-writable and sticky like /tmp: a file there may be renamed only by its owner."""
    directory = Path(tempfile.mkdtemp(prefix="ringmon-sticky-"))
    os.chmod(directory, 0o1777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def test_capture_with_z_drops_to_the_user_once_open_and_still_completes_its_files(
        veth_pair, sticky_directory, installation_readable_by_nobody):
    out, stats = sticky_directory / "out.pcap", sticky_directory / "stats.json"

    def became_nobody_without_capabilities(pid: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while status_of(pid)["Uid"].split()[0] != str(NOBODY.pw_uid):
            assert time.monotonic() < deadline, "the capture never became nobody"
            time.sleep(0.05)
        status = status_of(pid)
        assert status["Uid"].split() == [str(NOBODY.pw_uid)] * 4 and int(status["CapEff"], 16) == 0

    capture_every_frame(veth_pair, "-Z", "nobody", "-w", str(out), "--stats-json", str(stats),
                        while_listening=became_nobody_without_capabilities)
    assert len(tshark_packets(out)) == FRAME_COUNT
    for path in (out, stats):
        assert (path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)) == (NOBODY.pw_uid, 0o600), path
    assert sorted(path.name for path in sticky_directory.iterdir()) == ["out.pcap", "stats.json"], "no temp file left"


def test_capture_with_z_refuses_in_one_line_a_file_the_user_could_not_put_in_place(
        veth_pair, tmp_path, installation_readable_by_nobody):
    """pytest's tmp_path is root's alone: nobody could not rename the file into place at the end."""
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-Z", "nobody",
                         "-w", str(tmp_path / "out.pcap"))
    assert_one_error_line(result, "-Z nobody: nobody cannot write where the file is renamed into place", str(tmp_path))
    assert list(tmp_path.iterdir()) == [], "nothing was opened"


def test_dashboard_with_z_refuses_in_one_line_a_keep_spool_directory_the_user_could_not_save_in(
        tmp_path, installation_readable_by_nobody):
    """root may create a file there (the start check passes), nobody may not: checked for the user too."""
    roots = tmp_path / "roots"
    roots.mkdir(mode=0o755)
    result = run_ringmon("-i", "lo", "-Z", "nobody", "--keep-spool", str(roots))
    assert_one_error_line(result, "-Z nobody: nobody cannot save the packet store there at exit (--keep-spool)",
                          str(roots))
    assert list(roots.iterdir()) == [], "nothing was opened"


def test_dashboard_with_z_gives_that_user_its_store_which_it_keeps_and_removes_at_exit(
        veth_pair, tmp_path, nobodys_directory, sticky_directory, installation_readable_by_nobody):
    netns.require(shutil.which("tmux") is not None, "the dashboard test needs tmux")
    session = start_in_tmux(f"TMPDIR={sticky_directory} ip netns exec {veth_pair.ns_a} {RINGMON} "
                            f"-i {veth_pair.if_a} -Z nobody --keep-spool {nobodys_directory} "
                            f"udp dst port {netns.UDP_DST_PORT}", tmp_path / "exit-status")
    try:
        wait_for_screen(session, r"Ring occupancy")
        (spool_dir,) = sticky_directory.iterdir()
        assert spool_dir.stat().st_uid == NOBODY.pw_uid
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT)))
        wait_for_screen(session, rf"stored {FRAME_COUNT} of delivered ✓")
        tmux("send-keys", "-t", session, "q")
        assert wait_for_exit(session, tmp_path / "exit-status") == 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
    (kept,) = nobodys_directory.iterdir()
    assert kept.stat().st_uid == NOBODY.pw_uid
    assert len(tshark_packets(kept)) == FRAME_COUNT
    assert list(sticky_directory.iterdir()) == []
