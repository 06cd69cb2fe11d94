"""National scale (34 provinces after the 2025 merger, ~18 million students, ~600 million
periods a year) — issue 18's targets on this 2-core machine:

1. a national school year of facts generated straight into the analytics store — SYNTHETIC
   (``synthetic = true``, ids from 10⁹), 35 weeks × ~580,000 classes × 30 periods — target
   < 20 min;
2. the national overview by province × week on DuckDB — target < 10 s
   (``compliance_figures(store, SYSTEM, "department", by_week=True)``: nationally the
   department level is the province);
3. a province drill-down on DuckDB — target < 1 s: a province supervisor's scope, its schools
   (``compliance_figures(store, province_actor, "school")``) and its districts by week;
4. the same queries on Spark in local mode (``local[2]``), same data, same run.

``--scale`` shrinks the national year (classes per school kept, schools divided), for a run
that fits beside other work; the figures printed say which scale they come from.

Usage: python benchmarks/national.py [--scale 1.0] [--store DIR] [--keep] [--no-spark]
       [--spark-memory 6g]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: The national year: 20,000 schools × 29 classes × 30 periods × 35 weeks = 609 million periods;
#: 680 districts (communes and wards grouped), 34 provinces
SCHOOLS, CLASSES, WEEKS, PERIODS, DISTRICTS, PROVINCES = 20_000, 29, 35, 30, 680, 34


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
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the national year (schools)")
    parser.add_argument("--store", default=None, help="analytics store directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the store")
    parser.add_argument("--reuse", action="store_true", help="query an existing --store without generating")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--spark-memory", default="6g")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from core.access.authz import SYSTEM, Actor
    from core.analytics.queries import compliance_figures
    from core.analytics.store import AnalyticsStore, synthesize_year
    from core.kernel.vocabulary import Role

    schools = max(PROVINCES * 2, int(SCHOOLS * args.scale))
    districts = max(PROVINCES, int(DISTRICTS * min(1.0, args.scale * 4)))
    root = Path(args.store) if args.store else Path(tempfile.mkdtemp(prefix="sohoa-national-"))
    store = AnalyticsStore(root)
    results = []
    try:
        if not args.reuse:
            shutil.rmtree(root, ignore_errors=True)
            t0 = time.perf_counter()
            n = synthesize_year(store, schools=schools, classes_per_school=CLASSES, weeks=WEEKS,
                                periods_per_week=PERIODS, districts=districts, provinces=PROVINCES,
                                threads=args.threads, progress=True)
            generation = time.perf_counter() - t0
            results.append((f"generate the national year: {n:,} synthetic periods ({schools:,} schools, "
                            f"{schools * CLASSES:,} classes, {districts} districts, {PROVINCES} provinces)",
                            f"{generation / 60:.1f} min", "< 20 min"))
        con = store.connect(threads=args.threads)
        n = con.execute("SELECT count(*) FROM facts").fetchone()[0]
        size = sum(f.stat().st_size for f in store.facts.rglob("*.parquet"))
        print(f"store: {n:,} facts, {size / 1e9:.2f} GB of Parquet ({size / n:.1f} bytes a period)")
        # the largest province by periods: its supervisor's scope
        province, = con.execute("SELECT d.department_id FROM school s JOIN district d USING (district_id) "
                                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()
        ids = [r[0] for r in con.execute("SELECT s.school_id FROM school s JOIN district d USING (district_id) "
                                         "WHERE d.department_id = ?", [province]).fetchall()]
        supervisor = Actor(user_id=None, username="so", role=Role.DEPARTMENT_SUPERVISOR, school_ids=frozenset(ids))
        queries = {
            "national overview, province x week": (
                lambda engine: compliance_figures(store, SYSTEM, "department", by_week=True, con=con, engine=engine),
                "< 10 s", 10),
            f"province drill-down: its {len(ids)} schools (the year)": (
                lambda engine: compliance_figures(store, supervisor, "school", con=con, engine=engine), "< 1 s", 1),
            "province drill-down: its districts by week": (
                lambda engine: compliance_figures(store, supervisor, "district", by_week=True, con=con,
                                                  engine=engine), "< 1 s", 1),
        }
        overview = None
        for label, (run, target, _) in queries.items():
            seconds = timed(lambda: run(None))
            results.append((f"DuckDB ({args.threads} threads): {label}", f"{seconds:.2f} s", target))
            if overview is None:
                overview = run(None)
                assert len(overview) == PROVINCES * WEEKS and overview["scheduled"].sum() == n
        if not args.no_spark:
            from core.analytics.engines import SparkEngine, spark_session

            t0 = time.perf_counter()
            spark = spark_session(cores=args.threads, shuffle_partitions=8, memory=args.spark_memory,
                                  app="sohoa-national")
            spark.sparkContext.setLogLevel("ERROR")
            engine = SparkEngine(spark)
            engine.register(store)
            print(f"Spark local[{args.threads}] started and views defined in {time.perf_counter() - t0:.1f} s")
            for label, (run, target, _) in queries.items():
                # one run each (the first, after the views are defined): at national scale a
                # Spark query in local mode takes minutes, and a second run reads the same files
                t0 = time.perf_counter()
                first = run(engine)
                seconds = time.perf_counter() - t0
                results.append((f"Spark local[{args.threads}]: {label}", f"{seconds:.2f} s", target))
                if label.startswith("national"):
                    key = ["department_id", "week"]
                    assert first.sort_values(key).reset_index(drop=True)[["scheduled", "missed"]].equals(
                        overview.sort_values(key).reset_index(drop=True)[["scheduled", "missed"]])
            spark.stop()
        con.close()
        print()
        print(f"{'measure':<100} {'figure':>10} {'target':>9}")
        for label, figure, target in results:
            print(f"{label:<100} {figure:>10} {target:>9}")
    finally:
        if args.keep or args.reuse:
            print(f"kept: store {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
