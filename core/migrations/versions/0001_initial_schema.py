"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chain', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=True),
    sa.Column('actor_name', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=True),
    sa.Column('school_id', sa.BigInteger(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event')),
    sa.UniqueConstraint('chain', 'seq', name='uq_audit_chain_seq')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_school_id'), ['school_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('department',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('province_code', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_department')),
    sa.UniqueConstraint('code', name=op.f('uq_department_code'))
    )
    op.create_table('student',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('personal_id', sa.String(length=12), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.Enum('M', 'F', name='sex', native_enum=False, length=24), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_student')),
    sa.UniqueConstraint('personal_id', name=op.f('uq_student_personal_id'))
    )
    op.create_table('subject',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.Enum('primary', 'lower_secondary', 'upper_secondary', 'multi_level', name='schoollevel', native_enum=False, length=24), nullable=False),
    sa.Column('comment_only', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subject')),
    sa.UniqueConstraint('code', name=op.f('uq_subject_code'))
    )
    op.create_table('curriculum_load',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grade', sa.SmallInteger(), nullable=False),
    sa.Column('periods_per_year', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_curriculum_load_subject_id_subject')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_curriculum_load')),
    sa.UniqueConstraint('subject_id', 'grade', name=op.f('uq_curriculum_load_subject_id_grade'))
    )
    with op.batch_alter_table('curriculum_load', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_curriculum_load_subject_id'), ['subject_id'], unique=False)

    op.create_table('district',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('department_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_district_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_district')),
    sa.UniqueConstraint('code', name=op.f('uq_district_code'))
    )
    with op.batch_alter_table('district', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_district_department_id'), ['department_id'], unique=False)

    op.create_table('school_year',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('department_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_school_year_department_id_department')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school_year')),
    sa.UniqueConstraint('department_id', 'name', name=op.f('uq_school_year_department_id_name'))
    )
    with op.batch_alter_table('school_year', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_school_year_department_id'), ['department_id'], unique=False)

    op.create_table('school',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('district_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('level', sa.Enum('primary', 'lower_secondary', 'upper_secondary', 'multi_level', name='schoollevel', native_enum=False, length=24), nullable=False),
    sa.Column('ownership', sa.Enum('public', 'private', name='ownership', native_enum=False, length=24), nullable=False),
    sa.Column('signing_grace_seconds', sa.Integer(), nullable=False),
    sa.Column('lesson_rating_enabled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['district.id'], name=op.f('fk_school_district_id_district')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school')),
    sa.UniqueConstraint('code', name=op.f('uq_school_code'))
    )
    with op.batch_alter_table('school', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_school_district_id'), ['district_id'], unique=False)

    op.create_table('school_week',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_year_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.SmallInteger(), nullable=False),
    sa.Column('term', sa.SmallInteger(), nullable=False),
    sa.Column('monday', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_school_week_school_year_id_school_year')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school_week')),
    sa.UniqueConstraint('school_year_id', 'number', name=op.f('uq_school_week_school_year_id_number'))
    )
    with op.batch_alter_table('school_week', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_school_week_monday'), ['monday'], unique=False)
        batch_op.create_index(batch_op.f('ix_school_week_school_year_id'), ['school_year_id'], unique=False)

    op.create_table('bell_period',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('session', sa.String(length=12), nullable=False),
    sa.Column('period_no', sa.SmallInteger(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_bell_period_school_id_school')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bell_period')),
    sa.UniqueConstraint('school_id', 'period_no', name=op.f('uq_bell_period_school_id_period_no'))
    )
    with op.batch_alter_table('bell_period', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bell_period_school_id'), ['school_id'], unique=False)

    op.create_table('holiday',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_year_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_holiday_school_id_school')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_holiday_school_year_id_school_year')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holiday'))
    )
    with op.batch_alter_table('holiday', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holiday_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_holiday_school_year_id'), ['school_year_id'], unique=False)

    op.create_table('staff',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_staff_school_id_school')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('code', name=op.f('uq_staff_code'))
    )
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_school_id'), ['school_id'], unique=False)

    op.create_table('timetable_version',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('note', sa.String(length=400), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_timetable_version_school_id_school')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timetable_version')),
    sa.UniqueConstraint('school_id', 'effective_from', name=op.f('uq_timetable_version_school_id_effective_from'))
    )
    with op.batch_alter_table('timetable_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timetable_version_school_id'), ['school_id'], unique=False)

    op.create_table('certificate',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('personal', 'seal', name='certificatekind', native_enum=False, length=24), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('serial_hex', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=400), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('not_after', sa.DateTime(), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_certificate_school_id_school')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_certificate_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_certificate_fingerprint'))
    )
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificate_staff_id'), ['staff_id'], unique=False)

    op.create_table('school_class',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_year_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grade', sa.SmallInteger(), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('homeroom_teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['homeroom_teacher_id'], ['staff.id'], name=op.f('fk_school_class_homeroom_teacher_id_staff')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_school_class_school_id_school')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_school_class_school_year_id_school_year')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school_class')),
    sa.UniqueConstraint('school_id', 'school_year_id', 'name', name=op.f('uq_school_class_school_id_school_year_id_name'))
    )
    with op.batch_alter_table('school_class', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_school_class_homeroom_teacher_id'), ['homeroom_teacher_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_school_class_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_school_class_school_year_id'), ['school_year_id'], unique=False)

    op.create_table('staff_assignment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.Enum('teacher', 'homeroom_teacher', 'principal', 'vice_principal', 'school_monitor', 'clerk', name='staffrole', native_enum=False, length=24), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_staff_assignment_school_id_school')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_staff_assignment_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_assignment'))
    )
    with op.batch_alter_table('staff_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_assignment_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_assignment_staff_id'), ['staff_id'], unique=False)

    op.create_table('user_account',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('department_supervisor', 'district_supervisor', 'school_monitor', 'principal', 'vice_principal', 'clerk', 'teacher', 'analyst', 'administrator', name='role', native_enum=False, length=24), nullable=False),
    sa.Column('department_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('district_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('staff_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_user_account_department_id_department')),
    sa.ForeignKeyConstraint(['district_id'], ['district.id'], name=op.f('fk_user_account_district_id_district')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_user_account_school_id_school')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_user_account_staff_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('staff_id', name=op.f('uq_user_account_staff_id')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    op.create_table('enrolment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('student_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['school_class.id'], name=op.f('fk_enrolment_class_id_school_class')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_enrolment_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment'))
    )
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enrolment_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_enrolment_student_id'), ['student_id'], unique=False)

    op.create_table('logbook_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('week_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('period_no', sa.SmallInteger(), nullable=False),
    sa.Column('period_start', sa.DateTime(), nullable=False),
    sa.Column('period_end', sa.DateTime(), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scheduled_teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('is_substitute', sa.Boolean(), nullable=False),
    sa.Column('lesson_title', sa.String(length=400), nullable=True),
    sa.Column('curriculum_seq', sa.SmallInteger(), nullable=True),
    sa.Column('class_remark', sa.Text(), nullable=True),
    sa.Column('class_rating', sa.String(length=2), nullable=True),
    sa.Column('status', sa.Enum('pending', 'on_time', 'late', 'missed', name='entrystatus', native_enum=False, length=24), nullable=False),
    sa.Column('signed_at', sa.DateTime(), nullable=True),
    sa.Column('signed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('signature', sa.LargeBinary(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['school_class.id'], name=op.f('fk_logbook_entry_class_id_school_class')),
    sa.ForeignKeyConstraint(['scheduled_teacher_id'], ['staff.id'], name=op.f('fk_logbook_entry_scheduled_teacher_id_staff')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_logbook_entry_school_id_school')),
    sa.ForeignKeyConstraint(['signed_by'], ['staff.id'], name=op.f('fk_logbook_entry_signed_by_staff')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_logbook_entry_subject_id_subject')),
    sa.ForeignKeyConstraint(['teacher_id'], ['staff.id'], name=op.f('fk_logbook_entry_teacher_id_staff')),
    sa.ForeignKeyConstraint(['week_id'], ['school_week.id'], name=op.f('fk_logbook_entry_week_id_school_week')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_logbook_entry')),
    sa.UniqueConstraint('class_id', 'day', 'period_no', name='uq_entry_slot')
    )
    with op.batch_alter_table('logbook_entry', schema=None) as batch_op:
        batch_op.create_index('ix_entry_school_week', ['school_id', 'week_id'], unique=False)
        batch_op.create_index('ix_entry_teacher_week', ['teacher_id', 'week_id'], unique=False)

    op.create_table('monitor_assignment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('assigned_at', sa.DateTime(), nullable=False),
    sa.Column('unassigned_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_monitor_assignment_school_id_school')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_monitor_assignment_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_assignment'))
    )
    with op.batch_alter_table('monitor_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_assignment_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitor_assignment_user_id'), ['user_id'], unique=False)

    op.create_table('teaching_assignment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['class_id'], ['school_class.id'], name=op.f('fk_teaching_assignment_class_id_school_class')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_teaching_assignment_subject_id_subject')),
    sa.ForeignKeyConstraint(['teacher_id'], ['staff.id'], name=op.f('fk_teaching_assignment_teacher_id_staff')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teaching_assignment'))
    )
    with op.batch_alter_table('teaching_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teaching_assignment_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_teaching_assignment_teacher_id'), ['teacher_id'], unique=False)

    op.create_table('timetable_change_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_at', sa.DateTime(), nullable=False),
    sa.Column('applies_from', sa.Date(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', name='changerequeststatus', native_enum=False, length=24), nullable=False),
    sa.Column('decided_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'], name=op.f('fk_timetable_change_request_decided_by_user_account')),
    sa.ForeignKeyConstraint(['requested_by'], ['user_account.id'], name=op.f('fk_timetable_change_request_requested_by_user_account')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_timetable_change_request_school_id_school')),
    sa.ForeignKeyConstraint(['version_id'], ['timetable_version.id'], name=op.f('fk_timetable_change_request_version_id_timetable_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timetable_change_request'))
    )
    with op.batch_alter_table('timetable_change_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timetable_change_request_school_id'), ['school_id'], unique=False)

    op.create_table('timetable_slot',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('period_no', sa.SmallInteger(), nullable=False),
    sa.Column('subject_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('teacher_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['school_class.id'], name=op.f('fk_timetable_slot_class_id_school_class')),
    sa.ForeignKeyConstraint(['subject_id'], ['subject.id'], name=op.f('fk_timetable_slot_subject_id_subject')),
    sa.ForeignKeyConstraint(['teacher_id'], ['staff.id'], name=op.f('fk_timetable_slot_teacher_id_staff')),
    sa.ForeignKeyConstraint(['version_id'], ['timetable_version.id'], name=op.f('fk_timetable_slot_version_id_timetable_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timetable_slot')),
    sa.UniqueConstraint('version_id', 'class_id', 'weekday', 'period_no', name='uq_slot_class'),
    sa.UniqueConstraint('version_id', 'teacher_id', 'weekday', 'period_no', name='uq_slot_teacher')
    )
    with op.batch_alter_table('timetable_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timetable_slot_version_id'), ['version_id'], unique=False)

    op.create_table('week_close',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('class_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('week_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Enum('open', 'homeroom_signed', 'closed', 'reopened', name='weekclosestatus', native_enum=False, length=24), nullable=False),
    sa.Column('homeroom_signed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('homeroom_signed_at', sa.DateTime(), nullable=True),
    sa.Column('homeroom_signature', sa.LargeBinary(), nullable=True),
    sa.Column('principal_signed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('principal_signature', sa.LargeBinary(), nullable=True),
    sa.Column('summary_hash', sa.String(length=64), nullable=True),
    sa.Column('closed_on_time', sa.Boolean(), nullable=True),
    sa.Column('reopen_count', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['school_class.id'], name=op.f('fk_week_close_class_id_school_class')),
    sa.ForeignKeyConstraint(['homeroom_signed_by'], ['staff.id'], name=op.f('fk_week_close_homeroom_signed_by_staff')),
    sa.ForeignKeyConstraint(['principal_signed_by'], ['staff.id'], name=op.f('fk_week_close_principal_signed_by_staff')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_week_close_school_id_school')),
    sa.ForeignKeyConstraint(['week_id'], ['school_week.id'], name=op.f('fk_week_close_week_id_school_week')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_week_close')),
    sa.UniqueConstraint('class_id', 'week_id', name=op.f('uq_week_close_class_id_week_id'))
    )
    with op.batch_alter_table('week_close', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_week_close_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_week_close_week_id'), ['week_id'], unique=False)

    op.create_table('entry_absence',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('student_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('excused', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['logbook_entry.id'], name=op.f('fk_entry_absence_entry_id_logbook_entry')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_entry_absence_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entry_absence')),
    sa.UniqueConstraint('entry_id', 'student_id', name=op.f('uq_entry_absence_entry_id_student_id'))
    )
    with op.batch_alter_table('entry_absence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_entry_absence_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_entry_absence_student_id'), ['student_id'], unique=False)

    op.create_table('student_remark',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('student_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('school_year_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('term', sa.SmallInteger(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['logbook_entry.id'], name=op.f('fk_student_remark_entry_id_logbook_entry')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_student_remark_school_year_id_school_year')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_student_remark_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_student_remark'))
    )
    with op.batch_alter_table('student_remark', schema=None) as batch_op:
        batch_op.create_index('ix_remark_student_term', ['student_id', 'school_year_id', 'term'], unique=False)
        batch_op.create_index(batch_op.f('ix_student_remark_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_student_remark_student_id'), ['student_id'], unique=False)

    op.create_table('week_reopen',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('week_close_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reopened_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reopened_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['reopened_by'], ['user_account.id'], name=op.f('fk_week_reopen_reopened_by_user_account')),
    sa.ForeignKeyConstraint(['week_close_id'], ['week_close.id'], name=op.f('fk_week_reopen_week_close_id_week_close')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_week_reopen'))
    )
    with op.batch_alter_table('week_reopen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_week_reopen_week_close_id'), ['week_close_id'], unique=False)

    _audit_append_only()


def downgrade() -> None:
    _drop_audit_append_only()
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('week_reopen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_week_reopen_week_close_id'))

    op.drop_table('week_reopen')
    with op.batch_alter_table('student_remark', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_student_remark_student_id'))
        batch_op.drop_index(batch_op.f('ix_student_remark_entry_id'))
        batch_op.drop_index('ix_remark_student_term')

    op.drop_table('student_remark')
    with op.batch_alter_table('entry_absence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_entry_absence_student_id'))
        batch_op.drop_index(batch_op.f('ix_entry_absence_entry_id'))

    op.drop_table('entry_absence')
    with op.batch_alter_table('week_close', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_week_close_week_id'))
        batch_op.drop_index(batch_op.f('ix_week_close_school_id'))

    op.drop_table('week_close')
    with op.batch_alter_table('timetable_slot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timetable_slot_version_id'))

    op.drop_table('timetable_slot')
    with op.batch_alter_table('timetable_change_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timetable_change_request_school_id'))

    op.drop_table('timetable_change_request')
    with op.batch_alter_table('teaching_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_teaching_assignment_teacher_id'))
        batch_op.drop_index(batch_op.f('ix_teaching_assignment_class_id'))

    op.drop_table('teaching_assignment')
    with op.batch_alter_table('monitor_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_assignment_user_id'))
        batch_op.drop_index(batch_op.f('ix_monitor_assignment_school_id'))

    op.drop_table('monitor_assignment')
    with op.batch_alter_table('logbook_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_entry_teacher_week')
        batch_op.drop_index('ix_entry_school_week')

    op.drop_table('logbook_entry')
    with op.batch_alter_table('enrolment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enrolment_student_id'))
        batch_op.drop_index(batch_op.f('ix_enrolment_class_id'))

    op.drop_table('enrolment')
    op.drop_table('user_account')
    with op.batch_alter_table('staff_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_assignment_staff_id'))
        batch_op.drop_index(batch_op.f('ix_staff_assignment_school_id'))

    op.drop_table('staff_assignment')
    with op.batch_alter_table('school_class', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_school_class_school_year_id'))
        batch_op.drop_index(batch_op.f('ix_school_class_school_id'))
        batch_op.drop_index(batch_op.f('ix_school_class_homeroom_teacher_id'))

    op.drop_table('school_class')
    with op.batch_alter_table('certificate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_staff_id'))
        batch_op.drop_index(batch_op.f('ix_certificate_school_id'))

    op.drop_table('certificate')
    with op.batch_alter_table('timetable_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timetable_version_school_id'))

    op.drop_table('timetable_version')
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_school_id'))

    op.drop_table('staff')
    with op.batch_alter_table('holiday', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holiday_school_year_id'))
        batch_op.drop_index(batch_op.f('ix_holiday_school_id'))

    op.drop_table('holiday')
    with op.batch_alter_table('bell_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bell_period_school_id'))

    op.drop_table('bell_period')
    with op.batch_alter_table('school_week', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_school_week_school_year_id'))
        batch_op.drop_index(batch_op.f('ix_school_week_monday'))

    op.drop_table('school_week')
    with op.batch_alter_table('school', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_school_district_id'))

    op.drop_table('school')
    with op.batch_alter_table('school_year', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_school_year_department_id'))

    op.drop_table('school_year')
    with op.batch_alter_table('district', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_district_department_id'))

    op.drop_table('district')
    with op.batch_alter_table('curriculum_load', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_curriculum_load_subject_id'))

    op.drop_table('curriculum_load')
    op.drop_table('subject')
    op.drop_table('student')
    op.drop_table('department')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_school_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_action'))

    op.drop_table('audit_event')


def _audit_append_only() -> None:
    """The audit trail is append-only in the database itself: UPDATE and DELETE fail."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP;
            END $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
            FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
        """)
        op.execute("""
            CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
            FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()
        """)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_event_no_{verb.lower()} BEFORE {verb} ON audit_event
                BEGIN SELECT RAISE(ABORT, 'audit_event is append-only ({verb} refused)'); END
            """)


def _drop_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
