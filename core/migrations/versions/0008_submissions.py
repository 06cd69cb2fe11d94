"""submissions: the signing API's receipts and idempotency keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "submission",
        sa.Column("id", BigId, nullable=False), sa.Column("user_id", BigId, nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("status", sa.Enum("pending", "on_time", "late", "missed", name="entrystatus", native_enum=False,
                                    length=24), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("signature_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_submission_user_id_user_account")),
        sa.ForeignKeyConstraint(["entry_id"], ["logbook_entry.id"], name=op.f("fk_submission_entry_id_logbook_entry")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_submission_user_id_idempotency_key")),
    )
    op.create_index(op.f("ix_submission_entry_id"), "submission", ["entry_id"])


def downgrade() -> None:
    op.drop_table("submission")
