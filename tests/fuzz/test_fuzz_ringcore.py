"""Fuzzing ringcore's C code that reads hostile bytes, through its real entry points, with libFuzzer under
ASan+UBSan: the talkers parser (rc_talkers_add, rc_talkers_top) and the writer's handling of slot headers
(rc_writer_write, the file read back).  About 45 s a target in CI; scripts/fuzz.sh sets how long."""
from __future__ import annotations

import os

import pytest
from c_targets import BUILD_TIMEOUT_S, C_TARGETS, fuzz

import netns

SECONDS = int(os.environ.get("RINGMON_FUZZ_C_SECONDS") or (45 if netns.running_in_ci() else 10))


@pytest.mark.timeout(SECONDS + 2 * BUILD_TIMEOUT_S)
@pytest.mark.parametrize("target", C_TARGETS)
def test_fuzz_c_target_finds_no_crash_hang_or_sanitizer_report(target, c_fuzzer, tmp_path):
    run = fuzz(target, c_fuzzer(target), SECONDS, tmp_path)
    print(f"fuzz_{target}: {run.executions} executions in {SECONDS} s (seed {run.seed}), "
          f"{run.coverage} edges, {run.features} features, {run.corpus} inputs in the corpus")
    assert run.executions > 0 and run.coverage > 0, "the fuzzer ran nothing"
