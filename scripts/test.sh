#!/usr/bin/env bash
# The whole test suite (unit, DAG and end-to-end), creating .venv/ first if needed.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/bootstrap.sh"
.venv/bin/ruff check .
# The e2e UI test renders pages in headless Chromium: install Debian's where apt and root allow
# (skipped quietly elsewhere; the test then skips with the reason).
command -v chromium >/dev/null || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || true
exec .venv/bin/pytest "$@"
