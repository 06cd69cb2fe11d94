"""City scale (Ho Chi Minh City: ~2,000 schools, 58,000 classes, 100,000 staff, 2 million
students) — issue 6's targets on this 2-core machine:

1. the signed city week built and loaded into PostgreSQL (~1.7 million lesson entries, each
   signed for real with the teacher's key, or late / missed as the behaviour model says)
   — target < 15 min;
2. the full school year of facts in the analytics store (35 weeks, ~60 million periods,
   synthetic, generated in DuckDB) — target < 10 min; and the year's transcript issuance facts
   for its classes' students (~2 million, synthetic: the workflow's steps, not signed PDFs).
   With ``--keep`` (the city console.py serves), the synthetic year is then given the record
   store's schools, classes and teachers (``adopt_synthetic_year``), so that the console's
   callers, whose scope is the record store's schools, aggregate the whole year;
3. refreshing the analytics store after the new week (copying the real week from
   PostgreSQL through ADBC) — target < 30 s;
4. the overview's aggregate over the whole year — target < 1 s; drill-downs — < 200 ms;
   each beside the same SQL run directly on PostgreSQL over the same facts (loaded there
   with COPY for the comparison); and the console's other aggregates on the store
   (core.analytics.queries: the overview's cards with week closing and monitors, the worst
   schools, the heatmap, the late-signing distribution, transcript issuance), DuckDB only.

Usage: python benchmarks/city.py [--schools 2002 --classes 29 --students 35]
       [--weeks 35] [--postgres URL] [--store DIR] [--keep] [--skip-pg-year]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _partitions(db, results: list) -> None:
    """Where the week's entries are in the partitioned record store, and a school's week read
    there (pruned to one partition) beside the whole week's aggregate."""
    from sqlalchemy import text

    from core.storage.partitioning import entry_partitions, is_partitioned

    with db.engine.connect() as conn:
        if not is_partitioned(conn):
            return
        leaves = [(name, rows) for name, _bounds, rows in entry_partitions(conn) if rows]
        print("logbook_entry partitions holding the week: " + ", ".join(f"{n} {r:,}" for n, r in leaves))
        school, week = conn.execute(text("SELECT school_id, week_id FROM logbook_entry LIMIT 1")).one()
        one = timed(lambda: conn.execute(text(
            "SELECT class_id, status, count(*) FROM logbook_entry WHERE school_id = :s AND week_id = :w "
            "GROUP BY 1, 2"), {"s": school, "w": week}).all())
        results.append((f"record store: one school's week by class and status ({len(leaves)} partitions hold "
                        "the week; the query reads one)", f"{one * 1000:.1f} ms", "< 200 ms"))


def timed(fn, repeat: int = 3):
    fn()  # warm
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=2002, help="22 districts x 91 schools")
    parser.add_argument("--classes", type=int, default=29)
    parser.add_argument("--students", type=int, default=35)
    parser.add_argument("--weeks", type=int, default=35)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--store", default=None, help="analytics store directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the database and the store")
    parser.add_argument("--skip-pg-year", action="store_true", help="do not load the year into PostgreSQL")
    args = parser.parse_args()

    from sqlalchemy import text

    from core.access.authz import SYSTEM
    from core.analytics import queries as aq
    from core.analytics.queries import compliance_figures, compliance_sql
    from core.analytics.store import (
        AnalyticsStore,
        adopt_synthetic_year,
        refresh,
        synthesize_issuance,
        synthesize_year,
    )
    from core.demo.synthetic import Scale, generate
    from core.logbook.compliance import compliance
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.scratch import create_scratch_database, drop_scratch_database

    cores = os.cpu_count() or 1
    url = create_scratch_database(args.postgres, "sohoa_city")
    root = Path(args.store or tempfile.mkdtemp(prefix="sohoa-city-"))
    results: list[tuple[str, str, str]] = []
    try:
        db = Database(make_engine(url))
        upgrade(db.engine)
        districts = 22
        t0 = time.perf_counter()
        report = generate(db, Scale(districts=districts, schools_per_district=max(1, args.schools // districts),
                                    classes_per_school=args.classes, weeks=1, students_per_class=args.students,
                                    key_files=False), pki_dir=root / "pki", workers=cores)
        built = time.perf_counter() - t0
        print(report)
        results.append(("signed city week built and loaded (PostgreSQL)", f"{built / 60:.1f} min", "< 15 min"))
        _partitions(db, results)

        store = AnalyticsStore(root / "store")
        t0 = time.perf_counter()
        facts = synthesize_year(store, schools=report.schools, classes_per_school=args.classes, weeks=args.weeks,
                                progress=True)
        results.append((f"full-year facts ({facts:,} periods, synthetic)",
                        f"{(time.perf_counter() - t0) / 60:.1f} min", "< 10 min"))
        t0 = time.perf_counter()
        students = synthesize_issuance(store, students_per_class=args.students)
        results.append((f"transcript issuance facts ({students:,} students · classes, synthetic)",
                        f"{time.perf_counter() - t0:.1f} s", "—"))
        t0 = time.perf_counter()
        copied = refresh(db, store, progress=True)
        results.append((f"refresh after the new week ({copied.rows:,} facts via ADBC)",
                        f"{time.perf_counter() - t0:.1f} s", "< 30 s"))

        con = store.connect()
        total = con.execute("SELECT count(*) FROM facts").fetchone()[0]
        base = 1_000_000_000
        queries = {
            "overview: the whole year by week (department)":
                (lambda: compliance_figures(store, SYSTEM, "department", by_week=True, con=con), "< 1 s",
                 {"level": "department", "by_week": True, "filters": ()}),
            "overview: district x week":
                (lambda: compliance_figures(store, SYSTEM, "district", by_week=True, con=con), "< 1 s",
                 {"level": "district", "by_week": True, "filters": ()}),
            "drill-down: one district's schools, the year":
                (lambda: compliance_figures(store, SYSTEM, "school", district_id=base + 3, con=con), "< 200 ms",
                 {"level": "school", "by_week": False, "filters": (f"f.district_id = {base + 3}",)}),
            "drill-down: one school's classes by week":
                (lambda: compliance_figures(store, SYSTEM, "class", by_week=True, school_id=base + 7, con=con),
                 "< 200 ms", {"level": "class", "by_week": True, "filters": (f"f.school_id = {base + 7}",)}),
            "drill-down: one school's teachers, one week":
                (lambda: compliance_figures(store, SYSTEM, "teacher", school_id=base + 7, week=12, con=con),
                 "< 200 ms", {"level": "teacher", "by_week": False,
                              "filters": (f"f.school_id = {base + 7}", "f.week = 12")}),
            # the console's aggregates (core.analytics.queries), DuckDB only
            "console overview: cards (department, with week closing and monitors)":
                (lambda: aq.compliance_figures(store, SYSTEM, "department", con=con), "< 1 s", None),
            "console overview: per school, the year (worst schools)":
                (lambda: aq.compliance_figures(store, SYSTEM, "school", con=con), "< 1 s", None),
            "console compliance: one school's classes, the year":
                (lambda: aq.compliance_figures(store, SYSTEM, "class", school_id=base + 7, con=con), "< 200 ms",
                 None),
            "console compliance: heatmap weekday x period, the year":
                (lambda: aq.signing_heatmap(store, SYSTEM, con=con), "< 1 s", None),
            "console compliance: late-signing distribution (5 min), the year":
                (lambda: aq.late_signing_distribution(store, SYSTEM, bucket_minutes=5, con=con), "< 1 s", None),
            "console transcripts: issuance per school · grade":
                (lambda: aq.issuance_figures(store, SYSTEM, "grade", con=con), "< 1 s", None),
        }
        duck = {label: timed(fn) for label, (fn, _, _) in queries.items()}

        pg = {}
        if not args.skip_pg_year:
            t0 = time.perf_counter()
            loaded = _load_year_into_postgres(db, con)
            print(f"(for the comparison: {loaded:,} facts copied into PostgreSQL in {time.perf_counter() - t0:.0f} s)")
            import sqlglot

            with db.engine.connect() as pg_conn:
                for label, (_, _, spec) in queries.items():
                    if spec is None:
                        continue
                    sql = compliance_sql(spec["level"], spec["filters"], by_week=spec["by_week"])
                    sql = sql.replace("$as_of", "DATE '2026-12-01'")
                    sql = sqlglot.transpile(sql, read="duckdb", write="postgres")[0]
                    sql = sql.replace("FROM facts", "FROM bench.facts").replace("JOIN district", "JOIN bench.district") \
                        .replace("JOIN school ", "JOIN bench.school ").replace("JOIN class ", "JOIN bench.class ") \
                        .replace("JOIN teacher", "JOIN bench.teacher")
                    pg[label] = timed(lambda: pg_conn.execute(text(sql)).fetchall(), repeat=1)
        for label, (_, target, _) in queries.items():
            beside = f"PostgreSQL {pg[label] * 1000:,.0f} ms" if label in pg else "—"
            results.append((f"{label} [DuckDB, {total:,} facts; {beside}]", f"{duck[label] * 1000:,.0f} ms", target))

        t0 = time.perf_counter()
        record = compliance(db, SYSTEM, "district")
        results.append(("same district figures on the record store (PostgreSQL, the real week)",
                        f"{(time.perf_counter() - t0) * 1000:,.0f} ms", "—"))
        assert record["scheduled"].sum() == copied.rows
        if args.keep:  # for the console (benchmarks/console.py --city-db --city-dir): the year in the pages' scopes
            t0 = time.perf_counter()
            adopted = adopt_synthetic_year(store, progress=True)
            students = synthesize_issuance(store, students_per_class=args.students)
            results.append((f"kept for the console: the synthetic year given the record store's schools, classes "
                            f"and teachers ({adopted:,} periods; {students:,} students' issuance)",
                            f"{time.perf_counter() - t0:.1f} s", "—"))
        print()
        print(f"{'measure':<100} {'figure':>12} {'target':>10}")
        for label, figure, target in results:
            print(f"{label:<100} {figure:>12} {target:>10}")
    finally:
        if not args.keep:
            drop_scratch_database(args.postgres, url)
            import shutil
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept: database {url}, store {root}")
    return 0


def _load_year_into_postgres(db, con) -> int:
    """The store's facts and dimensions into schema ``bench`` with COPY (CSV streamed from DuckDB)."""
    from sqlalchemy import text

    tmp = Path(tempfile.mkdtemp(prefix="sohoa-city-csv-"))
    tables = {"facts": "day date, period_no smallint, district_id bigint, school_id bigint, class_id bigint, "
                       "grade smallint, teacher_id bigint, subject_id bigint, status varchar, minutes_late integer, "
                       "synthetic boolean, school_year bigint, week bigint",
              "district": "district_id bigint, district_code varchar, district_name varchar",
              "school": "school_id bigint, school_code varchar, school_name varchar, district_id bigint",
              "class": "class_id bigint, class_name varchar, grade smallint, school_id bigint",
              "teacher": "teacher_id bigint, teacher_code varchar, teacher_name varchar, school_id bigint"}
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench"))
        for name, columns in tables.items():
            conn.execute(text(f"CREATE UNLOGGED TABLE bench.{name} ({columns})"))
    total = 0
    raw = db.engine.raw_connection()
    try:
        for name in tables:
            path = tmp / f"{name}.csv"
            con.execute(f"COPY (SELECT {', '.join(c.split()[0] for c in tables[name].split(', '))} FROM {name}) "
                        f"TO '{path.as_posix()}' (HEADER false)")
            with raw.cursor() as cur, path.open("rb") as fh:
                with cur.copy(f"COPY bench.{name} FROM STDIN (FORMAT csv)") as copy:
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
            raw.commit()
            path.unlink()
        with raw.cursor() as cur:
            cur.execute("SELECT count(*) FROM bench.facts")
            total = cur.fetchone()[0]
            cur.execute("CREATE INDEX ON bench.facts (school_id); CREATE INDEX ON bench.facts (district_id); "
                        "ANALYZE bench.facts")
        raw.commit()
    finally:
        raw.close()
    return total


if __name__ == "__main__":
    sys.exit(main())
