"""Indexes for the operator queue: its two orders and the destination-project filter.

The queue pages in SQL (``include.ticket_queries.page``): open sections in queue order
(``queued_at, id``), finished ones newest first (``updated_at, id``), and a project filter
that also matches a transfer's destination. Without these every page sorts the whole table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_queue_order", "tickets", ["queued_at", "id"])
    op.create_index("ix_tickets_updated_order", "tickets", ["updated_at", "id"])
    op.create_index("ix_tickets_destination_project", "tickets", ["destination_project"])


def downgrade() -> None:
    op.drop_index("ix_tickets_destination_project", table_name="tickets")
    op.drop_index("ix_tickets_updated_order", table_name="tickets")
    op.drop_index("ix_tickets_queue_order", table_name="tickets")
