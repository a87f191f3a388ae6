"""What a check says: findings with a stable rule id, severity and location (shared/RULES.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from numbers import Integral
from typing import Any


class Severity(StrEnum):
    BLOCK = "block"  # cannot be released or placed; the researcher must change something
    REVIEW = "review"  # an officer must look
    INFO = "info"


# The severity of each statistical (SDC) rule, as in RULES.md; one table for every checker.
SDC_SEVERITY = {
    "threshold": Severity.BLOCK,
    "dominance": Severity.BLOCK,
    "p_ratio": Severity.BLOCK,
    "degrees_of_freedom": Severity.BLOCK,
    "zero_cell": Severity.REVIEW,
    "negative_values": Severity.REVIEW,
}


SEVERITY_ORDER = {Severity.BLOCK: 0, Severity.REVIEW: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Location:
    """Where a finding is. Every field is optional; rows and lines are 1-based as a person counts
    them (a spreadsheet's row 1 is its header row; a CSV's row 1 is its header line)."""

    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    line: int | None = None
    cell: str | None = None  # spreadsheet reference such as "B7"
    page: int | None = None  # 1-based page of a PDF or slide of a presentation

    def to_dict(self) -> dict[str, Any]:
        # Rows may arrive as numpy integers from pandas; JSON wants plain ints.
        return {
            k: int(v) if isinstance(v, Integral) and not isinstance(v, bool) else v
            for k, v in asdict(self).items()
            if v is not None
        }

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.cell:
            parts.append(f"cell {self.cell}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column:
            parts.append(f"column {self.column!r}")
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Related:
    """The other table of a cross-table finding (secondary disclosure): a released table
    (``source`` its STATS-ID, or the folder it was read from) or another file of the request
    (``source`` empty), the cell there, and the compared cells side by side as
    (what, value here, value there) rows."""

    source: str
    file: str
    sheet: str | None = None
    cell: str | None = None
    compare: tuple[tuple[str, str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "file": self.file}
        if self.sheet is not None:
            out["sheet"] = self.sheet
        if self.cell is not None:
            out["cell"] = self.cell
        if self.compare:
            out["compare"] = [list(r) for r in self.compare]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Related:
        return cls(
            source=data.get("source") or "",
            file=data["file"],
            sheet=data.get("sheet"),
            cell=data.get("cell"),
            compare=tuple(tuple(r) for r in data.get("compare") or ()),
        )


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    location: Location = field(default_factory=Location)
    kind: str | None = None
    related: Related | None = None  # cross-table findings only

    def to_dict(self) -> dict[str, Any]:
        out = {
            "rule": self.rule,
            "kind": self.kind,
            "severity": str(self.severity),
            "message": self.message,
            "location": self.location.to_dict(),
        }
        if self.related is not None:
            out["related"] = self.related.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        related = data.get("related")
        return cls(
            rule=data["rule"],
            kind=data.get("kind"),
            severity=Severity(data["severity"]),
            message=data["message"],
            location=Location(**data.get("location", {})),
            related=Related.from_dict(related) if related else None,
        )


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Blocking findings first, then by place, so a reader starts with what must change."""
    return sorted(
        findings,
        key=lambda f: (
            SEVERITY_ORDER[f.severity],
            f.location.file or "",
            f.location.sheet or "",
            f.location.row or 0,
            f.location.line or 0,
            f.rule,
        ),
    )
