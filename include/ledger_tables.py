"""The release ledger's table: every table an output release sent out, for its project.

One row per released table (a CSV/TSV, or one visible sheet of a workbook): the columns of its
``include.checks.table_profile.TableProfile`` (dimension columns and their categories, count and
magnitude columns, totals; ``cells`` holds the rows, suppressed cells and rates), with the
STATS-ID, round, file, sheet and hash, so the ledger is queried by project and signature. Append-only, like the audit trail: the ORM
refuses UPDATE/DELETE and so does a database trigger (migration 0004). A retried release writes
nothing twice: (stats_id, round, file, sheet) is unique; a CSV's sheet is '' (NULLs would not
collide in a unique constraint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from include.db import Base
from include.ticket_tables import AuditIsAppendOnly


class ReleasedTableRow(Base):
    __tablename__ = "released_tables"
    __table_args__ = (
        UniqueConstraint("stats_id", "round", "file", "sheet", name="uq_released_tables_table"),
        # The checks look a project's tables up by their dimension signature.
        Index("ix_released_tables_project_signature", "project", "signature"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(10))
    stats_id: Mapped[str] = mapped_column(ForeignKey("tickets.stats_id", ondelete="RESTRICT"))
    round: Mapped[int] = mapped_column(Integer)
    file: Mapped[str] = mapped_column(String(1024))
    sheet: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    # The canonical dimension names, sorted and joined: tables over the same dimensions.
    signature: Mapped[str] = mapped_column(String(1024))
    dimensions: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    counts: Mapped[list[str]] = mapped_column(JSON)
    magnitudes: Mapped[list[str]] = mapped_column(JSON)
    totals: Mapped[dict[str, str]] = mapped_column(JSON)  # dimension -> its total category
    cells: Mapped[dict[str, Any]] = mapped_column(JSON)  # rows, suppressed, rates, letters
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _refuse_change(_mapper, _conn, target) -> None:
    raise AuditIsAppendOnly(f"{type(target).__tablename__} rows are append-only")


event.listen(ReleasedTableRow, "before_update", _refuse_change)
event.listen(ReleasedTableRow, "before_delete", _refuse_change)
