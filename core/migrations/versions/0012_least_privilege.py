"""least privilege: issued transcripts frozen on every column of the lifecycle rule; the school
year's partition made by its owner whoever inserts the year

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

- The transcript triggers of migration 0003 are generated again, from the lifecycle rule
  (:func:`core.transcripts.rules.lifecycle.change_refused_sql`): an issued transcript's school,
  class, year, signers and predecessor are frozen too, beside its content, document, student,
  version, code and time of issue; its status moves only to cancelled.
- On PostgreSQL the console, the API and the jobs connect as a runtime role that owns nothing
  (``sohoa init --roles``, :mod:`core.storage.privileges`). Inserting a school year creates its
  partition of ``logbook_entry`` (migration 0009), which only the table's owner may do: the
  function that does it becomes ``SECURITY DEFINER`` (it runs as its owner, the owner role), with a
  fixed ``search_path`` so that no caller can put its own objects in its way, and only the roles
  granted it may call it.
"""
from alembic import op

from core.transcripts.rules.lifecycle import change_refused_sql, deletion_refused_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

PARTITION_FUNCTION = "sohoa_entry_year_partition(integer)"
#: The columns frozen once a transcript is issued, as of this revision (the rule has grown since)
FROZEN = ("content", "content_hash", "document", "student_id", "school_id", "class_id", "school_year_id", "version",
          "verification_code", "issued_at", "homeroom_signed_by", "principal_signed_by", "replaces_id")

#: migration 0003's conditions, for the downgrade
OLD_POSTGRES = """OLD.status = 'cancelled' OR (OLD.status = 'issued' AND (
        NEW.status NOT IN ('issued', 'cancelled')
        OR NEW.content::text IS DISTINCT FROM OLD.content::text
        OR NEW.content_hash IS DISTINCT FROM OLD.content_hash
        OR NEW.document IS DISTINCT FROM OLD.document
        OR NEW.student_id IS DISTINCT FROM OLD.student_id
        OR NEW.version IS DISTINCT FROM OLD.version
        OR NEW.verification_code IS DISTINCT FROM OLD.verification_code
        OR NEW.issued_at IS DISTINCT FROM OLD.issued_at))"""
OLD_SQLITE = """OLD.status = 'cancelled' OR (OLD.status = 'issued' AND (
        NEW.status NOT IN ('issued', 'cancelled') OR NEW.content IS NOT OLD.content
        OR NEW.content_hash IS NOT OLD.content_hash OR NEW.document IS NOT OLD.document
        OR NEW.student_id IS NOT OLD.student_id OR NEW.version IS NOT OLD.version
        OR NEW.verification_code IS NOT OLD.verification_code OR NEW.issued_at IS NOT OLD.issued_at))"""


def _postgres_function(change_refused: str, delete_refused: str) -> str:
    return f"""
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


def _sqlite_trigger(change_refused: str) -> str:
    return f"""
        CREATE TRIGGER transcript_no_change BEFORE UPDATE ON transcript
        WHEN {change_refused}
        BEGIN SELECT RAISE(ABORT, 'transcript is issued: it cannot be changed (cancel and re-issue)'); END
    """


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_postgres_function(change_refused_sql("postgresql", documents_may_grow=False, columns=FROZEN),
                                       deletion_refused_sql()))
        schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
        # the record store's schema first (the partitions are made there; only the owner may
        # create objects in it), the caller's temporary schema last
        op.execute(f'ALTER FUNCTION {PARTITION_FUNCTION} SECURITY DEFINER '
                   f'SET search_path = "{schema}", pg_catalog, pg_temp')
        op.execute(f"REVOKE EXECUTE ON FUNCTION {PARTITION_FUNCTION} FROM PUBLIC")
    else:
        op.execute("DROP TRIGGER transcript_no_change")
        op.execute(_sqlite_trigger(change_refused_sql("sqlite", documents_may_grow=False, columns=FROZEN)))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_postgres_function(OLD_POSTGRES, "OLD.status IN ('issued', 'cancelled')"))
        op.execute(f"ALTER FUNCTION {PARTITION_FUNCTION} SECURITY INVOKER RESET search_path")
        op.execute(f"GRANT EXECUTE ON FUNCTION {PARTITION_FUNCTION} TO PUBLIC")
    else:
        op.execute("DROP TRIGGER transcript_no_change")
        op.execute(_sqlite_trigger(OLD_SQLITE))
