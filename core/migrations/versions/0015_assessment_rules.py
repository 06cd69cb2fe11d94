"""assessment rules: summer results, the principal's assessment decisions, written delegations to sign for the principal

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("subject_result", sa.Column("summer_value", sa.String(length=32), nullable=True))
    op.add_column("student_evaluation", sa.Column("conduct_summer", sa.String(length=16), nullable=True))
    op.create_table(
        "assessment_decision",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("student_id", BigId, nullable=False),
        sa.Column("school_id", BigId, nullable=False),
        sa.Column("school_year_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", BigId, nullable=True),
        sa.Column("terms", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("document_no", sa.String(length=64), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("decided_by", BigId, nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"], name=op.f("fk_assessment_decision_student_id_student")),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_assessment_decision_school_id_school")),
        sa.ForeignKeyConstraint(["school_year_id"], ["school_year.id"],
                                name=op.f("fk_assessment_decision_school_year_id_school_year")),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"], name=op.f("fk_assessment_decision_subject_id_subject")),
        sa.ForeignKeyConstraint(["decided_by"], ["staff.id"], name=op.f("fk_assessment_decision_decided_by_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_decision")),
    )
    op.create_index(op.f("ix_assessment_decision_student_id"), "assessment_decision", ["student_id"])
    op.create_table(
        "signing_delegation",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("school_id", BigId, nullable=False),
        sa.Column("principal_id", BigId, nullable=False),
        sa.Column("delegate_id", BigId, nullable=False),
        sa.Column("document_no", sa.String(length=64), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("acts", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"], name=op.f("fk_signing_delegation_school_id_school")),
        sa.ForeignKeyConstraint(["principal_id"], ["staff.id"], name=op.f("fk_signing_delegation_principal_id_staff")),
        sa.ForeignKeyConstraint(["delegate_id"], ["staff.id"], name=op.f("fk_signing_delegation_delegate_id_staff")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_delegation")),
    )
    op.create_index(op.f("ix_signing_delegation_school_id"), "signing_delegation", ["school_id"])
    op.create_index(op.f("ix_signing_delegation_delegate_id"), "signing_delegation", ["delegate_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_signing_delegation_delegate_id"), table_name="signing_delegation")
    op.drop_index(op.f("ix_signing_delegation_school_id"), table_name="signing_delegation")
    op.drop_table("signing_delegation")
    op.drop_index(op.f("ix_assessment_decision_student_id"), table_name="assessment_decision")
    op.drop_table("assessment_decision")
    with op.batch_alter_table("student_evaluation") as batch:
        batch.drop_column("conduct_summer")
    with op.batch_alter_table("subject_result") as batch:
        batch.drop_column("summer_value")
