"""gradebook and transcripts (học bạ số), with issued transcripts immutable in the database

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "subject_result",
        sa.Column("id", BigId, nullable=False),
        sa.Column("student_id", BigId, nullable=False), sa.Column("class_id", BigId, nullable=False),
        sa.Column("subject_id", BigId, nullable=False), sa.Column("school_year_id", BigId, nullable=False),
        sa.Column("term1", sa.JSON(), nullable=True), sa.Column("term2", sa.JSON(), nullable=True),
        sa.Column("year_value", sa.String(length=32), nullable=True), sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("entered_by", BigId, nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_subject_result_student_id_student")),
        sa.ForeignKeyConstraint(["class_id"], ["school_class.id"], name=op.f("fk_subject_result_class_id_school_class")),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_subject_result_subject_id_subject")),
        sa.ForeignKeyConstraint(["school_year_id"], ["school_year.id"],
                                name=op.f("fk_subject_result_school_year_id_school_year")),
        sa.ForeignKeyConstraint(["entered_by"], ["staff.id"], name=op.f("fk_subject_result_entered_by_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_result")),
        sa.UniqueConstraint("student_id", "subject_id", "school_year_id",
                            name=op.f("uq_subject_result_student_id_subject_id_school_year_id")),
    )
    op.create_index(op.f("ix_subject_result_student_id"), "subject_result", ["student_id"])
    op.create_index(op.f("ix_subject_result_class_id"), "subject_result", ["class_id"])
    op.create_table(
        "subject_confirmation",
        sa.Column("id", BigId, nullable=False),
        sa.Column("class_id", BigId, nullable=False), sa.Column("subject_id", BigId, nullable=False),
        sa.Column("school_year_id", BigId, nullable=False), sa.Column("teacher_id", BigId, nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("results_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["class_id"], ["school_class.id"],
                                name=op.f("fk_subject_confirmation_class_id_school_class")),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_subject_confirmation_subject_id_subject")),
        sa.ForeignKeyConstraint(["school_year_id"], ["school_year.id"],
                                name=op.f("fk_subject_confirmation_school_year_id_school_year")),
        sa.ForeignKeyConstraint(["teacher_id"], ["staff.id"], name=op.f("fk_subject_confirmation_teacher_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_confirmation")),
        sa.UniqueConstraint("class_id", "subject_id", "school_year_id",
                            name=op.f("uq_subject_confirmation_class_id_subject_id_school_year_id")),
    )
    op.create_index(op.f("ix_subject_confirmation_class_id"), "subject_confirmation", ["class_id"])
    op.create_table(
        "student_evaluation",
        sa.Column("id", BigId, nullable=False),
        sa.Column("student_id", BigId, nullable=False), sa.Column("class_id", BigId, nullable=False),
        sa.Column("school_year_id", BigId, nullable=False),
        sa.Column("conduct_term1", sa.String(length=16), nullable=True),
        sa.Column("conduct_term2", sa.String(length=16), nullable=True),
        sa.Column("qualities", sa.JSON(), nullable=True), sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("absent_sessions", sa.Integer(), nullable=False), sa.Column("nominated", sa.Boolean(), nullable=False),
        sa.Column("entered_by", BigId, nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_student_evaluation_student_id_student")),
        sa.ForeignKeyConstraint(["class_id"], ["school_class.id"],
                                name=op.f("fk_student_evaluation_class_id_school_class")),
        sa.ForeignKeyConstraint(["school_year_id"], ["school_year.id"],
                                name=op.f("fk_student_evaluation_school_year_id_school_year")),
        sa.ForeignKeyConstraint(["entered_by"], ["staff.id"], name=op.f("fk_student_evaluation_entered_by_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_student_evaluation")),
        sa.UniqueConstraint("student_id", "school_year_id", name=op.f("uq_student_evaluation_student_id_school_year_id")),
    )
    op.create_index(op.f("ix_student_evaluation_student_id"), "student_evaluation", ["student_id"])
    op.create_index(op.f("ix_student_evaluation_class_id"), "student_evaluation", ["class_id"])
    op.create_table(
        "transcript",
        sa.Column("id", BigId, nullable=False),
        sa.Column("student_id", BigId, nullable=False), sa.Column("school_id", BigId, nullable=False),
        sa.Column("class_id", BigId, nullable=False), sa.Column("school_year_id", BigId, nullable=False),
        sa.Column("version", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.Enum("draft", "homeroom_signed", "issued", "cancelled", name="transcriptstatus",
                                    native_enum=False, length=24), nullable=False),
        sa.Column("verification_code", sa.String(length=16), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False), sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.Column("homeroom_signed_by", BigId, nullable=True), sa.Column("principal_signed_by", BigId, nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=True), sa.Column("replaces_id", BigId, nullable=True),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True), sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_transcript_student_id_student")),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_transcript_school_id_school")),
        sa.ForeignKeyConstraint(["class_id"], ["school_class.id"], name=op.f("fk_transcript_class_id_school_class")),
        sa.ForeignKeyConstraint(["school_year_id"], ["school_year.id"],
                                name=op.f("fk_transcript_school_year_id_school_year")),
        sa.ForeignKeyConstraint(["homeroom_signed_by"], ["staff.id"], name=op.f("fk_transcript_homeroom_signed_by_staff")),
        sa.ForeignKeyConstraint(["principal_signed_by"], ["staff.id"],
                                name=op.f("fk_transcript_principal_signed_by_staff")),
        sa.ForeignKeyConstraint(["replaces_id"], ["transcript.id"], name=op.f("fk_transcript_replaces_id_transcript")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript")),
        sa.UniqueConstraint("verification_code", name=op.f("uq_transcript_verification_code")),
    )
    for col in ("student_id", "school_id", "class_id"):
        op.create_index(op.f(f"ix_transcript_{col}"), "transcript", [col])
    _issued_is_immutable()


def _issued_is_immutable() -> None:
    """An issued transcript can never change: only the move to cancelled (with its reason and
    time) is allowed, and nothing issued or cancelled can be deleted."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION transcript_immutable() RETURNS trigger AS $$
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
                        OR NEW.document IS DISTINCT FROM OLD.document
                        OR NEW.student_id IS DISTINCT FROM OLD.student_id
                        OR NEW.version IS DISTINCT FROM OLD.version
                        OR NEW.verification_code IS DISTINCT FROM OLD.verification_code
                        OR NEW.issued_at IS DISTINCT FROM OLD.issued_at)) THEN
                    RAISE EXCEPTION 'transcript % is issued: it cannot be changed (cancel and re-issue)', OLD.id;
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER transcript_no_change BEFORE UPDATE OR DELETE ON transcript
            FOR EACH ROW EXECUTE FUNCTION transcript_immutable()
        """)
    else:
        op.execute("""
            CREATE TRIGGER transcript_no_change BEFORE UPDATE ON transcript
            WHEN OLD.status = 'cancelled' OR (OLD.status = 'issued' AND (
                NEW.status NOT IN ('issued', 'cancelled') OR NEW.content IS NOT OLD.content
                OR NEW.content_hash IS NOT OLD.content_hash OR NEW.document IS NOT OLD.document
                OR NEW.student_id IS NOT OLD.student_id OR NEW.version IS NOT OLD.version
                OR NEW.verification_code IS NOT OLD.verification_code OR NEW.issued_at IS NOT OLD.issued_at))
            BEGIN SELECT RAISE(ABORT, 'transcript is issued: it cannot be changed (cancel and re-issue)'); END
        """)
        op.execute("""
            CREATE TRIGGER transcript_no_delete BEFORE DELETE ON transcript
            WHEN OLD.status IN ('issued', 'cancelled')
            BEGIN SELECT RAISE(ABORT, 'transcript is issued: it cannot be deleted'); END
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change ON transcript")
        op.execute("DROP FUNCTION IF EXISTS transcript_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS transcript_no_change")
        op.execute("DROP TRIGGER IF EXISTS transcript_no_delete")
    for table in ("transcript", "student_evaluation", "subject_confirmation", "subject_result"):
        op.drop_table(table)
