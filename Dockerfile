# The pipeline's image for docker-compose.yaml: Airflow's own image, the locked RUNTIME requirements
# (requirements.txt: no test tools), and the repository's code. Build: `docker compose build`.
FROM apache/airflow:3.3.2-python3.11

# Against the lock alone, with apache-airflow pinned in it, so pip never up- or downgrades Airflow.
COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt

# The code (compose also mounts dags/, plugins/ and include/ over these for development).
COPY --chown=airflow:0 pyproject.toml /opt/airflow/
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 demo /opt/airflow/demo
COPY --chown=airflow:0 deploy /opt/airflow/deploy
# The `srs` command, without touching the pinned dependencies.
RUN pip install --no-cache-dir --no-deps -e /opt/airflow

# SRS_API_PASSWORD from the compose secret, then Airflow's own entrypoint.
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/opt/airflow/deploy/docker-entrypoint.sh"]
CMD []
