#!/usr/bin/env bash
# The test command: set-up, a throwaway PostGIS cluster, then pytest on both backends.
#
#   bash scripts/test.sh [pytest arguments...]     # from any directory
#
# The cluster lives in a temporary directory and is stopped and deleted on any exit. With
# CI=true a skipped test fails the run: a database test that skips hides a broken set-up.
# Exit status: pytest's, or 1 when CI=true and pytest passed with skips.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
bash scripts/bootstrap.sh

# Lint first: it takes a second and fails for reasons a reviewer would give.
echo "petadesa test: ruff check and ruff format --check" >&2
.venv/bin/ruff check --quiet . && .venv/bin/ruff format --check --quiet . \
    || { echo "petadesa test: FAILED: lint (run .venv/bin/ruff check --fix . && .venv/bin/ruff format .)" >&2; exit 1; }

cluster=$(mktemp -d -t petadesa-pg.XXXXXX)
output=$(mktemp -t petadesa-pytest.XXXXXX)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    bash "$REPO/scripts/postgis.sh" stop "$cluster" || true
    rm -f "$output"
}
trap cleanup EXIT
# Make signals go through the EXIT trap too, so no cluster is left running.
trap 'exit 130' INT
trap 'exit 143' TERM

PETADESA_TEST_POSTGIS_URL=$(bash scripts/postgis.sh start "$cluster")
export PETADESA_TEST_POSTGIS_URL
echo "petadesa test: PostGIS at $PETADESA_TEST_POSTGIS_URL" >&2

# -ra (as in pyproject's addopts; a later -r replaces an earlier one) lists skips with reasons.
set +e
.venv/bin/python -m pytest -ra "$@" | tee "$output"
status=${PIPESTATUS[0]}
set -e

# Same truthy values as tests/conftest.py.
case "${CI:-}" in 1 | [Tt][Rr][Uu][Ee] | [Yy][Ee][Ss]) in_ci=1 ;; *) in_ci=0 ;; esac
if ((in_ci && status == 0)); then
    # pytest's last line is the totals ("== 12 passed, 2 skipped in 1.0s =="); the short
    # summary lists each skip as "SKIPPED [n] file:line: reason".
    if grep -q '^SKIPPED \[' "$output" || tail -n 1 "$output" | grep -Eq '\b[0-9]+ skipped\b'; then
        echo "petadesa test: FAILED: CI=true and tests were skipped (see SKIPPED above)" >&2
        status=1
    fi
fi
exit "$status"
