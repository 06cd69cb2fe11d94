"""the missed and late periods newest first: a partial index on the logbook entries that are not
signed on time, in the missed-lessons page's order (day, period, id; read backwards: newest first), so that a
page of a city's missed lessons is the index's last rows instead of a sort of the newest day's
(core.logbook.queries.missed_lessons; on PostgreSQL the index is created on every partition)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

NOT_ON_TIME = sa.text("status <> 'on_time'")


def upgrade() -> None:
    op.create_index("ix_entry_not_on_time", "logbook_entry", ["day", "period_no", "id"],
                    postgresql_where=NOT_ON_TIME, sqlite_where=NOT_ON_TIME, if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_entry_not_on_time", "logbook_entry", if_exists=True)
