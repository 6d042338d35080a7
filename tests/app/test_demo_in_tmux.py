"""End to end, as a user: the README's first command in a fresh copy of the repository, `ringmon demo` in a real
terminal (tmux), read with capture-pane, quit with q or ended by a signal."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
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

# The README's first command builds and installs ringmon (pip fetches setuptools for the build) before the demo.
INSTALL_TIMEOUT_S = 300.0
DEMO_NAMESPACE_PREFIX = "ringmon-demo-"
REPOSITORY = Path(__file__).resolve().parents[2]


def demo_namespaces() -> set[str]:
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    return {name for name in names if name.startswith(DEMO_NAMESPACE_PREFIX)}


def readme_first_command() -> str:
    """The quick start's first line, exactly as the README gives it (without its comment)."""
    for line in (REPOSITORY / "README.md").read_text().splitlines():
        if "ringmon demo" in line and "install.sh" in line:
            return line.split("#")[0].strip()
    raise AssertionError("the README has no quick-start line that installs and runs the demo")


def fresh_clone(destination: Path) -> Path:
    """The repository's tracked files as a clone has them (uncommitted edits included): nothing built, no .so."""
    tracked = subprocess.run(["git", "-C", str(REPOSITORY), "ls-files", "-z"], check=True, capture_output=True,
                             timeout=30).stdout.decode().split("\0")
    for name in filter(None, tracked):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / name, target)
    return destination


def quit_and_wait(session: str, exit_file: Path) -> int:
    tmux("send-keys", "-t", session, "q")
    return wait_for_exit(session, exit_file)


def test_readme_first_command_in_a_fresh_clone_shows_the_rings_working_and_leaves_nothing_behind(tmp_path):
    """`bash scripts/install.sh && ringmon demo` from the clone's root, non-editable install into a fresh venv:
    the working directory holds the source tree, and the demo must still run the installed code."""
    netns.require_netns_privileges()
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    netns.require(shutil.which("git") is not None, "the fresh-clone test needs git")
    clone = fresh_clone(tmp_path / "clone")
    venv = tmp_path / "venv"
    # System site-packages give the dependencies; ringmon itself is installed by the README's command.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    namespaces_before = demo_namespaces()
    exit_file = tmp_path / "exit-status"
    session = start_in_tmux(f"export PATH={shlex.quote(str(venv / 'bin'))}:$PATH; {readme_first_command()}",
                            exit_file, cwd=clone, this_tree=False)
    try:
        wait_for_screen(session, r"Ring occupancy", timeout_s=INSTALL_TIMEOUT_S)
        installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import ringmon; print(ringmon.__file__)"],
                                   capture_output=True, text=True, timeout=30, cwd=clone,
                                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout
        assert installed.startswith(str(venv)), f"the README's command installed ringmon into the venv: {installed}"
        assert len(demo_namespaces() - namespaces_before) == 2, "the demo made its two namespaces"
        first = wait_for_screen(session, r"taken ([\d,]+) = delivered")
        polls_first = wait_for_screen(session, r"polls (\S+)/s").group(1)
        text = screen(session)
        for heading in ("Ring occupancy", "Slot map", "Drops by stage", "Polling", "Rates"):
            assert heading in text
        time.sleep(2.0)
        second = wait_for_screen(session, r"taken ([\d,]+) = delivered")
        assert int(second.group(1).replace(",", "")) > int(first.group(1).replace(",", "")), "counts move"
        assert re.search(r"polls (\S+)/s", screen(session)), polls_first

        # The receiving end drops late: pause its consumer and watch the ring fill and drops appear.
        tmux("send-keys", "-t", session, "n")
        wait_for_screen(session, r"policy drop-late")
        tmux("send-keys", "-t", session, "p")
        wait_for_screen(session, r"consumer PAUSED")
        wait_for_screen(session, r"64/64 slots", timeout_s=10)
        ring_full = wait_for_screen(session, r"ring full\s+(\S+)\s+(\S+)", timeout_s=10)
        deadline = time.monotonic() + 10
        while ring_full.group(1) == "0" and time.monotonic() < deadline:
            time.sleep(0.5)
            ring_full = wait_for_screen(session, r"ring full\s+(\S+)\s+(\S+)")
        assert ring_full.group(1) != "0", screen(session)
        tmux("send-keys", "-t", session, "p")
        wait_for_screen(session, r"capturing")

        assert quit_and_wait(session, exit_file) == 0
        assert demo_namespaces() == namespaces_before, "the demo removed its namespaces"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def demo_generator_pids() -> list[int]:
    found = subprocess.run(["pgrep", "-f", "ringmon.commands.demo_traffic"], capture_output=True, text=True, timeout=10)
    return [int(pid) for pid in found.stdout.split()]


def test_demo_shows_a_dead_generator_at_once_and_exits_non_zero(tmp_path):
    netns.require_netns_privileges()
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    ringmon = shutil.which("ringmon")
    netns.require(ringmon is not None, "the end-to-end test needs the installed `ringmon` command")
    pids_before = set(demo_generator_pids())
    exit_file = tmp_path / "exit-status"
    session = start_in_tmux(f"{ringmon} demo", exit_file)
    try:
        wait_for_screen(session, r"taken [1-9][\d,]* = delivered")
        generators = set(demo_generator_pids()) - pids_before
        assert len(generators) == 1, "the demo started one generator"
        os.kill(generators.pop(), signal.SIGKILL)
        wait_for_screen(session, r"traffic generator died \(killed by SIGKILL\)", timeout_s=5)
        assert quit_and_wait(session, exit_file) == 1
        assert "traffic generator died" in screen(session), "repeated on stderr once the screen is gone"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_removes_the_demos_namespaces_and_generator_and_gives_the_terminal_back(tmp_path, signum):
    netns.require_netns_privileges()
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    namespaces_before, generators_before = demo_namespaces(), set(demo_generator_pids())
    exit_file = tmp_path / "exit-status"
    session = start_in_tmux(f"{RINGMON} demo", exit_file, then=terminal_settings_to(tmp_path / "stty"))
    try:
        wait_for_screen(session, r"taken [1-9][\d,]* = delivered")
        assert len(demo_namespaces() - namespaces_before) == 2
        assert len(set(demo_generator_pids()) - generators_before) == 1
        os.kill(command_pid(session), signum)
        assert wait_for_exit(session, exit_file) == 128 + signum
        assert_terminal_restored(session, tmp_path / "stty")
        assert demo_namespaces() == namespaces_before, "the demo removed its namespaces"
        assert set(demo_generator_pids()) <= generators_before, "the demo stopped its generator"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_demo_says_which_phase_its_traffic_is_in_and_why_its_ring_is_the_classic_64_slots(tmp_path):
    netns.require_netns_privileges()
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    exit_file = tmp_path / "exit-status"
    session = start_in_tmux(f"{RINGMON} demo", exit_file)
    try:
        wait_for_screen(session, r"the\s+classic\s+64\s+slots,\s+small\s+enough\s+for\s+a\s+flood\s+to\s+fill")
        # the generator's phases (demo_traffic.PHASES): steady 8 s, bursty 8 s, flood 6 s, in turn
        for phase in ("steady", "bursty", "flood"):
            wait_for_screen(session, rf"demo phase: {phase}", timeout_s=12)
        assert quit_and_wait(session, exit_file) == 0
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
