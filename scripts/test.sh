#!/usr/bin/env bash
# Installs ringmon for testing and runs the whole suite; extra arguments go to pytest.
# Exits with pytest's status (5, no test collected, counts as a failure).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install.sh --test
exec python -m pytest -q tests "$@"
