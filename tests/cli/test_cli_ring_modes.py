"""What `ringmon capture` says of the ring mode it runs in, on real veth pairs: the summary and --stats-json name
the stages packets can drop at (zero-copy and direct dispatch have no slot ring: every drop is the kernel's), and
the slot ring's flags, which mean nothing there, are a usage error rather than ignored."""
import json

import pytest
from cli_process import RING_MODES, RunningCapture, assert_one_error_line, run_ringmon

import netns

FRAMES = 20
# The summary's fourth line: the slot ring's drops, or in a mode without one, that it has none.
FOURTH_LINE = {"copy": "0 packets dropped at ring",
               "zero_copy": "zero-copy: every drop is in the kernel, no slot ring to drop at",
               "direct": "direct dispatch (zero-copy): every drop is in the kernel, no slot ring to drop at"}


@pytest.mark.parametrize("mode", RING_MODES)
def test_summary_and_stats_json_name_only_the_drop_stages_the_mode_has(veth_pair, tmp_path, mode):
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "--count-only", "-c", str(FRAMES),
                        "--stats-json", str(stats_path), *RING_MODES[mode], "udp") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAMES)))
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    # tcpdump's three lines, unchanged in every mode, then the ring's
    assert result.stderr_lines[1:] == [f"{FRAMES} packets captured", f"{FRAMES} packets received by filter",
                                       "0 packets dropped by kernel", FOURTH_LINE[mode]]
    stats = json.loads(stats_path.read_text())[veth_pair.key_a]
    assert stats["mode"] == mode
    assert stats["drop_stages"] == (["kernel", "ring"] if mode == "copy" else ["kernel"])
    assert stats["ring_drops"] == 0  # the accounting identity keeps its term in every mode
    assert stats["delivered"] + stats["ring_drops"] + stats["occupancy"] == stats["kernel_packets"] == FRAMES


@pytest.mark.parametrize("flags", [["--slot-size", "4096"], ["--ring-pages", "65"], ["--truncate-to-slot"],
                                   ["--drop-policy", "late"]], ids=["slot-size", "ring-pages", "truncate", "late"])
@pytest.mark.parametrize("mode", ["zero_copy", "direct"])
@pytest.mark.parametrize("command", [["capture"], []], ids=["capture", "dashboard"])
def test_a_slot_ring_flag_with_zero_copy_is_a_usage_error_naming_both(command, mode, flags):
    result = run_ringmon(*command, "-i", "lo", *RING_MODES[mode], *flags)
    assert_one_error_line(result, f"{' '.join(RING_MODES[mode])} cannot be used with {' '.join(flags[:1])}",
                          "no slots")
    assert result.returncode == 2
    assert result.stdout == b""


def test_every_slot_ring_flag_given_is_named_at_once():
    result = run_ringmon("capture", "-i", "lo", "--zero-copy", "--slot-size", "4096", "--ring-pages", "65")
    assert_one_error_line(result, "--zero-copy cannot be used with --slot-size or --ring-pages")
    assert result.returncode == 2
