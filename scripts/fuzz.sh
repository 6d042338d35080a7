#!/usr/bin/env bash
# Runs the fuzz targets (tests/fuzz) for as long as asked: first the C targets (libFuzzer), each for a quarter
# of the time, then the Python ones (hypothesis) in rounds until the time is up.  Each crasher found is kept in
# tests/corpus/<target>/ (C: tests/corpus/c/<target>/) as crash-<sha256 prefix>, which the suite then replays.
# Usage: scripts/fuzz.sh [SECONDS (default 600)] [pytest -k expression]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
select=${2:-}
deadline=$(( $(date +%s) + seconds ))
export RINGMON_FUZZ_PROFILE=long RINGMON_FUZZ_SAVE=1
export RINGMON_FUZZ_C_SECONDS=$(( seconds / 4 > 10 ? seconds / 4 : 10 ))

keep_crashers() {
    for pending in tests/corpus/*/pending-crash tests/corpus/c/*/pending-crash; do
        [[ -e $pending ]] || continue
        kept="$(dirname "$pending")/crash-$(sha256sum "$pending" | cut -c1-16)"
        mv "$pending" "$kept"
        echo "fuzz: crasher kept as $kept"
    done
}

# 0: passed; 5: the -k expression selected none of these targets
passed_or_none_selected() { (( $1 == 0 || $1 == 5 )); }

echo "fuzz: C targets, $RINGMON_FUZZ_C_SECONDS s each"
set +e
python -m pytest -q -p no:warnings tests/fuzz/test_fuzz_ringcore.py ${select:+-k "$select"}
rc=$?
set -e
keep_crashers
passed_or_none_selected $rc || exit 1

round=0
while (( $(date +%s) < deadline )); do
    round=$(( round + 1 ))
    echo "fuzz: round $round, $(( deadline - $(date +%s) )) s left"
    # each round draws new random examples; the .hypothesis database replays what failed before
    set +e
    # INT lets hypothesis report; but `ringmon capture` (run in-process by the reader target) takes INT as
    # "stop capturing", so one can be swallowed: KILL a minute later is the backstop.
    timeout --signal=INT --kill-after=60 $(( deadline - $(date +%s) + 1 )) \
        python -m pytest -q -p no:warnings tests/fuzz --ignore=tests/fuzz/test_corpus_replay.py \
        --ignore=tests/fuzz/test_fuzz_ringcore.py ${select:+-k "$select"}
    rc=$?
    set -e
    keep_crashers
    # 124/137: the time ran out mid-round, which is the normal end; anything else but 0 is a failure to fix first
    (( rc == 5 )) && break
    if (( rc != 0 && rc != 124 && rc != 137 )); then
        exit 1
    fi
done
exit 0
