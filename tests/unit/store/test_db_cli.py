"""``srs db upgrade`` and ``srs db current`` (what ``make run`` and compose's init call)."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from include.cli import main
from include.db import dispose_engines
from include.settings import reset_settings
from include.store_migrations import alembic_config

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_srs_db_upgrade_and_current(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SRS_DATABASE_URL", f"sqlite:///{tmp_path / 'srs.db'}")
    reset_settings()
    assert main(["db", "current"]) == 1  # an empty database is behind head
    assert "not migrated" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"revision {HEAD} (head)" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.strip() == f"{HEAD} (head)"
    dispose_engines()
