"""docker-compose.yaml is consistent: services, pinned images, real settings, health and order.

Docker does not run here, so the file is checked statically; the airflow-init database script is
also run against the local PostgreSQL when one answers.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import Any

import pytest
import yaml

from include.settings import REPO_ROOT, SETTING_NAMES

COMPOSE = REPO_ROOT / "docker-compose.yaml"
EXPECTED_SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "minio",
    "minio-init",
    "mailpit",
}
ONE_SHOT = {"airflow-init", "minio-init"}
AIRFLOW_SERVICES = {s for s in EXPECTED_SERVICES if s.startswith("airflow-")}
# Options of the Celery provider, which the image has but this venv does not install, so
# Airflow's configuration description here cannot vouch for them.
CELERY_PROVIDER_OPTIONS = {("celery", "broker_url"), ("celery", "result_backend")}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def _resolve(value: str) -> str:
    """The value compose would use with no .env file (`${VAR:-default}` -> default)."""
    return INTERPOLATION.sub(lambda m: m.group("default") or "", value)


def _depends(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def test_every_expected_service_and_the_common_anchor(compose, services):
    assert set(services) == EXPECTED_SERVICES
    assert "x-airflow-common" in compose
    for name in AIRFLOW_SERVICES:
        assert services[name]["image"] == compose["x-airflow-common"]["image"], name


def test_images_are_pinned(services):
    for name, service in services.items():
        image = _resolve(service["image"])
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and tag, f"{name}: image {image!r} is not pinned"
    assert _resolve(services["airflow-worker"]["image"]).startswith("apache/airflow:3.3.")


def test_srs_and_aws_variables_are_settings(services):
    for name, service in services.items():
        for key in _env(service):
            if key.startswith(("SRS_", "AWS_")):
                assert key in SETTING_NAMES, f"{name}: {key} is not in include/settings.py"


def test_airflow_variables_are_real_options(services):
    from airflow.configuration import conf

    described = conf.configuration_description  # has_option() is False for options without default
    for name, service in services.items():
        for key in _env(service):
            if not key.startswith("AIRFLOW__"):
                continue
            section, _, option = key.removeprefix("AIRFLOW__").lower().partition("__")
            options = described.get(section, {}).get("options", {})
            # `_CMD` / `_SECRET` variants name a command or secret holding the option's value.
            base = re.sub(r"_(cmd|secret)$", "", option)
            known = (section, option) in CELERY_PROVIDER_OPTIONS or (
                option in options or base in options
            )
            assert known, f"{name}: {key} is not an Airflow option ([{section}] {option})"


def test_the_pipeline_runs_on_the_real_parts(services):
    env = {k: _resolve(v) for k, v in _env(services["airflow-worker"]).items()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    airflow_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow_db.startswith("postgresql") and airflow_db.endswith("@postgres/airflow")
    # The ticket store lives in its own database on the same server.
    assert env["SRS_DATABASE_URL"].startswith("postgresql")
    assert env["SRS_DATABASE_URL"].endswith("@postgres/srs")
    assert env["SRS_STORAGE_BACKEND"] == "s3"
    assert env["SRS_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["SRS_S3_BUCKET"]
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"]
    assert (env["SRS_SMTP_HOST"], env["SRS_SMTP_PORT"]) == ("mailpit", "1025")
    assert env["AIRFLOW__API__BASE_URL"].startswith("http")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:")
    assert env["PYTHONPATH"] == "/opt/airflow"
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64  # shorter: PyJWT warns every request
    # MinIO credentials: the same variables feed the server, the bucket job and the pipeline.
    raw = _env(services["airflow-worker"])
    assert raw["AWS_ACCESS_KEY_ID"] == _env(services["minio"])["MINIO_ROOT_USER"]
    assert raw["AWS_SECRET_ACCESS_KEY"] == _env(services["minio"])["MINIO_ROOT_PASSWORD"]
    assert raw["SRS_S3_BUCKET"] == _env(services["minio-init"])["SRS_S3_BUCKET"]


def test_code_is_mounted(services):
    for name in AIRFLOW_SERVICES:
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        for folder in ("dags", "plugins", "include"):
            assert f"/opt/airflow/{folder}" in targets, f"{name} does not mount ./{folder}"


def test_no_secret_is_committed(services):
    secretish = re.compile(r"(PASSWORD|SECRET|FERNET_KEY|ACCESS_KEY_ID)$")
    for name, service in services.items():
        for key, value in _env(service).items():
            if secretish.search(key) and value:
                assert INTERPOLATION.fullmatch(value), f"{name}: {key} must be ${{VAR:-dev}}"
            # Passwords inside URLs too (user:password@host).
            for password in re.findall(r"://[^:/@]+:([^@]*)@", value):
                assert not password or INTERPOLATION.fullmatch(password), f"{name}: {key}"


def test_healthchecks(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} runs once"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"


def test_depends_on_is_consistent(services):
    for name, service in services.items():
        for dep, condition in _depends(service).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert dep != name
            if condition == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep}'s health"
            elif condition == "service_completed_successfully":
                assert dep in ONE_SHOT, f"{name} waits for {dep} to finish, but it never does"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        deps = _depends(services[name])
        assert deps.get("airflow-init") == "service_completed_successfully", name
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("minio-init") == "service_completed_successfully", name
    assert _depends(services["minio-init"]) == {"minio": "service_healthy"}

    # No cycles: a topological order exists.
    remaining = {name: set(_depends(s)) for name, s in services.items()}
    while remaining:
        ready = [n for n, deps in remaining.items() if not deps & remaining.keys()]
        assert ready, f"dependency cycle among {sorted(remaining)}"
        for n in ready:
            del remaining[n]


def _init_db_script(services) -> str:
    command = services["airflow-init"]["command"][-1]
    match = re.search(r"<<'PY'\n(?P<body>.*?)\nPY\n", command, re.S)
    assert match, "airflow-init has no Python block creating the srs database"
    return match.group("body")


def test_init_creates_the_srs_database_script_compiles(services):
    compile(_init_db_script(services), "airflow-init", "exec")


@pytest.mark.postgres
def test_init_script_creates_role_and_database_idempotently(services):
    from sqlalchemy import create_engine, text

    admin_url = os.environ.get(
        "SRS_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    )
    try:
        engine = create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
    except Exception as exc:
        pytest.skip(f"PostgreSQL at {admin_url} unreachable ({type(exc).__name__})")
    name = f"srs_compose_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": admin_url,
        "SRS_DATABASE_URL": f"postgresql+psycopg2://{name}:pw-{name}@127.0.0.1:5432/{name}",
    }
    script = _init_db_script(services)
    try:
        for _ in range(2):  # a second run on an existing volume changes nothing
            result = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, result.stderr
        owned = create_engine(env["SRS_DATABASE_URL"])
        with owned.connect() as conn:
            assert conn.execute(text("select current_user, current_database()")).one() == (
                name,
                name,
            )
        owned.dispose()
    finally:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        engine.dispose()


def test_least_privilege_auth_manager_and_roles(services):
    """Officers and data owners are SRSAuthManager viewers (answer HITL only), as embedded."""
    from include.demo import airflow_users
    from include.registry_file import read_registry_file

    env = {k: _resolve(v) for k, v in _env(services["airflow-apiserver"]).items()}
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == "include.airflow_auth.SRSAuthManager"
    users = dict(u.split(":") for u in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","))
    demo = read_registry_file(REPO_ROOT / "demo" / "registry.yaml")
    assert users == dict(airflow_users(demo))
    assert set(users.values()) == {"admin", "viewer"}  # nobody gets `user`: it can forge
