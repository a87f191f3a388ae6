"""The secondary rules' settings and surfaces: the registry's rounding base, `srs check
--project N` against the project's ledger, and the sign-off body's side-by-side tables."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from include.checks.command import main as srs_check
from include.checks.engine import check_path
from include.checks.policy import CheckPolicy
from include.checks.secondary import LedgerIndex
from include.db import session_scope
from include.projects import policy_of
from include.registry import get_project, load
from include.registry_file import parse_registry
from include.settings import get_settings
from include.signoff_text import cross_table_lines, signoff_body

DEMO = Path(__file__).resolve().parents[3] / "demo" / "registry.yaml"


def _project(text: str, number: str):
    with session_scope(get_settings().database_url) as s:
        load(s, parse_registry(text))
    with session_scope(get_settings().database_url) as s:
        return get_project(s, number)


def test_rounding_base_from_project_and_dataset():
    text = DEMO.read_text()
    plain = _project(text, "1234567")
    assert not plain.rounding_set and plain.effective_rounding_base == 5
    policy = policy_of(plain)
    assert policy.rounding_base == 5 and not policy.rounding_required
    ended = _project(text, "3456789")  # the demo sets 10 on this project
    assert ended.rounding_set and policy_of(ended).rounding_base == 10
    # A dataset's base applies to every project using it; the coarsest wins.
    with_dataset = text.replace(
        "  - name: Census2021\n    review: none",
        "  - name: Census2021\n    review: none\n    rounding_base: 20",
    )
    census = _project(with_dataset, "1234567")
    assert census.rounding_set and policy_of(census).rounding_required
    assert policy_of(census).rounding_base == 20


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_srs_check_project_uses_the_ledger(tmp_path, monkeypatch, capsys):
    from include import projects, release_ledger
    from include.checks.table_profile import profile_tables

    old = write(tmp_path / "released" / "by_region.csv", "region,count\nNorth,120\nSouth,200\n")
    ledger = profile_tables(old, "STATS-0042")
    asked = []

    def stored_ledger(store, project):
        asked.append(project)
        return LedgerIndex(ledger)

    monkeypatch.setattr(release_ledger, "StoredLedger", stored_ledger)
    monkeypatch.setattr(projects, "check_policy_for", lambda number: CheckPolicy())
    req = write(tmp_path / "req" / "by_region.csv", "region,count\nNorth,116\nSouth,200\n").parent
    assert srs_check([str(req), "--project", "1234567", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    hits = [f for fr in report["files"] for f in fr["findings"] if f["rule"] == "differencing"]
    assert asked == ["1234567"] and hits
    assert {h["related"]["source"] for h in hits} == {"STATS-0042"}


def test_signoff_body_shows_cross_table_findings_side_by_side(tmp_path, monkeypatch):
    from include import request_rounds
    from include.checks.table_profile import profile_tables

    old = write(tmp_path / "released" / "by_region.csv", "region,count\nNorth,120\nSouth,200\n")
    req = write(tmp_path / "req" / "new.csv", "region,count\nNorth,117\nSouth,200\n").parent
    report = check_path(req, CheckPolicy(), released=profile_tables(old, "STATS-0042"))
    blocking = [
        {**f.to_dict(), "where": str(f.location)}
        for f in report.all_findings()
        if str(f.severity) == "block"
    ]
    lines = cross_table_lines(blocking)
    assert "| Table | new.csv | STATS-0042: by_region.csv |" in lines
    assert "| region=North | 117 | 120 |" in lines
    checks = {"verdict": "fail", "summary": {}, "blocking": blocking, "files": []}
    monkeypatch.setattr(request_rounds, "checks", lambda ticket: checks)
    p = SimpleNamespace(
        person=lambda username: None,
        settings=SimpleNamespace(ui_url=lambda path: f"http://ui/{path}"),
    )
    ticket = SimpleNamespace(stats_id="STATS-0050", round=1, folder="f", requester="r")
    body = signoff_body(p, ticket, "output", officer=True)
    assert "Cross-table findings" in body and "| region=North | 117 | 120 |" in body
    # No cross-table finding: no side-by-side section.
    assert (
        cross_table_lines([{k: v for k, v in b.items() if k != "related"} for b in blocking]) == []
    )
