"""Every setting the pipeline reads, in one place.

Each setting is an environment variable with an embedded default, so the system runs on one
machine with no configuration (SQLite, a local folder tree, a local SMTP server). The compose
stack sets the same variables to point at Postgres, MinIO and Mailpit. A few settings may
instead come from an Airflow connection (``SRS_*_CONN_ID``); that lookup happens only when asked
for, so the core never needs Airflow to import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    """One environment variable the code reads, with its default and meaning (for the README)."""

    name: str
    default: str
    help: str


# The single list of settings. `Settings.from_env` reads exactly these; the README table and
# the docker-compose test are checked against it.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "AIRFLOW_HOME",
        str(REPO_ROOT / ".airflow"),
        "Airflow's home; the embedded default keeps the ticket database and mail here",
    ),
    Setting(
        "SRS_DATA_DIR",
        "",
        "folder for the local project storage, outbox and archive (default: $AIRFLOW_HOME/srs)",
    ),
    Setting(
        "SRS_DATABASE_URL",
        "",
        "SQLAlchemy URL of the ticket store and registry (default: SQLite in $SRS_DATA_DIR/srs.db)",
    ),
    Setting("SRS_STORAGE_BACKEND", "local", "`local` (folder tree) or `s3`"),
    Setting(
        "SRS_STORAGE_ROOT",
        "",
        "local backend: root of the project folders (default: $SRS_DATA_DIR/storage)",
    ),
    Setting("SRS_S3_BUCKET", "srs-projects", "s3 backend: bucket holding the project folders"),
    Setting(
        "SRS_S3_ENDPOINT_URL",
        "",
        "s3 backend: endpoint (MinIO, or an S3 server on loopback); empty for AWS",
    ),
    Setting(
        "SRS_S3_CONN_ID",
        "",
        "s3 backend: Airflow AWS connection to take credentials and endpoint from",
    ),
    Setting("AWS_ACCESS_KEY_ID", "", "s3 backend: access key (unless SRS_S3_CONN_ID is set)"),
    Setting("AWS_SECRET_ACCESS_KEY", "", "s3 backend: secret key (unless SRS_S3_CONN_ID is set)"),
    Setting("AWS_DEFAULT_REGION", "eu-west-2", "s3 backend: region"),
    Setting("SRS_SMTP_HOST", "127.0.0.1", "SMTP server for every email"),
    Setting("SRS_SMTP_PORT", "8025", "SMTP port (the embedded mail sink listens on 8025)"),
    Setting(
        "SRS_SMTP_CONN_ID", "", "Airflow SMTP connection to take host, port and login from instead"
    ),
    Setting(
        "SRS_MAIL_DIR",
        "",
        "where the embedded mail sink keeps received mail as .eml files (default: $SRS_DATA_DIR/mail)",
    ),
    Setting("SRS_MAIL_FROM", "statistical.support@srs.example", "sender of every email"),
    Setting(
        "SRS_OPERATIONS_EMAIL",
        "srs.operations@srs.example",
        "where incidents and held releases are reported",
    ),
    Setting("SRS_MAX_FILE_BYTES", str(200 * 1024 * 1024), "files larger than this are `too_large`"),
    Setting(
        "SRS_MAX_ATTACHMENT_BYTES",
        str(20 * 1024 * 1024),
        "a release whose attachments exceed this is held for operations",
    ),
    Setting("SRS_INGEST_OFFICERS", "1", "officer sign-offs an ingest or transfer needs (1 or 2)"),
    Setting(
        "SRS_SIGNOFF_REMINDER_DAYS",
        "5",
        "working days (England and Wales) a sign-off may wait before its assignees are reminded "
        "and operations told, once",
    ),
    Setting(
        "SRS_API_USER", "ops", "Airflow user that `srs submit` and `srs resubmit` start runs as"
    ),
    Setting(
        "SRS_API_PASSWORD", "", "its password (embedded default: read from the demo passwords file)"
    ),
    # Read by include/checks/check_client.py straight from the environment: a warm check's
    # client imports nothing it need not (README: Check engine performance).
    Setting("SRS_CHECK_SERVER", "on", "`off`: `srs check` never uses a warm check server"),
    Setting(
        "SRS_CHECK_SERVER_DIR",
        "",
        "folder of the check server's socket (default: $XDG_RUNTIME_DIR/srs-check, else "
        "/tmp/srs-check-<uid>); must be the user's own, mode 0700",
    ),
    Setting("SRS_CHECK_STATS", "", "benchmarks: file to which `srs check` appends where it ran"),
    Setting(
        "AIRFLOW__API__BASE_URL",
        "http://localhost:8080",
        "Airflow's public URL, used in links in sign-off bodies and emails",
    ),
)

SETTING_NAMES = frozenset(s.name for s in SETTINGS)


def _int(env: Mapping[str, str], name: str) -> int:
    raw = env[name]
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"setting {name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    airflow_home: Path
    data_dir: Path
    database_url: str
    storage_backend: str
    storage_root: Path
    s3_bucket: str
    s3_endpoint_url: str | None
    s3_conn_id: str | None
    aws_region: str
    smtp_host: str
    smtp_port: int
    smtp_conn_id: str | None
    mail_dir: Path
    mail_from: str
    operations_email: str
    max_file_bytes: int
    max_attachment_bytes: int
    ingest_officers: int
    signoff_reminder_days: int
    api_base_url: str
    api_user: str
    api_password: str
    raw: Mapping[str, str] = field(repr=False, default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if environ is None else environ
        env = {s.name: source.get(s.name) or s.default for s in SETTINGS}
        home = Path(env["AIRFLOW_HOME"]).expanduser()
        data = Path(env["SRS_DATA_DIR"]).expanduser() if env["SRS_DATA_DIR"] else home / "srs"
        backend = env["SRS_STORAGE_BACKEND"].strip().lower()
        if backend not in ("local", "s3"):
            raise ValueError(
                f"setting SRS_STORAGE_BACKEND must be 'local' or 's3', got {backend!r}"
            )
        officers = _int(env, "SRS_INGEST_OFFICERS")
        if officers not in (1, 2):
            raise ValueError("setting SRS_INGEST_OFFICERS must be 1 or 2")
        reminder_days = _int(env, "SRS_SIGNOFF_REMINDER_DAYS")
        if reminder_days < 1:
            raise ValueError("setting SRS_SIGNOFF_REMINDER_DAYS must be at least 1")
        return cls(
            airflow_home=home,
            data_dir=data,
            database_url=env["SRS_DATABASE_URL"] or f"sqlite:///{data / 'srs.db'}",
            storage_backend=backend,
            storage_root=Path(env["SRS_STORAGE_ROOT"])
            if env["SRS_STORAGE_ROOT"]
            else data / "storage",
            s3_bucket=env["SRS_S3_BUCKET"],
            s3_endpoint_url=env["SRS_S3_ENDPOINT_URL"] or None,
            s3_conn_id=env["SRS_S3_CONN_ID"] or None,
            aws_region=env["AWS_DEFAULT_REGION"],
            smtp_host=env["SRS_SMTP_HOST"],
            smtp_port=_int(env, "SRS_SMTP_PORT"),
            smtp_conn_id=env["SRS_SMTP_CONN_ID"] or None,
            mail_dir=Path(env["SRS_MAIL_DIR"]) if env["SRS_MAIL_DIR"] else data / "mail",
            mail_from=env["SRS_MAIL_FROM"],
            operations_email=env["SRS_OPERATIONS_EMAIL"],
            max_file_bytes=_int(env, "SRS_MAX_FILE_BYTES"),
            max_attachment_bytes=_int(env, "SRS_MAX_ATTACHMENT_BYTES"),
            ingest_officers=officers,
            signoff_reminder_days=reminder_days,
            api_base_url=env["AIRFLOW__API__BASE_URL"].rstrip("/"),
            api_user=env["SRS_API_USER"],
            api_password=env["SRS_API_PASSWORD"],
            raw=env,
        )

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    def smtp_endpoint(self) -> tuple[str, int, str | None, str | None]:
        """Host, port, login and password: from the Airflow connection when one is named."""
        if self.smtp_conn_id:
            conn = _airflow_connection(self.smtp_conn_id)
            return (
                conn.host or self.smtp_host,
                int(conn.port or self.smtp_port),
                conn.login,
                conn.password,
            )
        return self.smtp_host, self.smtp_port, None, None

    def s3_client_kwargs(self) -> dict[str, str]:
        """boto3 client arguments: from the Airflow AWS connection when one is named."""
        kwargs: dict[str, str] = {"region_name": self.aws_region}
        if self.s3_endpoint_url:
            kwargs["endpoint_url"] = self.s3_endpoint_url
        if self.s3_conn_id:
            conn = _airflow_connection(self.s3_conn_id)
            extra = conn.extra_dejson or {}
            if conn.login:
                kwargs["aws_access_key_id"] = conn.login
                kwargs["aws_secret_access_key"] = conn.password or ""
            if extra.get("endpoint_url"):
                kwargs["endpoint_url"] = extra["endpoint_url"]
            if extra.get("region_name"):
                kwargs["region_name"] = extra["region_name"]
        else:
            if self.raw.get("AWS_ACCESS_KEY_ID"):
                kwargs["aws_access_key_id"] = self.raw["AWS_ACCESS_KEY_ID"]
                kwargs["aws_secret_access_key"] = self.raw.get("AWS_SECRET_ACCESS_KEY", "")
        return kwargs

    def ui_url(self, path: str) -> str:
        return f"{self.api_base_url}/{path.lstrip('/')}"


def _airflow_connection(conn_id: str):  # pragma: no cover - needs a running Airflow
    # Imported here so the core imports without Airflow; Connection parses AIRFLOW_CONN_* too.
    from airflow.sdk import Connection

    return Connection.get(conn_id)


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    global _cached
    if _cached is None:
        _cached = Settings.from_env()
    return _cached


def reset_settings() -> None:
    """Forget the cached settings (tests change the environment between cases)."""
    global _cached
    _cached = None
