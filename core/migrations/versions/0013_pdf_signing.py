"""pdf_signing: PDF signatures prepared by the server for a key it does not hold (the signer's
phone, a remote signing service), waiting for the signer's answer (ký số hai bước)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pdf_signing",
        sa.Column("signing_id", sa.String(length=32), nullable=False),
        sa.Column("document_kind", sa.String(length=32), nullable=False),
        sa.Column("document_id", BigId, nullable=False),
        sa.Column("school_id", BigId, nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("certificate_id", BigId, nullable=False),
        sa.Column("mode", sa.String(length=24), nullable=False),
        sa.Column("base_reopen_count", sa.SmallInteger(), nullable=False),
        sa.Column("summary_hash", sa.String(length=64), nullable=False),
        sa.Column("reserved_start", sa.Integer(), nullable=False),
        sa.Column("reserved_end", sa.Integer(), nullable=False),
        sa.Column("document_digest", sa.LargeBinary(), nullable=False),
        sa.Column("md_algorithm", sa.String(length=16), nullable=False),
        sa.Column("signed_content", sa.LargeBinary(), nullable=True),
        sa.Column("base_sha256", sa.String(length=64), nullable=True),
        sa.Column("tail", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("prepare_key", sa.String(length=100), nullable=False),
        sa.Column("answer_sha256", sa.String(length=64), nullable=True),
        sa.Column("result_sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificate.id"],
                                name=op.f("fk_pdf_signing_certificate_id_certificate")),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_pdf_signing_school_id_school")),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_pdf_signing_user_id_user_account")),
        sa.PrimaryKeyConstraint("signing_id", name=op.f("pk_pdf_signing")),
        sa.UniqueConstraint("user_id", "prepare_key", name=op.f("uq_pdf_signing_user_id_prepare_key")),
    )
    op.create_index(op.f("ix_pdf_signing_school_id"), "pdf_signing", ["school_id"], unique=False)
    op.create_index("ux_pdf_signing_live", "pdf_signing", ["document_kind", "document_id", "step"], unique=True,
                    postgresql_where=sa.text("status = 'prepared'"), sqlite_where=sa.text("status = 'prepared'"))


def downgrade() -> None:
    op.drop_index("ux_pdf_signing_live", table_name="pdf_signing")
    op.drop_index(op.f("ix_pdf_signing_school_id"), table_name="pdf_signing")
    op.drop_table("pdf_signing")
