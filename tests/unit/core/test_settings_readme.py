from pathlib import Path

import pytest

from include.settings import SETTINGS, Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme():
    text = README.read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in text]
    assert missing == []


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "make run" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci


def test_embedded_defaults(tmp_path):
    s = Settings.from_env({"AIRFLOW_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'srs' / 'srs.db'}"
    assert s.storage_backend == "local" and s.storage_root == tmp_path / "srs" / "storage"
    assert (s.smtp_host, s.smtp_port) == ("127.0.0.1", 8025)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SRS_STORAGE_BACKEND": "ftp"}, "SRS_STORAGE_BACKEND must be 'local' or 's3'"),
        ({"SRS_SMTP_PORT": "twenty-five"}, "SRS_SMTP_PORT must be a whole number"),
        ({"SRS_INGEST_OFFICERS": "3"}, "SRS_INGEST_OFFICERS must be 1 or 2"),
    ],
)
def test_bad_settings_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_s3_client_kwargs_from_env():
    s = Settings.from_env({"SRS_S3_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"})
    assert s.s3_client_kwargs() == {
        "region_name": "eu-west-2",
        "endpoint_url": "http://127.0.0.1:9000",
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
    }
