"""the finished class-weeks read from an index: (class, week, day) with the school beside, so that
the closing page's class-weeks whose last day is past (core.logbook.queries._class_weeks_over: a
GROUP BY class and week over the caller's schools) is an index-only scan instead of reading every
entry with its signature (a city's signed week: 3 GB read, 1.1–4 s; from the index, 0.65 s). The
drill-down's periods of one class-week (class_week_entries) are found by it too. On PostgreSQL
it is created on every partition, the school an INCLUDE column (not a key).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_entry_class_week", "logbook_entry", ["class_id", "week_id", "day"],
                    postgresql_include=["school_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_entry_class_week", "logbook_entry", if_exists=True)
