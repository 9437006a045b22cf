#!/usr/bin/env bash
# One entry point for people and CI:
#   ./run.sh demo   set up (first time) and solve the demo scenario, writing out/demo
#   ./run.sh test   set up (first time) and run lint, type checks and the test suite, then the
#                   API tests again on PostgreSQL (scripts/start-postgres.sh; skip with
#                   LINKAGE_SKIP_POSTGRES=1; pytest arguments run just those tests, on SQLite)
set -euo pipefail
cd "$(dirname "$0")"

VENV=${LINKAGE_VENV:-.venv}
PY=${PYTHON:-python3}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
  fi
  # reinstall only when the project's requirements changed
  local stamp="$VENV/.linkage-installed-$1"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet -e ".[$1]"
    touch "$stamp"
  fi
}

case "${1:-}" in
  demo)
    setup excel
    shift
    "$VENV/bin/linkage" solve scenarios/henan --out out/demo --force "$@"
    ;;
  test)
    setup dev
    shift
    bash scripts/install-browser.sh  # Debian's Chromium for the report's browser tests
    "$VENV/bin/ruff" check src tests benchmarks
    "$VENV/bin/ruff" format --check src tests benchmarks
    "$VENV/bin/mypy"
    "$VENV/bin/python" -m pytest "$@"
    if [ $# -eq 0 ] && [ -z "${LINKAGE_SKIP_POSTGRES:-}" ]; then
      # the API suite once more, on a PostgreSQL server of its own (a database per test)
      LINKAGE_TEST_DATABASE_URL=$(bash scripts/start-postgres.sh)
      export LINKAGE_TEST_DATABASE_URL
      "$VENV/bin/python" -m pytest -q tests/test_api_*.py
      bash scripts/start-postgres.sh stop
    fi
    ;;
  *)
    echo "usage: ./run.sh demo | test [pytest args]" >&2
    exit 2
    ;;
esac
