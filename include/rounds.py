"""A request's rounds as frozen values: what the ticket store knows of each round.

Round ``n`` of a ticket is its ``n``-th submission (the first, then one per resubmission after
revisions). Each fact is ``None`` until the step that makes it has recorded it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from include.storage.base import Manifest, ManifestEntry
from include.ticket_tables import RoundRow


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Snapshot:
    place: str  # storage key of the copy the checks and officers look at
    manifest: Manifest
    at: datetime | None

    def to_bag(self, folder: str) -> dict[str, Any]:
        """The record the steps work with (``include.request_rounds.snapshot``): folder,
        place and the manifest as a dict (the shape the old ``snapshot_r{n}`` had)."""
        return {"folder": folder, "place": self.place, "manifest": self.manifest.to_dict()}


@dataclass(frozen=True)
class CheckSummary:
    verdict: str  # pass | review | fail
    counts: Mapping[str, Any]  # the report's summary: files, by_severity, ...
    blocking: tuple[Mapping[str, Any], ...] = ()  # the blocking findings (first 50), with "where"
    files: tuple[Mapping[str, Any], ...] = ()  # path, role, type of every file checked
    direct_identifiers: int = 0
    report_place: str | None = None  # where <folder>.check.json|html are kept
    at: datetime | None = None

    @classmethod
    def from_bag(cls, value: Mapping[str, Any], report_place: str | None = None) -> CheckSummary:
        """From ``include.request_checks.check_summary``'s dict (``to_bag``'s shape)."""
        return cls(
            verdict=str(value["verdict"]),
            counts=dict(value.get("summary") or {}),
            blocking=tuple(value.get("blocking") or ()),
            files=tuple(value.get("files") or ()),
            direct_identifiers=int(value.get("direct_identifiers") or 0),
            report_place=report_place,
        )

    def to_bag(self) -> dict[str, Any]:
        """The summary dict the steps work with (``include.request_rounds.checks``; the
        shape of ``include.request_checks.check_summary``)."""
        return {
            "verdict": self.verdict,
            "summary": dict(self.counts),
            "blocking": [dict(b) for b in self.blocking],
            "files": [dict(f) for f in self.files],
            "direct_identifiers": self.direct_identifiers,
        }


@dataclass(frozen=True)
class Placement:
    place: str  # where the verified copy now is (Input/ of the receiving project)
    manifest_place: str | None
    at: datetime | None


@dataclass(frozen=True)
class Round:
    number: int
    folder: str
    folder_version: int | None
    run_id: str | None  # the Airflow run that did this round's intake
    triggered_run_id: str | None  # the run the intake sweep started for it, if it did
    snapshot: Snapshot | None
    checks: CheckSummary | None
    placement: Placement | None
    started_at: datetime
    updated_at: datetime


def round_from_row(row: RoundRow) -> Round:
    snapshot = None
    if row.snapshot_place is not None:
        entries = (ManifestEntry(f.path, f.sha256, int(f.size)) for f in row.files)
        snapshot = Snapshot(row.snapshot_place, Manifest(entries), _aware(row.snapshot_at))
    checks = None
    if row.check_verdict is not None:
        checks = CheckSummary(
            verdict=row.check_verdict,
            counts=dict(row.check_counts or {}),
            blocking=tuple(row.check_blocking or ()),
            files=tuple(row.check_files or ()),
            direct_identifiers=row.check_direct_identifiers or 0,
            report_place=row.check_report_place,
            at=_aware(row.checked_at),
        )
    placement = None
    if row.placed_place is not None:
        placement = Placement(row.placed_place, row.placed_manifest_place, _aware(row.placed_at))
    return Round(
        number=row.number,
        folder=row.folder,
        folder_version=row.folder_version,
        run_id=row.run_id,
        triggered_run_id=row.triggered_run_id,
        snapshot=snapshot,
        checks=checks,
        placement=placement,
        started_at=_aware(row.started_at),  # type: ignore[arg-type]
        updated_at=_aware(row.updated_at),  # type: ignore[arg-type]
    )
