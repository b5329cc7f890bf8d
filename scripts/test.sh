#!/usr/bin/env bash
# Install everything and run the test suite. Tests that need the full reference data
# (../shared/data or $SLEM_DFT_TEST_DATA) skip with a reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -ra "$@"
