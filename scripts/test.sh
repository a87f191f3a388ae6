#!/usr/bin/env bash
# The whole test suite (unit, DAG and end-to-end), creating .venv/ first if needed.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/bootstrap.sh"
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
