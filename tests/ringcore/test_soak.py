"""The soak (bench/soak.py), short: a bursty flood on two real veth pairs with unplug/plug, pause, drop-policy
changes, file rotation and ring mode switches (copy, zero-copy, direct) every second, under ASan+UBSan and under
TSan. No sanitizer report, every frame sent accounted for exactly, the files hold every packet delivered, RSS and
descriptors flat."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import netns

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import soak  # noqa: E402  (bench/ is not a package)

# TSan's own tables grow for about 20 s of this load (bench/README.md): the warm-up covers that.
WARM_UP_S = 20
SOAK_S = 25
FAULT_INTERVAL_S = 1
RUN_TIMEOUT_S = WARM_UP_S + SOAK_S + soak.DRIVER_OVERHEAD_S


def require_soak_tools() -> None:
    netns.require_netns_privileges()
    for tool in ("gcc", "capinfos", "setarch"):
        netns.require(shutil.which(tool) is not None, f"the soak needs {tool}")


@pytest.mark.parametrize("sanitizer", ["asan", "tsan"])
def test_short_soak_under_sanitizer_reports_nothing_accounts_for_every_frame_and_keeps_rss_flat(sanitizer, tmp_path):
    require_soak_tools()
    summary_path = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--sanitizer", sanitizer,
                           "--seconds", str(SOAK_S), "--warm-up", str(WARM_UP_S),
                           "--fault-interval", str(FAULT_INTERVAL_S), "--json", str(summary_path)],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert summary_path.exists(), output
    summary = json.loads(summary_path.read_text())
    assert summary["sanitizer_reports"] == 0, output
    assert summary["sent"] > 0 and summary["sent"] == summary["kernel_packets"] + summary["kernel_drops"], output
    assert summary["kernel_packets"] == summary["delivered"] + summary["ring_drops"], output
    assert summary["in_files"] == summary["delivered"] > 0, output
    assert summary["rss_end_kib"] - summary["rss_start_kib"] <= soak.RSS_TOLERANCE_KIB, output
    assert all(summary["faults"][fault] > 0 for fault in ("plug", "unplug", "pause", "drop_policy", "rotation", "mode")), \
        output
    assert summary["passed"] and all(summary["checks"].values()), output
    assert done.returncode == 0, output


def test_soak_environment_catches_a_use_after_free_inside_ringcore(tmp_path):
    """The soak's ASan set-up (runtime preloaded, the sanitizer build loaded through RINGCORE_LIBRARY, its
    options) reports a bug in ringcore's C code, and the soak's pattern finds the report: a soak that passes
    is not a soak that could not see."""
    require_soak_tools()
    library = soak.build_library("asan", tmp_path)
    use_after_free = ("from ringcore.capture import Ring, Drain\n"
                      "import ringcore._binding as rc\n"
                      "drain = Drain(Ring.create(2048, 33))\n"
                      "handle = drain._handle\n"
                      "drain.stop()\n"
                      "rc.lib.rc_drain_pause(handle, 1)\n")
    done = subprocess.run([sys.executable, "-c", use_after_free], capture_output=True, text=True, timeout=60,
                          env=soak.driver_environment("asan", library))
    assert done.returncode != 0
    assert "heap-use-after-free" in done.stderr and "rc_drain_pause" in done.stderr, done.stderr
    assert soak.SANITIZER_REPORT.search(done.stderr), done.stderr
