#!/usr/bin/env bash
# Entrypoint of the pipeline's image: the sweeps and `srs submit` log in to Airflow's API as
# SRS_API_USER with SRS_API_PASSWORD; compose provides that password as the secret
# `srs_api_password` (a file in /run/secrets), never as a plain environment value. Then Airflow's
# own entrypoint, as the base image would run it.
set -euo pipefail
secret="${SRS_API_PASSWORD_FILE:-/run/secrets/srs_api_password}"
if [ -z "${SRS_API_PASSWORD:-}" ] && [ -r "$secret" ]; then
  SRS_API_PASSWORD="$(cat "$secret")"
  export SRS_API_PASSWORD
fi
exec "${AIRFLOW_IMAGE_ENTRYPOINT:-/entrypoint}" "$@"
