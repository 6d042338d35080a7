"""bench/packet_mix.py, the read benchmark's capture: as many packets as asked, of every kind it promises,
that tshark reads without a complaint, the same bytes for the same seed, and never over an existing file."""
import subprocess
import sys
from pathlib import Path

import pytest
from readback import tshark_fields, tshark_read

PACKET_MIX = Path(__file__).resolve().parents[2] / "bench" / "packet_mix.py"
COUNT = 3000
# every kind of traffic the benchmark's list should show, as tshark names the layers (frame.protocols)
PROTOCOLS = {"vlan", "arp", "ip", "ipv6", "tcp", "udp", "http", "tls", "dns", "ntp", "icmp", "icmpv6"}


def _generate(path: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PACKET_MIX), str(path), *options], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("file_format", ["pcap", "pcapng"])
def test_writes_the_packets_asked_for_of_every_kind_and_tshark_has_nothing_to_say(tmp_path, file_format):
    path = tmp_path / f"mix.{file_format}"
    assert _generate(path, "--count", str(COUNT), "--format", file_format).returncode == 0
    assert len(tshark_read(path)) == COUNT
    layers = {layer for (protocols,) in tshark_fields(path, "frame.protocols") for layer in protocols.split(":")}
    assert PROTOCOLS <= layers
    assert {name for (name,) in tshark_fields(path, "tls.handshake.extensions_server_name") if name}
    # checksums right, TCP sequence numbers coherent, every layer parses: no expert warning or error
    expert = subprocess.run(["tshark", "-r", str(path), "-q", "-o", "ip.check_checksum:TRUE", "-o",
                             "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-z", "expert,warn"],
                            capture_output=True, text=True, timeout=60)
    assert expert.returncode == 0 and "Warns" not in expert.stdout and "Errors" not in expert.stdout, expert.stdout


def test_same_seed_same_bytes_and_an_existing_file_is_left_alone(tmp_path):
    first, second, other = tmp_path / "first.pcap", tmp_path / "second.pcap", tmp_path / "other.pcap"
    for path, seed in ((first, "7"), (second, "7"), (other, "8")):
        assert _generate(path, "--count", "500", "--seed", seed).returncode == 0
    assert first.read_bytes() == second.read_bytes() != other.read_bytes()
    assert first.stat().st_mode & 0o777 == 0o600

    refused = _generate(first, "--count", "10")
    assert refused.returncode == 1 and refused.stderr.splitlines() == [f"packet_mix: {first}: File exists"]
    assert first.read_bytes() == second.read_bytes()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["first.pcap", "other.pcap", "second.pcap"]
