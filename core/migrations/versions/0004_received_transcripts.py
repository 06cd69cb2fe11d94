"""transcripts received in transfer packages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "received_transcript",
        sa.Column("id", BigId, nullable=False),
        sa.Column("student_id", BigId, nullable=False), sa.Column("receiving_school_id", BigId, nullable=False),
        sa.Column("from_school_code", sa.String(length=16), nullable=False),
        sa.Column("school_year", sa.String(length=16), nullable=False),
        sa.Column("verification_code", sa.String(length=16), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False), sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("package_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_received_transcript_student_id_student")),
        sa.ForeignKeyConstraint(["receiving_school_id"], ["school.id"],
                                name=op.f("fk_received_transcript_receiving_school_id_school")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_transcript")),
        sa.UniqueConstraint("receiving_school_id", "verification_code",
                            name=op.f("uq_received_transcript_receiving_school_id_verification_code")),
    )
    op.create_index(op.f("ix_received_transcript_student_id"), "received_transcript", ["student_id"])
    op.create_index(op.f("ix_received_transcript_receiving_school_id"), "received_transcript", ["receiving_school_id"])


def downgrade() -> None:
    op.drop_table("received_transcript")
