"""Running the installed `ringmon` command as a user does, tcpdump beside it, and reading their files with tshark."""
from __future__ import annotations

import pwd
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import netns
from readback import tshark_read as tshark_packets  # noqa: F401  (the CLI tests import it from here)

# The console script pip installed next to this interpreter: the command users run.
RINGMON = str(Path(sys.executable).with_name("ringmon"))
START_TIMEOUT_S = 15.0
EXIT_TIMEOUT_S = 30.0
# An unprivileged user: nobody, no groups, no capabilities to inherit. It may read the files it
# runs (here the interpreter and the package sit under root's 0700 home), which is not capturing.
UNPRIVILEGED = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "--inh-caps=-all,+dac_read_search", "--ambient-caps=+dac_read_search")
NOBODY = pwd.getpwnam("nobody")
# nobody with CAP_NET_RAW alone (and reading the interpreter under root's home): what `setcap cap_net_raw+ep`
# on the interpreter gives a non-root user.
NET_RAW_ONLY = ("setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups",
                "--inh-caps=-all,+net_raw,+dac_read_search", "--ambient-caps=+net_raw,+dac_read_search")
# Time for frames already sent to pass the kernel's block timeout (20 ms) and a drain's wait, with a
# wide margin for a loaded CI machine.
SETTLE_S = 0.5
# `ringmon capture`'s ring modes, as --stats-json names them, and their flags: copy into slots; the kernel's blocks
# read in place; and the file written by the capture thread itself.
RING_MODES = {"copy": (), "zero_copy": ("--zero-copy",), "direct": ("--dispatch", "direct")}
# libpcap hands tcpdump a partly filled kernel block only after its 1000 ms timeout, and SIGINT
# ends tcpdump without reading it: frames sent less than this before the end are not in its file.
TCPDUMP_BLOCK_TIMEOUT_S = 1.5


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_ringmon(*args: str, prefix: tuple[str, ...] = (), stdin: bytes = b"") -> Finished:
    """`ringmon ARGS` to its end, reading `stdin`; `prefix` runs it under another command (setpriv)."""
    done = subprocess.run([*prefix, RINGMON, *args], capture_output=True, timeout=EXIT_TIMEOUT_S, input=stdin)
    return Finished(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))


class RunningCapture:
    """`ringmon capture ARGS` in the background; started once it says it listens on every interface."""

    def __init__(self, tmp_path: Path, *args: str, interfaces: int = 1, stdout_pipe: bool = False):
        self._stdout_path = tmp_path / "ringmon.stdout"
        self._stderr_path = tmp_path / "ringmon.stderr"
        # Files, not pipes: nothing can block on a full pipe, and stdout stays byte-exact. A test that plays
        # the reader of `-w -` asks for a pipe (process.stdout) and finish() then returns no stdout.
        with open(self._stdout_path, "wb") as stdout, open(self._stderr_path, "wb") as stderr:
            self.process = subprocess.Popen([RINGMON, "capture", *args], stderr=stderr, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE if stdout_pipe else stdout)
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._stderr().count("listening on") < interfaces:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait(EXIT_TIMEOUT_S)
                raise AssertionError(f"ringmon capture did not start: {self._stderr()!r}")
            time.sleep(0.02)

    def _stderr(self) -> str:
        return self._stderr_path.read_bytes().decode("utf-8", "replace")

    def signal(self, signum: int = signal.SIGINT) -> None:
        self.process.send_signal(signum)

    def finish(self, timeout_s: float = EXIT_TIMEOUT_S) -> Finished:
        try:
            self.process.wait(timeout_s)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(EXIT_TIMEOUT_S)
        return Finished(self.process.returncode, self._stdout_path.read_bytes(), self._stderr())

    def __enter__(self) -> RunningCapture:
        return self

    def __exit__(self, *exc) -> None:
        if self.process.stdout:
            self.process.stdout.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(EXIT_TIMEOUT_S)


class RunningTcpdump:
    """tcpdump -w on an interface of a test namespace, started once it says it listens; SIGINT ends it."""

    def __init__(self, ns: str, ifname: str, out: Path, *expression: str):
        self._stderr = out.with_suffix(".stderr")
        with open(self._stderr, "wb") as stderr:
            # -B 8192: the same 8 MiB kernel ring as ringmon's, so both see the same flood alike
            self.process = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-B", "8192",
                                             "-U", "-n", "-Z", "root", "-w", str(out), *expression],
                                            stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"listening on" not in self._stderr.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"tcpdump did not start: {self._stderr.read_bytes()!r}")
            time.sleep(0.02)

    def finish(self) -> int:
        """Stop it, once what was sent has reached its file; the number of packets it says it captured."""
        time.sleep(TCPDUMP_BLOCK_TIMEOUT_S)
        self.process.send_signal(signal.SIGINT)
        self.process.wait(START_TIMEOUT_S)
        return summary_counts(self._stderr.read_text())["captured"]


def move_capture_end(pair: netns.VethPair, into_ns: str) -> None:
    """Move `pair`'s end a into another test namespace, so one `--netns` reaches two interfaces."""
    for args in (["-n", pair.ns_a, "link", "set", pair.if_a, "netns", into_ns],
                 ["-n", into_ns, "link", "set", pair.if_a, "up"]):
        subprocess.run(["ip", *args], check=True, timeout=EXIT_TIMEOUT_S, capture_output=True)


def assert_one_error_line(result: Finished, *fragments: str) -> None:
    """What every bad input must look like: non-zero exit, one `ringmon: ` line naming the problem, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    line = result.stderr_lines[0]
    assert line.startswith("ringmon: "), line
    for fragment in fragments:
        assert fragment in line, line


def summary_counts(stderr: str) -> dict[str, int]:
    """The numbers of the tcpdump-like summary: {'captured': 3, 'received by filter': 3, ...}."""
    counts = {}
    for line in stderr.splitlines():
        number, _, rest = line.partition(" packets ")
        if number.isdigit():
            counts[rest] = int(number)
    return counts


def wait_settled() -> None:
    time.sleep(SETTLE_S)
