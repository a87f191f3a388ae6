"""Run the distributed profile's processes and keep them running (what ``make run-distributed`` ends in).

The production shape of docker-compose.yaml as plain processes on this machine, with the settings
``scripts/run_distributed.sh`` exports (deploy/distributed.env plus where things are). In order:

1. checks that the PostgreSQL server (``SRS_DIST_POSTGRES_ADMIN_URL``) and Redis (the Celery
   broker, ``AIRFLOW__CELERY__BROKER_URL``) answer, else fails at once with what to do;
2. creates Airflow's metadata database and the ticket store's database if missing;
3. starts the S3 server on loopback (moto's, in memory) and the mail sink, creates the bucket;
4. ``srs db upgrade`` (the ticket store's schema), then ``srs demo init``: loads the demo
   registry, lays out every project's folders (again after a restart: the S3 server keeps
   nothing) and the demo request folder, makes the demo passwords;
5. ``airflow db migrate``;
6. ``airflow api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and ``celery worker``.

Supervision is scripts/supervise.py's (restart with back-off, stop everything and exit 1 when a
process keeps dying, Ctrl-C stops all); this only changes what is started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from supervise import (  # noqa: E402
    BIN,
    HOME,
    LOG_DIR,
    Component,
    Fatal,
    Supervisor,
    create_missing_databases,
    say,
)


def _wait_for_port(host: str, port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise Fatal(
                    f"{what} did not listen on {host}:{port} within {timeout:.0f}s"
                ) from None
            time.sleep(0.2)


def check_redis(url: str) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise Fatal(
            f"Redis (the Celery broker) at {url} is unreachable: {exc}; start Redis or "
            "set SRS_DIST_REDIS_URL"
        ) from None


def ensure_databases(admin_url: str, names: list[str]) -> None:
    import psycopg2

    try:
        conn = psycopg2.connect(admin_url, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        raise Fatal(
            f"PostgreSQL at {admin_url} is unreachable: {exc}; start it or set "
            "SRS_DIST_POSTGRES_ADMIN_URL"
        ) from None
    create_missing_databases(conn, names)


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _run(name: str, command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=str(HOME), check=False)
    (LOG_DIR / f"{name}.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise Fatal(
            f"`{' '.join(command[-3:])}` failed:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    for line in result.stdout.splitlines():
        say(f"{name}: {line}")


def ensure_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": os.environ["AWS_DEFAULT_REGION"]},
        )
        say(f"S3 bucket {bucket!r} created on {endpoint}")


class DistributedSupervisor(Supervisor):
    def start_all(self) -> None:
        HOME.mkdir(parents=True, exist_ok=True)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        env = os.environ
        airflow = str(BIN / "airflow")
        check_redis(env["AIRFLOW__CELERY__BROKER_URL"])
        ensure_databases(
            env["SRS_DIST_POSTGRES_ADMIN_URL"],
            [
                _database_name(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
                _database_name(env["SRS_DATABASE_URL"]),
            ],
        )
        s3 = urlsplit(env["SRS_S3_ENDPOINT_URL"])
        for name, command in (
            (
                "s3",
                [str(BIN / "moto_server"), "-H", s3.hostname or "127.0.0.1", "-p", str(s3.port)],
            ),
            ("mailsink", [str(BIN / "srs"), "mailsink"]),
        ):
            component = Component(name, command)
            self.components.append(component)
            component.start()
        _wait_for_port(s3.hostname or "127.0.0.1", s3.port or 80, "the S3 server")
        _wait_for_port(env["SRS_SMTP_HOST"], int(env["SRS_SMTP_PORT"]), "the mail sink")
        ensure_bucket(env["SRS_S3_ENDPOINT_URL"], env["SRS_S3_BUCKET"])
        # The ticket store's schema to head (Alembic) before anything uses it.
        _run("db-upgrade", [str(BIN / "srs"), "db", "upgrade"])
        _run("demo-init", [str(BIN / "srs"), "demo", "init"])
        if not env.get("SRS_API_PASSWORD"):
            # The sweeps' and `srs submit`'s login: the demo password of SRS_API_USER.
            passwords = HOME / "simple_auth_manager_passwords.json.generated"
            os.environ["SRS_API_PASSWORD"] = json.loads(passwords.read_text())[env["SRS_API_USER"]]
        say("airflow db migrate ...")
        _run("db-migrate", [airflow, "db", "migrate"])
        for name, command in (
            ("api-server", [airflow, "api-server"]),
            ("scheduler", [airflow, "scheduler"]),
            ("dag-processor", [airflow, "dag-processor"]),
            # The API reads task logs from the shared $AIRFLOW_HOME/logs: no log servers (their
            # fixed ports would clash with another Airflow on this machine).
            ("triggerer", [airflow, "triggerer", "--skip-serve-logs"]),
            (
                "celery-worker",
                [
                    airflow,
                    "celery",
                    "worker",
                    "--skip-serve-logs",
                    "--queues",
                    env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default"),
                ],
            ),
        ):
            component = Component(name, command)
            self.components.append(component)
            component.start()
        say(
            "started: "
            + ", ".join(f"{c.name} (pid {c.proc.pid})" for c in self.components if c.proc)
        )
        self.write_state()


def main() -> int:
    return DistributedSupervisor().run()


if __name__ == "__main__":
    sys.exit(main())
