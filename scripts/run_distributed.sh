#!/usr/bin/env bash
# The distributed profile: the production shape of docker-compose.yaml as processes on this
# machine. Airflow's api-server, scheduler, dag-processor, triggerer and a Celery worker
# (CeleryExecutor, Redis as broker), PostgreSQL as Airflow's metadata database and as the ticket
# store, S3 storage on a loopback S3 server, mail to the embedded sink, the demo registry loaded,
# DAGs unpaused; kept running by scripts/supervise_distributed.py. Ctrl-C stops everything.
#
# Settings: scripts/distributed_env.sh (deploy/distributed.env plus where things are here).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"
[ "${SRS_DIST_SKIP_BOOTSTRAP:-0}" = 1 ] || "$REPO/scripts/bootstrap.sh"
# shellcheck source=scripts/distributed_env.sh
source "$REPO/scripts/distributed_env.sh"

.venv/bin/srs demo logins | sed "s#http://localhost:8080#$AIRFLOW__API__BASE_URL#"
echo "Distributed profile on $AIRFLOW__API__BASE_URL: Airflow on PostgreSQL ${PG#*@}/$AIRFLOW_DB,"
echo "Celery broker $AIRFLOW__CELERY__BROKER_URL, tickets in ${SRS_DATABASE_URL##*/}, S3 on"
echo "$SRS_S3_ENDPOINT_URL (in memory), mail kept in $SRS_DATA_DIR/mail (Ctrl-C stops everything) ..."
exec .venv/bin/python "$REPO/scripts/supervise_distributed.py"
