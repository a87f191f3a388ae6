"""docker-compose.yaml is consistent: services, pinned images, real settings, health and order,
and it has the same settings as the distributed profile (deploy/distributed.env, the one source).

Docker Compose is not installed here (and images cannot be pulled), so the file is checked
statically: its effective environment is computed as Compose does (`env_file:` first, then
`environment:`), the airflow-init database script is run against the local PostgreSQL when one
answers, and the image's entrypoint script is run with a stand-in for Airflow's.
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
SETTINGS_FILE = REPO_ROOT / "deploy" / "distributed.env"
DOCKERFILE = REPO_ROOT / "Dockerfile"
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


def read_env_file(path) -> dict[str, str]:
    """KEY=value lines, as Compose's env-file parser and bash read the plain form the file keeps."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}:{number}: {line!r}"
        # Quotes, spaces and ${...} mean different things to Compose and to bash: keep them out.
        assert not re.search(r"[\s'\"$`\\]", value), f"{path.name}:{number}: {key} is not plain"
        values[key] = value
    return values


def effective_env(service: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Compose builds it: env_file(s) in order, then environment."""
    env: dict[str, str] = {}
    files = service.get("env_file") or []
    for name in [files] if isinstance(files, str) else files:
        env.update(read_env_file(REPO_ROOT / (name if isinstance(name, str) else name["path"])))
    env.update(_env(service))
    return env


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
        assert services[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name


def test_images_are_pinned(services):
    for name, service in services.items():
        image = _resolve(service["image"])
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and tag, f"{name}: image {image!r} is not pinned"
    # The Airflow services run our image, built on Airflow's for the version the lock pins.
    base = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert base == ["apache/airflow:3.3.2-python3.11"]
    lock = (REPO_ROOT / "requirements.txt").read_text()
    assert re.search(r"^apache-airflow==3\.3\.2$", lock, re.M)


def test_image_has_the_runtime_lock_only_and_no_install_at_start(compose, services):
    """Built once from requirements.txt (no test tools); nothing pip-installs when a container
    starts (`_PIP_ADDITIONAL_REQUIREMENTS` installed the whole lock at every start)."""
    dockerfile = DOCKERFILE.read_text()
    installs = re.findall(r"^RUN pip install (.*)$", dockerfile, re.M)
    assert "--no-cache-dir -r /opt/airflow/requirements.txt" in installs
    assert "COPY --chown=airflow:0 requirements.txt /opt/airflow/requirements.txt" in dockerfile
    assert "requirements-dev" not in dockerfile
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE.read_text()
    dev_tools = {"pytest", "pytest-timeout", "moto", "ruff", "playwright"}
    runtime = {
        re.split(r"[=<>\[ ]", line, maxsplit=1)[0].lower()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    }
    assert not dev_tools & runtime, f"test tools in the runtime lock: {dev_tools & runtime}"
    assert {"apache-airflow-providers-celery", "celery", "redis"} <= runtime
    for name in AIRFLOW_SERVICES:
        for volume in services[name]["volumes"]:
            assert "requirements" not in volume, f"{name} mounts {volume}"
    # The image's context leaves out local state and the tests.
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".airflow", "tests", ".env"} <= set(ignored)


def test_compose_reads_the_one_settings_file_and_never_overrides_it(compose, services):
    shared = read_env_file(SETTINGS_FILE)
    common = compose["x-airflow-common"]
    assert common["env_file"] == ["deploy/distributed.env"]
    for name in AIRFLOW_SERVICES:
        overridden = shared.keys() & _env(services[name]).keys()
        assert not overridden, f"{name} overrides deploy/distributed.env: {sorted(overridden)}"
        env = effective_env(services[name])
        assert {k: env[k] for k in shared} == shared, name
    # The bucket job creates the bucket the pipeline uses, from the same file.
    assert effective_env(services["minio-init"])["SRS_S3_BUCKET"] == shared["SRS_S3_BUCKET"]


def test_the_settings_file_holds_the_production_shape():
    shared = read_env_file(SETTINGS_FILE)
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert shared["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"  # runs start at once
    assert shared["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert shared["SRS_STORAGE_BACKEND"] == "s3"
    assert shared["SRS_API_USER"] == "ops"
    for key in shared:
        if key.startswith(("SRS_", "AWS_")):
            assert key in SETTING_NAMES, f"{key} is not in include/settings.py"
    # Where things are, and secrets, are each runner's: never in the shared file.
    placement = re.compile(
        r"(SQL_ALCHEMY_CONN|BROKER_URL|RESULT_BACKEND|DATABASE_URL|ENDPOINT_URL"
        r"|SMTP_HOST|SMTP_PORT|BASE_URL|PASSWORD|SECRET|KEY_ID|FERNET_KEY)"
    )
    assert not [k for k in shared if placement.search(k)]


def test_srs_and_aws_variables_are_settings(services):
    for name, service in services.items():
        for key in effective_env(service):
            if key.startswith(("SRS_", "AWS_")):
                assert key in SETTING_NAMES, f"{name}: {key} is not in include/settings.py"


def test_airflow_variables_are_real_options(services):
    from airflow.configuration import conf

    described = conf.configuration_description  # has_option() is False for options without default
    for name, service in services.items():
        for key in effective_env(service):
            if not key.startswith("AIRFLOW__"):
                continue
            section, _, option = key.removeprefix("AIRFLOW__").lower().partition("__")
            options = described.get(section, {}).get("options", {})
            # `_CMD` / `_SECRET` variants name a command or secret holding the option's value.
            base = re.sub(r"_(cmd|secret)$", "", option)
            known = option in options or base in options  # the Celery provider's too
            assert known, f"{name}: {key} is not an Airflow option ([{section}] {option})"


def test_the_pipeline_runs_on_the_real_parts(services):
    env = {k: _resolve(v) for k, v in effective_env(services["airflow-worker"]).items()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    airflow_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert airflow_db.startswith("postgresql") and airflow_db.endswith("@postgres:5432/airflow")
    # The ticket store lives in its own database on the same server.
    assert env["SRS_DATABASE_URL"].startswith("postgresql")
    assert env["SRS_DATABASE_URL"].endswith("@postgres:5432/srs")
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
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"


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

    env = {k: _resolve(v) for k, v in effective_env(services["airflow-apiserver"]).items()}
    assert env["AIRFLOW__CORE__AUTH_MANAGER"] == "include.airflow_auth.SRSAuthManager"
    users = dict(u.split(":") for u in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","))
    demo = read_registry_file(REPO_ROOT / "demo" / "registry.yaml")
    assert users == dict(airflow_users(demo))
    assert set(users.values()) == {"admin", "viewer"}  # nobody gets `user`: it can forge


def test_the_sweeps_password_is_a_compose_secret(compose, services):
    """ops's password reaches every Airflow container as the secret `srs_api_password`, never
    as a plain environment value nor a file that only `airflow standalone` would write."""
    assert compose["secrets"] == {"srs_api_password": {"environment": "SRS_API_PASSWORD"}}
    for name in AIRFLOW_SERVICES:
        assert "srs_api_password" in services[name]["secrets"], name
        assert "SRS_API_PASSWORD" not in effective_env(services[name]), name
    init = services["airflow-init"]["command"][-1]
    assert "/run/secrets/srs_api_password" in init
    assert 'passwords[os.environ["SRS_API_USER"]] = secret' in init


def test_image_entrypoint_reads_the_secret(tmp_path):
    """deploy/docker-entrypoint.sh: SRS_API_PASSWORD from the secret file, then Airflow's
    entrypoint with the same arguments (a stand-in here prints what it got)."""
    secret = tmp_path / "srs_api_password"
    secret.write_text("s3cret-from-compose\n")
    standin = tmp_path / "entrypoint"
    standin.write_text('#!/bin/sh\necho "args=$*"\necho "password=$SRS_API_PASSWORD"\n')
    standin.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "SRS_API_PASSWORD_FILE": str(secret),
        "AIRFLOW_IMAGE_ENTRYPOINT": str(standin),
    }
    script = str(REPO_ROOT / "deploy" / "docker-entrypoint.sh")
    out = subprocess.run(
        [script, "celery", "worker"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert out.splitlines() == ["args=celery worker", "password=s3cret-from-compose"]
    # An explicit SRS_API_PASSWORD wins over the file.
    out = subprocess.run(
        [script, "x"],
        env={**env, "SRS_API_PASSWORD": "given"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "password=given" in out.splitlines()
    dockerfile = DOCKERFILE.read_text()
    assert '"/opt/airflow/deploy/docker-entrypoint.sh"' in dockerfile
    assert "COPY --chown=airflow:0 deploy /opt/airflow/deploy" in dockerfile


def test_init_loads_the_registry_and_lays_out_folders(services):
    init = services["airflow-init"]["command"][-1]
    assert "srs demo init" in init  # registry, project folders in the bucket, demo request
    deps = _depends(services["airflow-init"])
    assert deps["minio-init"] == "service_completed_successfully"  # the bucket exists first
    assert deps["postgres"] == "service_healthy"
    assert init.index("CREATE DATABASE") < init.index("srs db upgrade") < init.index("srs demo init")


def _distributed_env(tmp_path, **overrides: str) -> dict[str, str]:
    """The environment scripts/run_distributed.sh starts its processes with (it sources
    scripts/distributed_env.sh), computed by bash itself with a throw-away home."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SRS_DIST_HOME": str(tmp_path / "h"),
        **overrides,
    }
    script = f'source "{REPO_ROOT}/scripts/distributed_env.sh" && env -0'
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, check=True, timeout=60, cwd=REPO_ROOT
    ).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def test_distributed_profile_has_the_same_settings_as_compose(tmp_path, services):
    """The one source of truth: every line of deploy/distributed.env reaches the distributed
    profile's processes unchanged, as it reaches compose's containers (test above)."""
    shared = read_env_file(SETTINGS_FILE)
    env = _distributed_env(tmp_path)
    assert {k: env.get(k) for k in shared} == shared
    # Placement: the same kinds of places, on loopback instead of container names.
    compose_env = {k: _resolve(v) for k, v in effective_env(services["airflow-worker"]).items()}
    for key in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "SRS_DATABASE_URL",
        "SRS_S3_ENDPOINT_URL",
        "SRS_SMTP_HOST",
        "SRS_SMTP_PORT",
        "AIRFLOW__API__BASE_URL",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        assert env.get(key), f"the distributed profile sets no {key}"
        assert key in compose_env, f"compose sets no {key}"
        scheme = compose_env[key].split("://")[0] if "://" in compose_env[key] else None
        if scheme:
            assert env[key].startswith(scheme + "://"), (key, env[key], compose_env[key])
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        "postgresql+psycopg2://postgres@127.0.0.1:5432/srs_dist_airflow"
    )
    assert (
        env["SRS_DATABASE_URL"] == "postgresql+psycopg2://postgres@127.0.0.1:5432/srs_dist_tickets"
    )
    assert (
        env["AIRFLOW__CELERY__RESULT_BACKEND"]
        == "db+postgresql+psycopg2://postgres@127.0.0.1:5432/srs_dist_airflow"
    )
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/6"
    assert len(env["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64
    # Names are overridable (the CI profile gives each run its own).
    other = _distributed_env(
        tmp_path,
        SRS_DIST_AIRFLOW_DB="a1",
        SRS_DIST_TICKETS_DB="t1",
        SRS_DIST_REDIS_URL="redis://127.0.0.1:6379/11",
    )
    assert other["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/a1")
    assert other["SRS_DATABASE_URL"].endswith("/t1")
    assert other["AIRFLOW__CELERY__BROKER_URL"].endswith("/11")


def test_settings_file_users_are_the_demo_registrys_people():
    from include.demo import airflow_users
    from include.registry_file import read_registry_file

    shared = read_env_file(SETTINGS_FILE)
    demo = read_registry_file(REPO_ROOT / "demo" / "registry.yaml")
    expected = ",".join(f"{user}:{role}" for user, role in airflow_users(demo))
    assert shared["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == expected  # `srs demo users`
