#!/usr/bin/env bash
# The whole kill -9 crash matrix (tests/integration/test_crash_matrix.py) and its cases with the
# production defaults (test_crash_defaults.py) on one database, and their tables for
# docs/crash-matrix.md:  scripts/crash-matrix.sh [postgresql|mysql|sqlite]
set -euo pipefail
cd "$(dirname "$0")/.."
db=${1:-postgresql}
report=$(mktemp)
HERDER_TEST_DB=$db HERDER_CRASH_MATRIX=full HERDER_CRASH_MATRIX_REPORT=$report \
    .venv/bin/python -m pytest -q -p no:randomly tests/integration/test_crash_matrix.py \
    tests/integration/test_crash_defaults.py
.venv/bin/python -m tests.integration.crash_report "$report" "$db"
rm -f "$report"
