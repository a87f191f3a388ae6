# Sourced by scripts/run_distributed.sh, and by hand to use `srs` against the running profile:
#   source scripts/distributed_env.sh && srs submit output --project ... --folder ... --researcher ...
# The settings of the distributed profile: deploy/distributed.env (shared with docker-compose.yaml),
# then where things are on this machine, each overridable from the environment:
#   SRS_DIST_HOME (.airflow-distributed)       AIRFLOW_HOME: logs, passwords, JWT secret
#   SRS_DIST_POSTGRES (postgresql://postgres@127.0.0.1:5432)   server, trust or password in URL
#   SRS_DIST_AIRFLOW_DB (srs_dist_airflow), SRS_DIST_TICKETS_DB (srs_dist_tickets)
#   SRS_DIST_REDIS_URL (redis://127.0.0.1:6379/6)  a Redis database number of its own
#   SRS_DIST_S3_PORT (9000), SRS_SMTP_PORT (8025), AIRFLOW__API__PORT (8080)
REPO="${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
set -a
# shellcheck source=deploy/distributed.env
source "$REPO/deploy/distributed.env"
set +a

export AIRFLOW_HOME="${SRS_DIST_HOME:-$REPO/.airflow-distributed}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$REPO/.venv/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"

PG="${SRS_DIST_POSTGRES:-postgresql://postgres@127.0.0.1:5432}"
export SRS_DIST_POSTGRES_ADMIN_URL="$PG/postgres"
AIRFLOW_DB="${SRS_DIST_AIRFLOW_DB:-srs_dist_airflow}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${PG/postgresql:/postgresql+psycopg2:}/$AIRFLOW_DB"
# Celery keeps task results in Airflow's database (db+ and an explicit driver, as SQLAlchemy wants).
export AIRFLOW__CELERY__RESULT_BACKEND="db+$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
export AIRFLOW__CELERY__BROKER_URL="${SRS_DIST_REDIS_URL:-redis://127.0.0.1:6379/6}"
export SRS_DATABASE_URL="${PG/postgresql:/postgresql+psycopg2:}/${SRS_DIST_TICKETS_DB:-srs_dist_tickets}"

export SRS_S3_ENDPOINT_URL="http://127.0.0.1:${SRS_DIST_S3_PORT:-9000}"
# moto accepts any key; real ones would come from the environment or SRS_S3_CONN_ID.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-srs-distributed}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-srs-distributed}"
export SRS_SMTP_HOST=127.0.0.1
export SRS_SMTP_PORT="${SRS_SMTP_PORT:-8025}"
export SRS_DATA_DIR="$AIRFLOW_HOME/srs"   # the mail sink's folder ($SRS_DATA_DIR/mail), outbox

export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$AIRFLOW__API__PORT}"
# Workers reach the Execution API on loopback whatever the public URL is.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW__API__PORT/execution/"
# The same secret in every process (tokens one signs, the others check); made once, never committed.
if [ ! -s "$AIRFLOW_HOME/jwt_secret" ]; then
  (umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$AIRFLOW_HOME/jwt_secret")
fi
AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/jwt_secret")"
export AIRFLOW__API_AUTH__JWT_SECRET

# The sweeps and `srs submit` log in as SRS_API_USER: its demo password (made by `srs demo init`)
# unless given; the supervisor reads it again once the file exists.
if [ -z "${SRS_API_PASSWORD:-}" ] && [ -s "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" ]; then
  SRS_API_PASSWORD="$(.venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" "$SRS_API_USER")"
  export SRS_API_PASSWORD
fi
