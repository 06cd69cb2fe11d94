"""archive timestamps: when each B-LTA document must be renewed; an issued transcript's document
may grow by appended revisions (renewals), never change

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

from core.transcripts.rules.lifecycle import change_refused_sql, deletion_refused_sql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: The record store's form of core.transcripts.rules.lifecycle: an issued transcript's frozen
#: columns never change, except that its document may *grow* by appended revisions (a renewal's
#: DSS and archive timestamp), every byte issued staying as it was (``documents_may_grow``).
_PG_FUNCTION = """
    CREATE OR REPLACE FUNCTION transcript_immutable() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF {delete_refused} THEN
                RAISE EXCEPTION 'transcript % is issued: it cannot be deleted', OLD.id;
            END IF;
            RETURN OLD;
        END IF;
        IF {change_refused} THEN
            RAISE EXCEPTION 'transcript % is issued: it cannot be changed (cancel and re-issue)', OLD.id;
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
"""
_SQLITE_TRIGGER = """
    CREATE TRIGGER transcript_no_change BEFORE UPDATE ON transcript
    WHEN {change_refused}
    BEGIN SELECT RAISE(ABORT, 'transcript is issued: it cannot be changed (cancel and re-issue)'); END
"""


def _columns(add: bool) -> None:
    for table in ("transcript", "week_close"):
        if add:  # a plain ADD COLUMN on both databases (no table copy: the triggers stay)
            op.add_column(table, sa.Column("archive_valid_until", sa.DateTime(), nullable=True))
            op.create_index(op.f(f"ix_{table}_archive_valid_until"), table, ["archive_valid_until"])
        else:
            op.drop_index(op.f(f"ix_{table}_archive_valid_until"), table_name=table)
            with op.batch_alter_table(table) as batch:
                batch.drop_column("archive_valid_until")


def _trigger(appended: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION.format(change_refused=change_refused_sql("postgresql", documents_may_grow=appended),
                                       delete_refused=deletion_refused_sql()))
    else:
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change")
        op.execute(_SQLITE_TRIGGER.format(change_refused=change_refused_sql("sqlite", documents_may_grow=appended)))


def upgrade() -> None:
    _columns(add=True)
    _trigger(appended=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":  # batch mode copies the table: its triggers go, and come back below
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change")
        op.execute("DROP TRIGGER IF EXISTS transcript_no_delete")
    _columns(add=False)
    _trigger(appended=False)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("""
            CREATE TRIGGER transcript_no_delete BEFORE DELETE ON transcript
            WHEN OLD.status IN ('issued', 'cancelled')
            BEGIN SELECT RAISE(ABORT, 'transcript is issued: it cannot be deleted'); END
        """)
