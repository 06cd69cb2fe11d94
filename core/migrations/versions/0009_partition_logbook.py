"""logbook entries partitioned by school year and school (PostgreSQL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The logbook is the record store's one big table: a city writes 1.7 million periods a week,
60 million a year; the country 600 million. On PostgreSQL ``logbook_entry`` becomes a
partitioned table (see docs/partitioning.md):

- by **school year**: RANGE on ``day``, one partition per academic year, 1 August to
  31 July (``logbook_entry_y2025`` holds 2025-2026). A year's partition is created when its
  school year is inserted (a trigger on ``school_year``), so entries always land in their own
  year; ``logbook_entry_other`` (DEFAULT) takes anything outside a known year. Last year's
  partition can be detached and archived whole.
- then by **school** (the area a monitor watches): HASH on ``school_id`` into
  :data:`BUCKETS` buckets. A school's periods stay together and every per-school query prunes to
  one bucket; hashing (not a list of districts) keeps the layout stable when districts are
  merged or split — as Vietnam's were in 2025.

PostgreSQL wants the partition keys in every unique constraint, so the primary key is
``(id, day, school_id)`` (ids stay unique: one sequence) and the slot constraint is
``(class_id, day, period_no, school_id)`` (a class belongs to one school: the same rule).
Foreign keys *to* a partitioned table need such a key too, so the references from
``entry_absence``, ``student_remark`` and ``submission`` are enforced by triggers that do
what a foreign key does: check the entry exists and lock it ``FOR KEY SHARE``; deleting an
entry that is referenced is refused (error 23503 either way).

SQLite (the demo) has no partitions; there only the slot constraint gains ``school_id``, so
both databases have the schema the models describe.
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BUCKETS = 8
#: (table, foreign key name) of the references to logbook_entry.id
REFERENCES = (("entry_absence", "fk_entry_absence_entry_id_logbook_entry"),
              ("student_remark", "fk_student_remark_entry_id_logbook_entry"),
              ("submission", "fk_submission_entry_id_logbook_entry"))
FOREIGN_KEYS = (("class_id", "school_class"), ("scheduled_teacher_id", "staff"), ("school_id", "school"),
                ("signed_by", "staff"), ("subject_id", "subject"), ("teacher_id", "staff"),
                ("week_id", "school_week"))

FUNCTIONS = f"""
CREATE FUNCTION sohoa_academic_year(d date) RETURNS integer LANGUAGE sql IMMUTABLE AS
$$ SELECT extract(year FROM d)::int - CASE WHEN extract(month FROM d) < 8 THEN 1 ELSE 0 END $$;

-- The partition of one academic year (1 August .. 31 July), split into hash buckets by school.
-- Left to the DEFAULT partition (with a notice) when that already holds rows of the year.
CREATE FUNCTION sohoa_entry_year_partition(y integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name text := format('logbook_entry_y%s', y);
    lo date := make_date(y, 8, 1);
    hi date := make_date(y + 1, 8, 1);
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM logbook_entry_other WHERE day >= lo AND day < hi) THEN
        RAISE NOTICE 'logbook entries of %-% stay in logbook_entry_other', y, y + 1;
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF logbook_entry FOR VALUES FROM (%L) TO (%L) '
                   'PARTITION BY HASH (school_id)', name, lo, hi);
    FOR b IN 0..{BUCKETS - 1} LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS {BUCKETS}, REMAINDER %s)',
                       name || '_h' || b, name, b);
    END LOOP;
END $$;

CREATE FUNCTION sohoa_school_year_partition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    FOR y IN sohoa_academic_year(NEW.start_date)..sohoa_academic_year(NEW.end_date) LOOP
        PERFORM sohoa_entry_year_partition(y);
    END LOOP;
    RETURN NEW;
END $$;

-- What a foreign key to logbook_entry(id) does, for a partitioned logbook_entry.
CREATE FUNCTION sohoa_entry_reference() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM logbook_entry WHERE id = NEW.entry_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format(
            'insert or update on table "%s" violates the reference to logbook_entry: entry %s does not exist',
            TG_TABLE_NAME, NEW.entry_id);
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION sohoa_entry_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM entry_absence WHERE entry_id = OLD.id)
       OR EXISTS (SELECT 1 FROM student_remark WHERE entry_id = OLD.id)
       OR EXISTS (SELECT 1 FROM submission WHERE entry_id = OLD.id) THEN
        RAISE foreign_key_violation USING MESSAGE = format(
            'logbook entry %s is still referenced (absences, remarks or receipts)', OLD.id);
    END IF;
    RETURN OLD;
END $$;
"""


def _sqlite_slot(columns: list[str]) -> None:
    with op.batch_alter_table("logbook_entry") as batch:
        batch.drop_constraint("uq_entry_slot", type_="unique")
        batch.create_unique_constraint("uq_entry_slot", columns)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_slot(["class_id", "day", "period_no", "school_id"])
        return
    for table, fk in REFERENCES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {fk}")
    op.execute("ALTER TABLE logbook_entry RENAME TO logbook_entry_plain")
    for index in ("pk_logbook_entry", "uq_entry_slot", "ix_entry_school_week", "ix_entry_teacher_week"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_plain")
    op.execute("CREATE TABLE logbook_entry (LIKE logbook_entry_plain INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
               "PARTITION BY RANGE (day)")
    op.execute("ALTER SEQUENCE logbook_entry_id_seq OWNED BY logbook_entry.id")
    op.execute("ALTER TABLE logbook_entry ADD CONSTRAINT pk_logbook_entry PRIMARY KEY (id, day, school_id)")
    op.execute("ALTER TABLE logbook_entry ADD CONSTRAINT uq_entry_slot UNIQUE (class_id, day, period_no, school_id)")
    op.execute("CREATE INDEX ix_entry_school_week ON logbook_entry (school_id, week_id)")
    op.execute("CREATE INDEX ix_entry_teacher_week ON logbook_entry (teacher_id, week_id)")
    for column, target in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE logbook_entry_plain DROP CONSTRAINT fk_logbook_entry_{column}_{target}")
        op.execute(f"ALTER TABLE logbook_entry ADD CONSTRAINT fk_logbook_entry_{column}_{target} "
                   f"FOREIGN KEY ({column}) REFERENCES {target} (id)")
    op.execute("CREATE TABLE logbook_entry_other PARTITION OF logbook_entry DEFAULT")
    # a CMS signature (~2.5 kB with its certificate) does not compress: stored out of line as is
    op.execute("ALTER TABLE logbook_entry ALTER COLUMN signature SET STORAGE EXTERNAL")
    op.execute(FUNCTIONS)
    op.execute("SELECT sohoa_entry_year_partition(y) FROM (SELECT DISTINCT sohoa_academic_year(day) AS y "
               "FROM logbook_entry_plain UNION SELECT generate_series(sohoa_academic_year(start_date), "
               "sohoa_academic_year(end_date)) FROM school_year) years ORDER BY y")
    op.execute("INSERT INTO logbook_entry SELECT * FROM logbook_entry_plain")
    op.execute("DROP TABLE logbook_entry_plain")
    op.execute("CREATE TRIGGER school_year_partition AFTER INSERT OR UPDATE OF start_date, end_date "
               "ON school_year FOR EACH ROW EXECUTE FUNCTION sohoa_school_year_partition()")
    for table, _fk in REFERENCES:
        op.execute(f"CREATE TRIGGER {table}_entry_reference BEFORE INSERT OR UPDATE OF entry_id ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION sohoa_entry_reference()")
    op.execute("CREATE TRIGGER logbook_entry_referenced BEFORE DELETE ON logbook_entry "
               "FOR EACH ROW EXECUTE FUNCTION sohoa_entry_referenced()")
    op.execute("ANALYZE logbook_entry")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _sqlite_slot(["class_id", "day", "period_no"])
        return
    for table, _fk in REFERENCES:
        op.execute(f"DROP TRIGGER {table}_entry_reference ON {table}")
    op.execute("DROP TRIGGER school_year_partition ON school_year")
    op.execute("ALTER TABLE logbook_entry RENAME TO logbook_entry_partitioned")
    for index in ("pk_logbook_entry", "uq_entry_slot", "ix_entry_school_week", "ix_entry_teacher_week"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_partitioned")
    op.execute("CREATE TABLE logbook_entry (LIKE logbook_entry_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute("ALTER SEQUENCE logbook_entry_id_seq OWNED BY logbook_entry.id")
    op.execute("INSERT INTO logbook_entry SELECT * FROM logbook_entry_partitioned")
    op.execute("DROP TABLE logbook_entry_partitioned CASCADE")
    op.execute("ALTER TABLE logbook_entry ADD CONSTRAINT pk_logbook_entry PRIMARY KEY (id)")
    op.execute("ALTER TABLE logbook_entry ADD CONSTRAINT uq_entry_slot UNIQUE (class_id, day, period_no)")
    op.execute("CREATE INDEX ix_entry_school_week ON logbook_entry (school_id, week_id)")
    op.execute("CREATE INDEX ix_entry_teacher_week ON logbook_entry (teacher_id, week_id)")
    for column, target in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE logbook_entry ADD CONSTRAINT fk_logbook_entry_{column}_{target} "
                   f"FOREIGN KEY ({column}) REFERENCES {target} (id)")
    for table, fk in REFERENCES:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {fk} FOREIGN KEY (entry_id) REFERENCES logbook_entry (id)")
    for function in ("sohoa_entry_referenced()", "sohoa_entry_reference()", "sohoa_school_year_partition()",
                     "sohoa_entry_year_partition(integer)", "sohoa_academic_year(date)"):
        op.execute(f"DROP FUNCTION {function}")
