"""today's unsigned periods by their day: an index on the logbook entries' (day, status), so
the console's "unsigned today" (core.logbook.this_week.unsigned_today) reads one day's pending
periods instead of scanning the year (on PostgreSQL the index is created on every partition)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a database that ran this index as its branch's "0019" already has it
    op.create_index("ix_entry_day_status", "logbook_entry", ["day", "status"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_entry_day_status", "logbook_entry", if_exists=True)
