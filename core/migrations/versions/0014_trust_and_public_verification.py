"""trust and public verification: the ledger of imported packages, the verifications of issued
transcripts computed once

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "transcript_verification",
        sa.Column("transcript_id", BigId, autoincrement=False, nullable=False),
        sa.Column("policy_key", sa.String(length=32), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.Column("document_length", sa.Integer(), nullable=False),
        sa.Column("signatures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("valid_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcript.id"],
                                name=op.f("fk_transcript_verification_transcript_id_transcript")),
        sa.PrimaryKeyConstraint("transcript_id", name=op.f("pk_transcript_verification")),
    )
    op.create_index(op.f("ix_transcript_verification_document_sha256"), "transcript_verification",
                    ["document_sha256"])
    op.create_table(
        "imported_package",
        sa.Column("id", BigId, nullable=False),
        sa.Column("package_id", sa.String(length=64), nullable=False),
        sa.Column("receiving_school_id", BigId, nullable=False),
        sa.Column("sender_code", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("package_sha256", sa.String(length=64), nullable=False),
        sa.Column("transcripts", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_by", BigId, nullable=True),
        sa.ForeignKeyConstraint(["receiving_school_id"], ["school.id"],
                                name=op.f("fk_imported_package_receiving_school_id_school")),
        sa.ForeignKeyConstraint(["imported_by"], ["user_account.id"],
                                name=op.f("fk_imported_package_imported_by_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_package")),
        sa.UniqueConstraint("package_id", name=op.f("uq_imported_package_package_id")),
    )
    op.create_index(op.f("ix_imported_package_receiving_school_id"), "imported_package", ["receiving_school_id"])


def downgrade() -> None:
    op.drop_table("imported_package")
    op.drop_table("transcript_verification")
