"""The release ledger: one append-only row per released table (``released_tables``); and a
rounding base per project and per dataset in the registry (``rounding_base``, nullable: unset
means the checks' default, ACRO's 5).

Schema only: earlier releases are not back-filled (their files are in the archive).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from include.store_migrations.triggers import install_append_only

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "released_tables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(length=10), nullable=False),
        sa.Column("stats_id", sa.String(length=20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("file", sa.String(length=1024), nullable=False),
        sa.Column("sheet", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=1024), nullable=False),
        sa.Column("dimensions", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("magnitudes", sa.JSON(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["stats_id"], ["tickets.stats_id"], ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("stats_id", "round", "file", "sheet", name="uq_released_tables_table"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_released_tables_project_signature",
        "released_tables",
        ["project", "signature"],
        unique=False,
    )
    install_append_only(op.get_bind(), "released_tables")
    op.add_column("projects", sa.Column("rounding_base", sa.Integer(), nullable=True))
    op.add_column("datasets", sa.Column("rounding_base", sa.Integer(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the ticket store is a permanent record; it is never downgraded")
