#!/usr/bin/env bash
# The embedded default: Airflow on http://localhost:8080 with an embedded PostgreSQL, LocalExecutor,
# a local folder tree, a local SMTP server keeping mail as .eml files, and the demo registry and
# folders, all kept running by scripts/supervise.py.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
"$REPO/scripts/bootstrap.sh"
# shellcheck source=scripts/airflow_env.sh
source "$REPO/scripts/airflow_env.sh"

.venv/bin/srs db upgrade  # the ticket store's schema (Alembic), before anything uses it
.venv/bin/srs demo init
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$(.venv/bin/srs demo users)"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS

.venv/bin/srs demo logins
echo "Mail sent by the pipeline is kept in: $(.venv/bin/python -c 'from include.settings import get_settings; print(get_settings().mail_dir)')"
echo "Starting the embedded PostgreSQL, Airflow (api-server, scheduler, dag-processor, triggerer)"
echo "and the mail sink on ${AIRFLOW__API__BASE_URL} (Ctrl-C stops everything) ..."
# Our own supervision instead of `airflow standalone`: a component that dies is restarted and
# logged; one that keeps dying stops everything and this command fails (scripts/supervise.py).
exec .venv/bin/python "$REPO/scripts/supervise.py"
