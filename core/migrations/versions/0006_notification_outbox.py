"""notification outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", BigId, nullable=False), sa.Column("school_id", BigId, nullable=False),
        sa.Column("staff_id", BigId, nullable=False), sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False), sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False), sa.Column("created_by", BigId, nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True), sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_notification_school_id_school")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_notification_staff_id_staff")),
        sa.ForeignKeyConstraint(["created_by"], ["user_account.id"],
                                name=op.f("fk_notification_created_by_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    op.create_index(op.f("ix_notification_school_id"), "notification", ["school_id"])
    op.create_index(op.f("ix_notification_staff_id"), "notification", ["staff_id"])


def downgrade() -> None:
    op.drop_table("notification")
