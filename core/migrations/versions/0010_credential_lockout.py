"""credential lockout: wrong passwords and PINs in a row lock the credential for a while

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "credential_lockout",
        sa.Column("user_id", BigId, autoincrement=False, nullable=False),
        sa.Column("credential", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"],
                                name=op.f("fk_credential_lockout_user_id_user_account")),
        sa.PrimaryKeyConstraint("user_id", "credential", name=op.f("pk_credential_lockout")),
    )


def downgrade() -> None:
    op.drop_table("credential_lockout")
