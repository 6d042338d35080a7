#!/usr/bin/env bash
# Installs ringmon and the Debian packages it runs, tests and benchmarks with; safe to run again.
# Usage: scripts/install.sh [--test]   (--test: also the test extras, and the bench extra its tests/bench run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

debian_packages=(
    gcc libc6-dev        # build ringcore's C library
    libpcap-dev          # display filters over the store: libpcap compiles and runs them in C
    tcpdump tshark       # reference captures and decoding to compare ringmon against
    netsniff-ng          # trafgen, the benchmark's traffic generator
    iproute2             # ip netns / veth for the network tests
    tmux                 # drives the terminal UI in end-to-end tests
    termshark            # bench/read_bench.py: the terminal packet viewer ringmon read is measured against
    util-linux procps    # setpriv (dropping capabilities), sysctl
    strace               # shows the writer's open/fsync/rename calls in a test
    prometheus           # prometheus and promtool: a real server scrapes --metrics in a test; promtool checks the rules
    clang libclang-rt-dev  # libFuzzer and its sanitizer runtimes (not a dependency of clang): the C fuzz targets
)

extras=""
case "${1:-}" in
    --test) extras="[test,bench]" ;;
    "") ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for package in "${debian_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    if ((EUID != 0)); then
        echo "install.sh: not root, cannot install: ${missing[*]}" >&2
        exit 1
    fi
    # tshark's postinst asks whether non-root users may capture; answer it here so nothing prompts.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
fi

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
# Never editable, tests included: the suite tests the installed package, the artefact users run.
python -m pip install -q --force-reinstall --no-deps .
python -m pip install -q ".$extras"
