"""department thresholds: when a teacher or a school counts as behind this week (the console's
"this week first" list)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "department_threshold",
        sa.Column("department_id", BigId, nullable=False),
        sa.Column("teacher_min_rate", sa.SmallInteger(), nullable=False),
        sa.Column("teacher_max_unsigned", sa.SmallInteger(), nullable=False),
        sa.Column("school_min_rate", sa.SmallInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", BigId, nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"],
                                name=op.f("fk_department_threshold_department_id_department")),
        sa.ForeignKeyConstraint(["updated_by"], ["user_account.id"],
                                name=op.f("fk_department_threshold_updated_by_user_account")),
        sa.PrimaryKeyConstraint("department_id", name=op.f("pk_department_threshold")),
    )


def downgrade() -> None:
    op.drop_table("department_threshold")
