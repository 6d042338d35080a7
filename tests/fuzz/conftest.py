"""Hypothesis settings for the fuzz targets (bounded in CI, short by default, as long as asked by scripts/fuzz.sh),
and the C targets' fuzzers, built once."""
import os
from pathlib import Path

import c_targets
import pytest
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
# CI: a bounded run, about 10 s per test and under a minute per target here; no database in the tree.
settings.register_profile("ci", max_examples=600, database=None, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=300, **_COMMON)
# scripts/fuzz.sh: rounds of this until its time is up; the database carries what one round learnt to the next.
settings.register_profile("long", max_examples=50_000, **_COMMON)
settings.load_profile(os.environ.get("RINGMON_FUZZ_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev"))


@pytest.fixture(scope="session")
def c_fuzzer(tmp_path_factory):
    """target -> its libFuzzer executable (tests/fuzz/c_targets.py), each built once per session."""
    built: dict[str, Path] = {}

    def executable(target: str) -> Path:
        if target not in built:
            built[target] = c_targets.build(target, tmp_path_factory.mktemp(f"fuzz-{target}"))
        return built[target]

    return executable
