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
    if add:  # what was issued: the document's first issued_length bytes (renewals append after them)
        op.add_column("transcript", sa.Column("issued_length", sa.Integer(), nullable=True))
    for table in ("transcript", "week_close"):
        if add:  # a plain ADD COLUMN on both databases (no table copy: the triggers stay)
            op.add_column(table, sa.Column("archive_valid_until", sa.DateTime(), nullable=True))
            op.create_index(op.f(f"ix_{table}_archive_valid_until"), table, ["archive_valid_until"])
        else:
            op.drop_index(op.f(f"ix_{table}_archive_valid_until"), table_name=table)
            with op.batch_alter_table(table) as batch:
                batch.drop_column("archive_valid_until")
                if table == "transcript":
                    batch.drop_column("issued_length")


#: The columns frozen once a transcript is issued, as of this revision: its issued length too.
FROZEN = ("content", "content_hash", "document", "student_id", "school_id", "class_id", "school_year_id", "version",
          "verification_code", "issued_at", "homeroom_signed_by", "principal_signed_by", "replaces_id")


def _trigger(appended: bool) -> None:
    columns = (*FROZEN, "issued_length") if appended else FROZEN
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION.format(change_refused=change_refused_sql("postgresql", documents_may_grow=appended,
                                                                         columns=columns),
                                       delete_refused=deletion_refused_sql()))
    else:
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change")
        op.execute(_SQLITE_TRIGGER.format(change_refused=change_refused_sql("sqlite", documents_may_grow=appended,
                                                                            columns=columns)))


def _backfill() -> None:
    """The issued length of what was issued before this revision: its whole document (the
    guard set aside for this one statement, as the owner; it is installed anew just after)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE transcript DISABLE TRIGGER transcript_no_change")
    else:
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change")
    length = "octet_length" if postgres else "length"
    op.execute(f"UPDATE transcript SET issued_length = {length}(document) "
               "WHERE status IN ('issued', 'cancelled') AND document IS NOT NULL")
    if postgres:
        op.execute("ALTER TABLE transcript ENABLE TRIGGER transcript_no_change")


def upgrade() -> None:
    _columns(add=True)
    _backfill()
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
