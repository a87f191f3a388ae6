#!/usr/bin/env bash
# The embedded default: Airflow standalone on http://localhost:8080, SQLite, a local folder tree,
# a local SMTP server keeping mail as .eml files, and the demo registry and folders.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/bootstrap.sh"
# shellcheck source=scripts/airflow_env.sh
source "$REPO/scripts/airflow_env.sh"

.venv/bin/srs demo init
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$(.venv/bin/srs demo users)"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS

# The mail sink runs beside Airflow and stops with it.
.venv/bin/srs mailsink >"$AIRFLOW_HOME/mailsink.log" 2>&1 &
MAILSINK_PID=$!
trap 'kill $MAILSINK_PID 2>/dev/null || true' EXIT

.venv/bin/srs demo logins
echo "Mail sent by the pipeline is kept in: $(.venv/bin/python -c 'from include.settings import get_settings; print(get_settings().mail_dir)')"
echo "Starting Airflow standalone on http://localhost:8080 (Ctrl-C stops everything) ..."
.venv/bin/airflow standalone
