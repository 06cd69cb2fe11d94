"""week close: the signed PDF document

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("week_close") as batch_op:
        batch_op.add_column(sa.Column("document", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("week_close") as batch_op:
        batch_op.drop_column("document")
