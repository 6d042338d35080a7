"""A real terminal for end-to-end tests: a command run in a tmux session, its screen read with capture-pane,
then its exit status and the state it left the terminal in."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

# The console script pip installed next to this interpreter: the command users run.
RINGMON = str(Path(sys.executable).with_name("ringmon"))
SIZE = ("100", "32")
START_TIMEOUT_S = 30.0
EXIT_TIMEOUT_S = 15.0
# Terminal modes a full-screen app turns on and must turn off again (tmux's names for them).
PANE_MODES = ("alternate_on", "cursor_flag", "mouse_any_flag", "mouse_button_flag", "mouse_sgr_flag")


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


def start_in_tmux(command: str, exit_file: Path, cwd: Path | None = None, then: str = "",
                  this_tree: bool = True) -> str:
    """`command` in a new tmux session; its exit status goes to `exit_file`, then `then` runs in the same
    terminal. The session stays a while after, so its screen can still be read. `this_tree`: with this run's
    PYTHONPATH (the tree under test), else with none (what an install put in place)."""
    session = f"ringmon-e2e-{uuid.uuid4().hex[:8]}"
    # a session takes the environment of the tmux server, which another test run may have started: its
    # PYTHONPATH is set for the session itself
    python_path = ["-e", f"PYTHONPATH={os.environ.get('PYTHONPATH', '') if this_tree else ''}"]
    tmux("new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1], *(["-c", str(cwd)] if cwd else []),
         *python_path,
         f"{command}; echo $? > {exit_file}; {then + '; ' if then else ''}sleep 30")
    return session


def wait_for_exit(session: str, exit_file: Path, timeout_s: float = EXIT_TIMEOUT_S) -> int:
    """The command's exit status, once it has ended."""
    deadline = time.monotonic() + timeout_s
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert exit_file.exists(), f"the command did not exit within {timeout_s} s:\n{screen(session)}"
    return int(exit_file.read_text())


def command_pid(session: str) -> int:
    """The process the session's shell started for the command (`ip netns exec` execs it in place)."""
    shell = tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()
    children = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True, timeout=10).stdout.split()
    assert len(children) == 1, f"the session's shell has children {children}"
    return int(children[0])


def pane_modes(session: str) -> dict[str, str]:
    """What tmux says of the terminal's modes now: alternate screen, cursor shown, mouse reporting."""
    values = tmux("display-message", "-p", "-t", session, " ".join(f"#{{{mode}}}" for mode in PANE_MODES)).split()
    return dict(zip(PANE_MODES, values))


def terminal_settings_to(path: Path) -> str:
    """A command (for start_in_tmux's `then`) that saves the terminal's line settings to `path`."""
    return f"stty -a > {path}"


def assert_terminal_restored(session: str, settings_path: Path) -> None:
    """The terminal as a shell left it: main screen, cursor shown, no mouse reporting, and the line
    discipline cooked again (canonical input, echo)."""
    assert pane_modes(session) == {"alternate_on": "0", "cursor_flag": "1", "mouse_any_flag": "0",
                                   "mouse_button_flag": "0", "mouse_sgr_flag": "0"}, screen(session)
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    while not settings_path.exists() or not settings_path.read_text():
        assert time.monotonic() < deadline, "stty did not run after the command"
        time.sleep(0.1)
    settings = settings_path.read_text().replace(";", " ").split()
    assert {"icanon", "echo", "icrnl", "opost"} <= set(settings), settings
