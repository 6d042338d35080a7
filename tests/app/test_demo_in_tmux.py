"""End to end, as a user: `ringmon demo` in a real terminal (tmux), read with capture-pane, quit with q."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid

import netns

SIZE = ("100", "32")
START_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 15.0
DEMO_NAMESPACE_PREFIX = "ringmon-demo-"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True, timeout=10).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def wait_for_screen(session: str, pattern: str, timeout_s: float = START_TIMEOUT_S) -> re.Match:
    deadline = time.monotonic() + timeout_s
    while True:
        match = re.search(pattern, screen(session))
        if match:
            return match
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} on screen after {timeout_s} s:\n{screen(session)}")
        time.sleep(0.2)


def demo_namespaces() -> set[str]:
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    return {name for name in names if name.startswith(DEMO_NAMESPACE_PREFIX)}


def test_demo_shows_the_rings_working_and_leaves_nothing_behind(tmp_path):
    netns.require_netns_privileges()
    netns.require(shutil.which("tmux") is not None, "the end-to-end test needs tmux")
    ringmon = shutil.which("ringmon")
    netns.require(ringmon is not None, "the end-to-end test needs the `ringmon` command (pip install -e .)")
    namespaces_before = demo_namespaces()
    session = f"ringmon-e2e-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit-status"
    tmux("new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1],
         f"{ringmon} demo; echo $? > {exit_file}; sleep 30")
    try:
        wait_for_screen(session, r"Ring occupancy")
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

        tmux("send-keys", "-t", session, "q")
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.exists(), f"ringmon demo did not exit on q:\n{screen(session)}"
        assert exit_file.read_text().strip() == "0"
        assert demo_namespaces() == namespaces_before, "the demo removed its namespaces"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
