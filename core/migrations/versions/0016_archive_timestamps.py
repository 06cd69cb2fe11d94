"""archive timestamps: when each B-LTA document must be renewed; an issued transcript's document
may grow by appended revisions (renewals), never change

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None

#: The record store's form of core.transcripts.rules.lifecycle.change_allowed: an issued
#: transcript's frozen columns never change, except that its document may *grow* by appended
#: revisions (a renewal's DSS and archive timestamp), every byte issued staying as it was.
_PG_FUNCTION = """
    CREATE OR REPLACE FUNCTION transcript_immutable() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            IF OLD.status IN ('issued', 'cancelled') THEN
                RAISE EXCEPTION 'transcript % is issued: it cannot be deleted', OLD.id;
            END IF;
            RETURN OLD;
        END IF;
        IF OLD.status = 'cancelled' OR (OLD.status = 'issued' AND (
                NEW.status NOT IN ('issued', 'cancelled')
                OR NEW.content::text IS DISTINCT FROM OLD.content::text
                OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
                OR (NEW.document IS DISTINCT FROM OLD.document {appended})
                OR NEW.student_id IS DISTINCT FROM OLD.student_id
                OR NEW.version IS DISTINCT FROM OLD.version
                OR NEW.verification_code IS DISTINCT FROM OLD.verification_code
                OR NEW.issued_at IS DISTINCT FROM OLD.issued_at)) THEN
            RAISE EXCEPTION 'transcript % is issued: it cannot be changed (cancel and re-issue)', OLD.id;
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
"""
_PG_APPENDED = ("AND NOT (NEW.status = 'issued' AND OLD.document IS NOT NULL AND NEW.document IS NOT NULL "
                "AND octet_length(NEW.document) > octet_length(OLD.document) "
                "AND substring(NEW.document FROM 1 FOR octet_length(OLD.document)) = OLD.document)")

_SQLITE_TRIGGER = """
    CREATE TRIGGER transcript_no_change BEFORE UPDATE ON transcript
    WHEN OLD.status = 'cancelled' OR (OLD.status = 'issued' AND (
        NEW.status NOT IN ('issued', 'cancelled') OR NEW.content IS NOT OLD.content
        OR NEW.content_hash IS NOT OLD.content_hash OR (NEW.document IS NOT OLD.document {appended})
        OR NEW.student_id IS NOT OLD.student_id OR NEW.version IS NOT OLD.version
        OR NEW.verification_code IS NOT OLD.verification_code OR NEW.issued_at IS NOT OLD.issued_at))
    BEGIN SELECT RAISE(ABORT, 'transcript is issued: it cannot be changed (cancel and re-issue)'); END
"""
_SQLITE_APPENDED = ("AND NOT (NEW.status = 'issued' AND OLD.document IS NOT NULL AND NEW.document IS NOT NULL "
                    "AND length(NEW.document) > length(OLD.document) "
                    "AND substr(NEW.document, 1, length(OLD.document)) = OLD.document)")


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
        op.execute(_PG_FUNCTION.format(appended=_PG_APPENDED if appended else ""))
    else:
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change")
        op.execute(_SQLITE_TRIGGER.format(appended=_SQLITE_APPENDED if appended else ""))


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
