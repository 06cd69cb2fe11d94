"""sign-in throttle: failed sign-ins per (name, client), per client and per name, and the clients
each user signed in from (core.access.accounts.sign_in); identities at the department's identity
provider (OIDC) linked to accounts

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "linked_identity",
        sa.Column("issuer", sa.String(300), primary_key=True),
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("user_account.id"), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_linked_identity_user_id", "linked_identity", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_linked_identity_user_id", "linked_identity")
    op.drop_table("linked_identity")
    op.drop_table("sign_in_throttle")
