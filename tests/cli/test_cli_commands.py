"""The `ringmon` entry point: which command runs, and that the dashboard's bad input never reaches a screen."""
import subprocess

import pytest
from cli_process import UNPRIVILEGED, assert_one_error_line, run_ringmon

import netns
from ringcore import DEFAULT_SPOOL_BYTES, DEFAULT_SPOOL_PACKETS
from ringmon import cli
from ringmon.iface_facts import up_interfaces


def test_dashboard_rejects_a_ring_that_does_not_fit_before_drawing_anything():
    assert_one_error_line(run_ringmon("--slot-size", "32"), "slot size 32")


def test_dashboard_unknown_interface_is_one_error_line():
    assert_one_error_line(run_ringmon("-i", "rmtnosuch0"), "rmtnosuch0", "no such interface")


def test_dashboard_without_cap_net_raw_names_it_before_drawing_anything():
    result = run_ringmon("-i", "lo", prefix=UNPRIVILEGED)
    assert_one_error_line(result, "CAP_NET_RAW")
    assert result.stdout == b""  # no screen: not even the terminal set-up sequences


def test_demo_without_privilege_names_the_missing_capabilities_before_drawing_anything():
    result = run_ringmon("demo", prefix=UNPRIVILEGED)
    assert_one_error_line(result, "CAP_NET_ADMIN", "CAP_NET_RAW")
    assert result.stdout == b""


def test_without_interfaces_named_the_dashboard_watches_those_up_and_loopback_only_if_asked(veth_pair):
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", "lo", "up"], check=True)
    # /proc/net follows the main thread's namespace: psutil sees the namespace entered here
    with netns.in_netns(veth_pair.ns_a):
        assert up_interfaces(include_loopback=False) == [veth_pair.if_a]
        assert up_interfaces(include_loopback=True) == sorted([veth_pair.if_a, "lo"])


def test_unknown_flag_is_one_error_line_naming_the_commands_help():
    assert_one_error_line(run_ringmon("capture", "--bogus"), "--bogus", "ringmon capture --help")


def test_help_lists_the_commands():
    result = run_ringmon("--help")
    assert result.returncode == 0
    assert b"ringmon capture" in result.stdout and b"ringmon demo" in result.stdout


@pytest.mark.parametrize("command", [None, "demo"], ids=["dashboard", "demo"])
def test_the_store_flags_reach_the_sessions_store_options(command):
    make_parser, *_ = cli.COMMANDS[command]
    defaults = cli.store_options(make_parser().parse_args([]))
    assert (defaults.spool_bytes, defaults.spool_packets) == (DEFAULT_SPOOL_BYTES, DEFAULT_SPOOL_PACKETS)
    chosen = cli.store_options(make_parser().parse_args(["--spool-size", "2G", "--spool-packets", "500K"]))
    assert (chosen.spool_bytes, chosen.spool_packets) == (2 << 30, 500 << 10)
