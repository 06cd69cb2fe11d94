"""The analytics store: facts copied from the record store (PostgreSQL through ADBC, SQLite)
give the same compliance figures as the record store's own queries, refresh only what
changed, keep to the caller's scope, run offline, synthesize a year, and compile for Trino
and Spark without changing the results."""
import datetime as dt

import pandas as pd
import pytest
import sqlglot
from sqlalchemy import text

from core.access.authz import SYSTEM, Actor
from core.analytics.queries import (
    LEVELS,
    compliance_figures,
    compliance_sql,
    late_signing_distribution,
    portable_sql,
)
from core.analytics.store import SYNTHETIC_ID_BASE, AnalyticsStore, refresh, synthesize_year
from core.demo.synthetic import Scale, generate
from core.kernel.vocabulary import Role
from core.logbook.compliance import compliance
from tests.conftest import committed_database

SMALL = Scale(districts=2, schools_per_district=2, classes_per_school=2, weeks=3, students_per_class=5, seed=11)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(request, tmp_path_factory):
    """A committed record store with three generated weeks (the store reads it from its own
    connection, so the savepoint-isolated ``db`` fixture would not do)."""
    root = tmp_path_factory.mktemp("analytics")
    with committed_database(request, root, "sohoa_an") as db:
        generate(db, SMALL, pki_dir=root / "pki", progress=False)
        yield db, root


@pytest.fixture(scope="module")
def store(seeded):
    db, root = seeded
    store = AnalyticsStore(root / "store")
    report = refresh(db, store)
    assert len(report.weeks_written) == 3 and report.rows > 0
    return store


KEYS = {"department": [], "district": ["district_id"], "school": ["school_id"], "class": ["class_id"],
        "teacher": ["teacher_id"]}


@pytest.mark.parametrize("level", LEVELS)
def test_same_figures_as_the_record_store(seeded, store, level):
    db, _ = seeded
    figures = ["scheduled", "on_time", "late", "missed", "pending", "hours_counted", "hours_lost"]
    ours = compliance_figures(store, SYSTEM, level)
    theirs = compliance(db, SYSTEM, level)
    keys = KEYS[level]
    ours = ours.sort_values(keys).reset_index(drop=True) if keys else ours
    theirs = theirs.sort_values(keys).reset_index(drop=True) if keys else theirs
    assert len(ours) == len(theirs) > 0
    assert ours[keys + figures].astype("int64").to_dict("records") == \
        theirs[keys + figures].astype("int64").to_dict("records")


def test_trend_and_late_distribution(seeded, store):
    db, _ = seeded
    trend = compliance_figures(store, SYSTEM, "department", by_week=True)
    assert list(trend["week"]) == [1, 2, 3] and trend["scheduled"].sum() == compliance(db, SYSTEM, "department")[
        "scheduled"].sum()
    late = late_signing_distribution(store, SYSTEM)
    assert late["entries"].sum() == trend["late"].sum() and (late["minutes_after_end"] >= 0).all()


def test_refresh_rewrites_only_the_changed_week(seeded, store):
    db, _ = seeded
    assert refresh(db, store).weeks_written == []
    with db.engine.begin() as conn:  # the nightly job marks one more period missed in week 2
        entry = conn.execute(text("SELECT e.id FROM logbook_entry e JOIN school_week w ON w.id = e.week_id "
                                  "WHERE w.number = 2 AND e.status = 'on_time' ORDER BY e.id LIMIT 1")).scalar()
        conn.execute(text("UPDATE logbook_entry SET status = 'missed', signed_at = NULL WHERE id = :i"), {"i": entry})
    before = compliance_figures(store, SYSTEM, "department")["missed"].iloc[0]
    assert refresh(db, store).weeks_written == [2]
    assert compliance_figures(store, SYSTEM, "department")["missed"].iloc[0] == before + 1
    assert compliance_figures(store, SYSTEM, "department")["missed"].iloc[0] == \
        compliance(db, SYSTEM, "department")["missed"].iloc[0]


def test_a_monitor_sees_only_their_schools(store):
    schools = compliance_figures(store, SYSTEM, "school")
    mine = int(schools["school_id"].iloc[0])
    monitor = Actor(user_id=None, username="gs", role=Role.SCHOOL_MONITOR, school_ids=frozenset({mine}))
    assert list(compliance_figures(store, monitor, "school")["school_id"]) == [mine]
    assert compliance_figures(store, monitor, "department")["scheduled"].iloc[0] == \
        schools.loc[schools["school_id"] == mine, "scheduled"].iloc[0]
    # a filter narrows the scope, never widens it (the one scope rule of every aggregate)
    assert compliance_figures(store, monitor, "class", school_id=int(schools["school_id"].iloc[1])).empty
    nobody = Actor(user_id=None, username="x", role=Role.SCHOOL_MONITOR, school_ids=frozenset())
    assert compliance_figures(store, nobody, "department")["scheduled"].fillna(0).sum() == 0


def test_duckdb_never_reaches_for_the_network(store):
    import duckdb

    con = store.connect()
    for statement in ("INSTALL spatial", "LOAD spatial"):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    assert con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False


def test_a_synthetic_year_beside_the_real_weeks(tmp_path):
    store = AnalyticsStore(tmp_path / "store")
    n = synthesize_year(store, schools=6, classes_per_school=4, weeks=35, periods_per_week=30, districts=3)
    assert n == 6 * 4 * 30 * 35
    con = store.connect()
    assert con.execute("SELECT count(*), bool_and(synthetic), min(school_id) FROM facts").fetchone() == \
        (n, True, SYNTHETIC_ID_BASE)
    trend = compliance_figures(store, SYSTEM, "district", by_week=True, con=con)
    assert trend["week"].nunique() == 35 and trend["district_id"].nunique() == 3
    assert trend["scheduled"].sum() == n and trend["pending"].sum() == 0
    rate = trend["on_time"].sum() / n
    assert 0.6 < rate < 0.97  # the behaviour model, not all-perfect nor all-missed
    one_school = compliance_figures(store, SYSTEM, "class", school_id=SYNTHETIC_ID_BASE, con=con)
    assert len(one_school) == 4 and one_school["scheduled"].sum() == 4 * 30 * 35


def test_synthetic_transcript_issuance_for_the_synthetic_year(seeded, tmp_path):
    """The city's transcript issuance (benchmarks/city.py): a row per student of each synthetic
    class at the workflow's steps, counted by the console's issuance figures beside the record
    store's own, in the workflow's order; a refresh leaves the synthetic file alone."""
    from core.analytics.queries import issuance_figures
    from core.analytics.store import synthesize_issuance
    from core.kernel.errors import RuleViolation

    db, _ = seeded
    store = AnalyticsStore(tmp_path / "store")
    with pytest.raises(RuleViolation):
        synthesize_issuance(store)  # no synthetic year yet
    synthesize_year(store, schools=6, classes_per_school=4, weeks=1, districts=3)
    refresh(db, store)
    real = issuance_figures(store, SYSTEM, "school")
    assert synthesize_issuance(store, students_per_class=30) == 6 * 4 * 30
    refresh(db, store)  # the record store's years again: the synthetic file stays
    grades = issuance_figures(store, SYSTEM, "grade")
    synthetic = grades[grades["school_id"] >= SYNTHETIC_ID_BASE]
    assert synthetic["school_id"].nunique() == 6 and synthetic["students"].sum() == 6 * 4 * 30
    totals = synthetic[["students", "confirmed", "drafts", "homeroom_signed", "issued"]].sum()
    assert list(totals) == sorted(totals, reverse=True) and 0 < totals["issued"] < totals["students"]
    mine = issuance_figures(store, SYSTEM, "school")
    # the record store's schools as before
    pd.testing.assert_frame_equal(mine[mine["school_id"] < SYNTHETIC_ID_BASE].reset_index(drop=True),
                                  real.reset_index(drop=True), check_dtype=False)


def test_the_synthetic_year_adopted_by_the_record_stores_schools(seeded, tmp_path):
    """The city's console benchmark: the synthetic year given the record store's schools,
    classes and teachers, so that a caller's scope (the record store's schools) holds it; a week
    the record store has keeps its own periods only; the synthetic dimensions are gone."""
    from core.access.authz import resolve_actor
    from core.analytics.store import adopt_synthetic_year, synthesize_issuance
    from core.storage.models import UserAccount

    db, _ = seeded
    store = AnalyticsStore(tmp_path / "store")
    synthesize_year(store, schools=3, classes_per_school=3, weeks=35, districts=2)
    refresh(db, store)
    with db.reading() as session:
        so = resolve_actor(session, session.query(UserAccount).filter_by(username="so.giamsat").one())
    before = compliance_figures(store, so, "school")
    real_weeks = {int(w) for w in store.connect().execute(
        "SELECT DISTINCT week FROM facts WHERE NOT synthetic").fetchdf()["week"]}
    kept = adopt_synthetic_year(store)
    con = store.connect()
    assert con.execute(f"SELECT count(*) FROM facts WHERE school_id >= {SYNTHETIC_ID_BASE}").fetchone()[0] == 0
    assert kept == 3 * 3 * 30 * (35 - len(real_weeks))  # three of the record store's schools took the year
    overlap = con.execute("SELECT count(*) FROM facts WHERE synthetic AND week IN "
                          f"({', '.join(map(str, real_weeks))})").fetchone()[0]
    assert overlap == 0  # the record store's weeks: its own periods only
    after = compliance_figures(store, so, "school")
    assert after["scheduled"].sum() == before["scheduled"].sum() + kept  # now in the supervisor's scope
    assert not list(store.dims.glob("*_synthetic.parquet"))
    classes = con.execute("SELECT count(*) FROM class").fetchone()[0]
    assert synthesize_issuance(store) == classes * 35  # adopted: the record store's classes


@pytest.mark.parametrize("dialect", ["trino", "spark"])
@pytest.mark.parametrize("level", LEVELS)
def test_the_same_query_compiles_for_a_distributed_engine(store, level, dialect):
    compiled = portable_sql(level, by_week=True, dialect=dialect)
    assert sqlglot.parse_one(compiled, read=dialect) is not None
    # translated back and run here, it gives exactly what the DuckDB query gives
    as_of = dt.date(2026, 1, 1)
    back = sqlglot.transpile(compiled, read=dialect, write="duckdb")[0]
    con = store.connect()
    ours = con.execute(compliance_sql(level, by_week=True), {"as_of": as_of}).fetchall()
    theirs = con.execute(back, [as_of, as_of]).fetchall()
    assert ours == theirs and len(ours) > 0
