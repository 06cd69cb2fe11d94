"""The console's aggregates on the analytics store (core.analytics.queries) give exactly the
record store's figures for the same world and the same ``as_of`` — compliance per level with
the week-closing and monitor columns, the weekday × period heatmap, the late-signing
distribution, transcript issuance — on SQLite and PostgreSQL; keep to the caller's scope; and
an incremental refresh picks up a week closed or reopened, a transcript signed or cancelled, a
transfer received, a monitor unassigned, and rewrites nothing else."""
import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import text

from core.access.authz import SYSTEM, Actor, actor_by_username
from core.analytics import queries as aq
from core.analytics.queries import compliance_figures
from core.analytics.store import SCHEMA, AnalyticsStore, ensure_fresh, refresh
from core.demo.gradebook import generate_transcripts
from core.demo.synthetic import FIRST_MONDAY, Scale, generate
from core.kernel.vocabulary import Role
from core.logbook import queries
from core.logbook.compliance import TREND, compliance
from core.transcripts import figures as transcript_figures
from tests.conftest import committed_database

#: 4 schools, each stopped at another step of the transcript workflow (issued, homeroom
#: signed, confirmed, entered); "now" for the generator on the Wednesday of week 3, so the
#: world holds pending periods (missed once their day is past), open weeks and closed ones.
WORLD = Scale(districts=2, schools_per_district=2, classes_per_school=2, weeks=3, students_per_class=4, seed=7)
GENERATED_AT = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(days=16), dt.time(10, 0))
#: Query dates: the generator's "now" (its pending periods still pending), a day later (the
#: Wednesday's unsigned periods now missed, week 2 over), and the real today.
AS_OF = [GENERATED_AT, GENERATED_AT + dt.timedelta(days=1), None]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """A committed record store (the store reads it from its own connection) and its
    analytics store, refreshed."""
    root = tmp_path_factory.mktemp("console-analytics")
    with committed_database(request, root, "sohoa_anc") as db:
        generate(db, WORLD, pki_dir=root / "pki", as_of=GENERATED_AT, progress=False)
        # one class per school through the transcript workflow (a teacher's lapsed demo certificate
        # renewed first, so that the first school really issues)
        generate_transcripts(db, pki_dir=root / "pki", classes_per_school=1, seed=7, renew_certificates=True)
        store = AnalyticsStore(root / "store")
        report = refresh(db, store)
        assert report.weeks_written == [1, 2, 3] and report.closes_written == [1, 2, 3] and report.years_written
        yield db, store


@pytest.fixture
def fresh(world):
    """The world with its store brought up to date (a test before may have changed both)."""
    db, store = world
    refresh(db, store)
    return db, store


def same(ours: pd.DataFrame, theirs: pd.DataFrame, keys: list[str]) -> None:
    """Equal frames: the same columns, and row by row the same values (keys sorted)."""
    assert sorted(ours.columns) == sorted(theirs.columns)
    assert len(ours) == len(theirs)
    order = [k for k in keys if k in theirs]
    ours = ours[list(theirs.columns)].sort_values(order).reset_index(drop=True) if order else ours[list(theirs.columns)]
    theirs = theirs.sort_values(order).reset_index(drop=True) if order else theirs
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def monitor_of(db, code: str = "S0001") -> Actor:
    with db.reading() as session:
        return actor_by_username(session, f"gs.{code.lower()}")


def school(db, code: str) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT id FROM school WHERE code = :c"), {"c": code}).scalar()


LEVEL_KEYS = {"teacher": ["teacher_id", "school_id"], "class": ["class_id"], "school": ["school_id"],
              "district": ["district_id"], "department": ["department_id"]}


# ---------------------------------------------------------------- the same figures
@pytest.mark.parametrize("as_of", AS_OF, ids=["generated", "a-day-later", "today"])
@pytest.mark.parametrize("level", list(LEVEL_KEYS))
def test_compliance_per_level(fresh, level, as_of):
    db, store = fresh
    ours = aq.compliance_figures(store, SYSTEM, level, as_of=as_of)
    theirs = compliance(db, SYSTEM, level, as_of=as_of or None)
    assert len(theirs) > 0 and theirs["scheduled"].sum() > 0
    same(ours, theirs, LEVEL_KEYS[level])
    if level != "teacher":  # the closing columns are really compared, not both zero
        assert theirs["weeks_total"].sum() > 0 and theirs["weeks_open"].sum() > 0
    if as_of is None:
        assert theirs["missed"].sum() > 0


def test_past_pending_periods_count_as_missed(fresh):
    """The generator left periods pending from its Wednesday on: on that day they are pending,
    a day later the Wednesday's are missed — in both stores."""
    db, store = fresh
    on_the_day, later = (aq.compliance_figures(store, SYSTEM, "department", as_of=a).iloc[0] for a in AS_OF[:2])
    assert on_the_day["pending"] > later["pending"] > 0
    assert later["missed"] - on_the_day["missed"] == on_the_day["pending"] - later["pending"]
    assert later["missed"] == compliance(db, SYSTEM, "department", as_of=AS_OF[1]).iloc[0]["missed"]


@pytest.mark.parametrize("level", ["class", "teacher", "school"])
def test_compliance_filtered(fresh, level):
    db, store = fresh
    s2 = school(db, "S0002")
    with db.engine.connect() as conn:
        district = conn.execute(text("SELECT district_id FROM school WHERE code = 'S0003'")).scalar()
        week_id, number = conn.execute(text("SELECT id, number FROM school_week WHERE number = 2")).one()
    for filters, theirs_filters in (({"school_id": s2}, {"school_id": s2}),
                                    ({"district_id": district}, {"district_id": district}),
                                    ({"week_id": week_id}, {"week_id": week_id}),
                                    ({"week": number, "school_id": s2}, {"week_id": week_id, "school_id": s2})):
        ours = aq.compliance_figures(store, SYSTEM, level, as_of=AS_OF[1], **filters)
        theirs = compliance(db, SYSTEM, level, as_of=AS_OF[1], **theirs_filters)
        assert len(theirs) > 0
        same(ours, theirs, LEVEL_KEYS[level])


def test_the_trend_over_the_weeks(fresh):
    db, store = fresh
    ours = compliance_figures(store, SYSTEM, "department", by_week=True, as_of=AS_OF[1].date())
    theirs = compliance(db, SYSTEM, TREND, as_of=AS_OF[1])
    figures = ["scheduled", "on_time", "late", "missed", "pending", "on_time_rate"]
    assert list(ours["week"]) == list(theirs["week_number"]) == [1, 2, 3]
    pd.testing.assert_frame_equal(ours[figures], theirs[figures], check_dtype=False)


@pytest.mark.parametrize("as_of", AS_OF, ids=["generated", "a-day-later", "today"])
def test_signing_heatmap(fresh, as_of):
    db, store = fresh
    for school_id in (None, school(db, "S0004")):
        ours = aq.signing_heatmap(store, SYSTEM, school_id=school_id, as_of=as_of)
        theirs = queries.signing_heatmap(db, SYSTEM, school_id=school_id, as_of=as_of)
        assert len(theirs) >= 5 * 4
        same(ours, theirs, ["weekday", "period_no"])


@pytest.mark.parametrize("bucket", [1, 5, 15])
def test_late_signing_distribution(fresh, bucket):
    db, store = fresh
    with db.engine.connect() as conn:
        week_id = conn.execute(text("SELECT id FROM school_week WHERE number = 1")).scalar()
    for filters in ({}, {"school_id": school(db, "S0001")}, {"week_id": week_id}):
        ours = aq.late_signing_distribution(store, SYSTEM, bucket_minutes=bucket, **filters)
        theirs = queries.late_signing_distribution(db, SYSTEM, bucket_minutes=bucket, **filters)
        assert theirs["entries"].sum() > 0
        same(ours, theirs, ["minutes_after_end"])
    with pytest.raises(ValueError):
        aq.late_signing_distribution(store, SYSTEM, bucket_minutes=0)


@pytest.mark.parametrize("level", ["district", "school", "grade"])
def test_issuance(fresh, level):
    db, store = fresh
    with db.engine.connect() as conn:
        year_id = conn.execute(text("SELECT id FROM school_year")).scalar()
    for year in (None, year_id):
        for as_of in (dt.date(2026, 6, 1), dt.date(2026, 8, 1)):  # before and after the deadlines
            ours = aq.issuance_figures(store, SYSTEM, level, school_year_id=year, as_of=as_of)
            theirs = transcript_figures.issuance_figures(db, SYSTEM, level, school_year_id=year, as_of=as_of)
            same(ours, theirs, ["school_id", "district_id", "grade"])
    total = theirs.sum(numeric_only=True)
    assert total["students"] > total["confirmed"] > total["issued"] > 0 and total["drafts"] + total[
        "homeroom_signed"] > 0


# ---------------------------------------------------------------- scope
def test_a_monitor_sees_only_their_school(fresh):
    db, store = fresh
    monitor = monitor_of(db, "S0001")
    mine, other = school(db, "S0001"), school(db, "S0002")
    assert monitor.school_ids == frozenset({mine})
    for level in LEVEL_KEYS:
        ours = aq.compliance_figures(store, monitor, level, as_of=AS_OF[1])
        same(ours, compliance(db, monitor, level, as_of=AS_OF[1]), LEVEL_KEYS[level])
        assert set(ours["school_id"]) == {mine} if "school_id" in ours else len(ours) == 1
    department = aq.compliance_figures(store, monitor, "department", as_of=AS_OF[1]).iloc[0]
    assert department["schools_without_monitor"] == 0 and department["scheduled"] == \
        aq.compliance_figures(store, SYSTEM, "school", as_of=AS_OF[1]).set_index("school_id").loc[mine, "scheduled"]
    same(aq.signing_heatmap(store, monitor), queries.signing_heatmap(db, monitor), ["weekday", "period_no"])
    same(aq.late_signing_distribution(store, monitor, bucket_minutes=5),
         queries.late_signing_distribution(db, monitor, bucket_minutes=5), ["minutes_after_end"])
    for level in ("district", "school", "grade"):
        ours = aq.issuance_figures(store, monitor, level)
        same(ours, transcript_figures.issuance_figures(db, monitor, level), ["school_id", "district_id", "grade"])
    assert list(aq.issuance_figures(store, monitor, "school")["school_id"]) == [mine]
    # another school's id as a filter narrows the scope to nothing, as on the record store
    assert aq.compliance_figures(store, monitor, "class", school_id=other).empty
    assert compliance(db, monitor, "class", school_id=other).empty
    assert aq.late_signing_distribution(store, monitor, school_id=other).empty
    assert aq.signing_heatmap(store, monitor, school_id=other).empty
    nobody = Actor(user_id=None, username="x", role=Role.SCHOOL_MONITOR, school_ids=frozenset())
    assert aq.compliance_figures(store, nobody, "school").empty and aq.issuance_figures(store, nobody, "grade").empty


def test_a_teacher_may_not_see_figures(fresh):
    from core.kernel.errors import PermissionDenied

    db, store = fresh
    with db.engine.connect() as conn:
        username = conn.execute(text("SELECT u.username FROM user_account u WHERE u.role = 'teacher' "
                                     "ORDER BY u.id LIMIT 1")).scalar()
    with db.reading() as session:
        teacher = actor_by_username(session, username)
    for call in (lambda: aq.compliance_figures(store, teacher, "school"),
                 lambda: aq.signing_heatmap(store, teacher), lambda: aq.late_signing_distribution(store, teacher),
                 lambda: aq.issuance_figures(store, teacher, "school")):
        with pytest.raises(PermissionDenied):
            call()
        with pytest.raises(PermissionDenied):
            compliance(db, teacher, "school")


# ---------------------------------------------------------------- incremental refresh
def test_nothing_changed_nothing_rewritten(fresh):
    db, store = fresh
    before = {p: p.stat().st_mtime_ns for p in store.root.rglob("*.parquet") if "dims" not in p.parts}
    report = refresh(db, store)
    assert report.weeks_written == report.closes_written == report.years_written == [] and report.weeks_checked == 3
    assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*.parquet") if "dims" not in p.parts} == before
    assert ensure_fresh(db, store) is None  # refreshed a moment ago: nothing is even fingerprinted


def test_a_week_closed_and_one_reopened(fresh):
    db, store = fresh
    with db.engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT wc.id, wc.status FROM week_close wc JOIN school_week w ON w.id = wc.week_id "
            "WHERE w.number = 1 ORDER BY wc.id")).all()
        closed = next(i for i, s in rows if s == "closed")
        still_open = next((i for i, s in rows if s != "closed"), None)
        conn.execute(text("UPDATE week_close SET status = 'reopened', reopen_count = reopen_count + 1 "
                          "WHERE id = :i"), {"i": closed})
        if still_open:
            conn.execute(text("UPDATE week_close SET status = 'closed', closed_on_time = :f, "
                              "closed_at = '2025-09-20 08:00:00' WHERE id = :i"), {"i": still_open, "f": False})
    before = aq.compliance_figures(store, SYSTEM, "department", as_of=AS_OF[1]).iloc[0]
    report = refresh(db, store)
    assert report.closes_written == [1] and report.weeks_written == [] and report.years_written == []
    after = aq.compliance_figures(store, SYSTEM, "department", as_of=AS_OF[1]).iloc[0]
    assert after["weeks_reopened"] == before["weeks_reopened"] + 1
    for level in ("class", "school", "district", "department"):
        same(aq.compliance_figures(store, SYSTEM, level, as_of=AS_OF[1]),
             compliance(db, SYSTEM, level, as_of=AS_OF[1]), LEVEL_KEYS[level])


def test_a_transcript_signed_and_one_cancelled(fresh):
    db, store = fresh
    with db.engine.begin() as conn:
        draft = conn.execute(text("SELECT id FROM transcript WHERE status = 'homeroom_signed' ORDER BY id")).scalar()
        issued = conn.execute(text("SELECT id FROM transcript WHERE status = 'issued' ORDER BY id")).scalar()
        conn.execute(text("UPDATE transcript SET status = 'issued' WHERE id = :i"), {"i": draft})
        conn.execute(text("UPDATE transcript SET status = 'cancelled' WHERE id = :i"), {"i": issued})
    before = aq.issuance_figures(store, SYSTEM, "district").sum(numeric_only=True)
    report = refresh(db, store)
    assert report.years_written == [FIRST_MONDAY.year] and report.weeks_written == report.closes_written == []
    after = aq.issuance_figures(store, SYSTEM, "district").sum(numeric_only=True)
    assert after["cancelled"] == before["cancelled"] + 1 and after["issued"] == before["issued"]
    for level in ("district", "school", "grade"):
        same(aq.issuance_figures(store, SYSTEM, level), transcript_figures.issuance_figures(db, SYSTEM, level),
             ["school_id", "district_id", "grade"])


def test_a_transferred_transcript_received(fresh):
    db, store = fresh
    with db.engine.begin() as conn:
        student, school_id = conn.execute(text(
            "SELECT r.student_id, c.school_id FROM subject_result r JOIN school_class c ON c.id = r.class_id "
            "ORDER BY r.id LIMIT 1")).one()
        conn.execute(text(
            "INSERT INTO received_transcript (student_id, receiving_school_id, from_school_code, school_year, "
            "verification_code, document, received_at, package_hash) VALUES (:s, :r, 'X0001', '2024-2025', "
            "'RCVTEST0001', :d, '2025-09-10 08:00:00', :h)"),
            {"s": student, "r": school_id, "d": b"%PDF-", "h": "0" * 64})
    report = refresh(db, store)
    assert report.years_written == [FIRST_MONDAY.year]
    ours = aq.issuance_figures(store, SYSTEM, "school")
    assert ours.set_index("school_id").loc[school_id, "transferred_in"] >= 1
    same(ours, transcript_figures.issuance_figures(db, SYSTEM, "school"), ["school_id"])


def test_a_monitor_unassigned(fresh):
    db, store = fresh
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE monitor_assignment SET unassigned_at = '2025-09-20 08:00:00' WHERE school_id = "
                          "(SELECT id FROM school WHERE code = 'S0003')"))
    refresh(db, store)
    for level in ("school", "district", "department"):
        ours = aq.compliance_figures(store, SYSTEM, level)
        same(ours, compliance(db, SYSTEM, level), LEVEL_KEYS[level])
    assert aq.compliance_figures(store, SYSTEM, "department").iloc[0]["schools_without_monitor"] >= 1


def test_a_store_of_the_older_layout_is_rebuilt(world, tmp_path):
    """A store written before the closing and issuance facts (one ``part.parquet`` per week,
    no week id): its next refresh removes the old copies and writes the new layout; synthetic
    facts stay, given the new columns."""
    import shutil

    import pyarrow.parquet as pq

    db, current = world
    store = AnalyticsStore(tmp_path / "old")
    shutil.copytree(current.root, store.root)
    for part in store.facts.glob("school_year=*/week=*/part-*.parquet"):  # the old layout's file and columns
        table = pq.read_table(part).drop_columns(["week_id"])
        pq.write_table(table, part.with_name("part.parquet"))
        part.unlink()
    synthetic = store.facts / "school_year=2030" / "week=1" / "synthetic.parquet"
    synthetic.parent.mkdir(parents=True)
    pq.write_table(pq.read_table(next(store.facts.glob("school_year=*/week=*/part.parquet"))), synthetic)
    shutil.rmtree(store.closes)
    shutil.rmtree(store.issuance)
    state = json.loads(store.state_file.read_text())
    state.pop("schema")
    state.pop("years")
    store.state_file.write_text(json.dumps(state))
    report = refresh(db, store)
    assert report.weeks_written == [1, 2, 3] and report.years_written
    assert not list(store.facts.glob("school_year=*/week=*/part.parquet"))
    assert pq.read_schema(synthetic).names == pq.read_schema(next(store.facts.glob("**/part-*.parquet"))).names
    assert store.state()["schema"] == SCHEMA
    con = store.connect()
    real = con.execute("SELECT count(*) FROM facts WHERE school_year <> 2030").fetchone()[0]
    assert real == compliance(db, SYSTEM, "department")["scheduled"].sum()


def test_the_console_falls_back_to_the_record_store_when_the_copy_fails(world, tmp_path, monkeypatch, caplog):
    """The console's figures (dashboards.common.Figures) come from the store when it has one;
    should refreshing a stale store fail, from the record store — logged, never a broken page."""
    from core.analytics import store as analytics
    from dashboards.common import Figures

    db, store = world
    refresh(db, store)
    served = Figures(db, store)
    assert served.compliance(SYSTEM, "school").equals(aq.compliance_figures(store, SYSTEM, "school"))
    assert "kho phân tích" in served.note().object
    stale = AnalyticsStore(tmp_path / "stale")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(analytics, "refresh", broken)
    figures = Figures(db, stale)
    same(figures.compliance(SYSTEM, "class"), compliance(db, SYSTEM, "class"), LEVEL_KEYS["class"])
    assert figures.store is None and figures.note().object == ""
    assert "analytics store refresh failed" in caplog.text


@pytest.mark.parametrize("as_of", AS_OF[:2])
def test_this_week_on_the_analytics_store_is_the_record_stores(fresh, as_of):
    """The overview's week (core.logbook.this_week) from DuckDB (compliance_source) equals the
    record store's: the week beside last week and the term, and who is behind, in two scopes."""
    from core.logbook import this_week

    db, store = fresh
    for username in ("so.giamsat", "phong.1"):
        with db.reading() as session:
            who = actor_by_username(session, username)
        duck = aq.compliance_source(db, store, who, as_of=as_of)
        for week_id in queries.weeks_in_scope(db, who)["week_id"]:
            ours = this_week.week_figures(db, who, int(week_id), as_of=as_of, source=duck)
            theirs = this_week.week_figures(db, who, int(week_id), as_of=as_of)
            pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)
            t1, s1, _ = this_week.behind_this_week(db, who, int(week_id), as_of=as_of, source=duck)
            t2, s2, _ = this_week.behind_this_week(db, who, int(week_id), as_of=as_of)
            assert t1["teacher_id"].tolist() == t2["teacher_id"].tolist()
            assert t1["unsigned"].tolist() == t2["unsigned"].tolist()
            assert s1["school_id"].tolist() == s2["school_id"].tolist()
            assert s1["on_time_rate"].tolist() == s2["on_time_rate"].tolist()


def test_the_overviews_week_on_the_store_is_cached_by_scope(fresh):
    """The overview's week aggregates on the analytics store are kept in the console's cache by
    (scope, store fingerprint, …): the department supervisor's districts are found again by a
    second view, and a monitor's view of the same level never meets them."""
    import time

    from core.kernel import clock
    from dashboards.common import CACHE
    from dashboards.overview import Overview

    db, store = fresh
    with db.reading() as session:
        so = actor_by_username(session, "so.giamsat")
    while clock.now().second >= 55:  # the key's minute must not turn between the two views
        time.sleep(0.5)
    first = Overview(db, so, store=store)
    rows = first.rows()
    hits = CACHE.hits
    again = Overview(db, so, store=store)
    pd.testing.assert_frame_equal(again.rows(), rows)
    assert CACHE.hits == hits + 1
    monitor = monitor_of(db, "S0001")
    theirs = Overview(db, monitor, store=store, week=first.week)
    hits = CACHE.hits
    mine = theirs.rows()
    assert CACHE.hits == hits  # another scope: computed, not the supervisor's frame
    assert len(mine) == 1 and mine["scheduled"].sum() < rows["scheduled"].sum()
    view = Overview(db, monitor, store=store, week=first.week)
    view.__panel__()
    view.navigate(f"/overview?week={first.week}&school={school(db, 'S0002')}")  # another school, in place
    assert view._content.objects[0].alert_type == "danger"


def test_the_cache_never_crosses_scopes_and_a_real_refresh_misses(fresh):
    """The console's cache of the store's aggregates on a real store: two monitors of two
    schools and the department each get their own entry (never another scope's frame, even for
    the same query and arguments); once a period is changed in the record store and the store
    refreshed, its fingerprint is new and the same query is computed again, with the change."""
    import time

    from core.analytics.cache import ScopedCache, store_fingerprint
    from core.kernel import clock

    db, store = fresh
    with db.reading() as session:
        so = actor_by_username(session, "so.giamsat")
    one, two = monitor_of(db, "S0001"), monitor_of(db, "S0002")
    first, second = school(db, "S0001"), school(db, "S0002")
    cache = ScopedCache()

    def schools(actor):
        return cache.get(store, actor, "compliance_figures", lambda: aq.compliance_figures(store, actor, "school"),
                         level="school")
    while clock.now().second >= 50:  # the key's minute must not turn within the test
        time.sleep(0.5)
    everyone = schools(so)
    assert schools(one)["school_id"].tolist() == [first]
    assert schools(two)["school_id"].tolist() == [second]  # the same query and arguments: not S0001's frame
    assert (cache.hits, cache.misses) == (0, 3)
    pd.testing.assert_frame_equal(schools(so), everyone)
    assert schools(two)["school_id"].tolist() == [second] and (cache.hits, cache.misses) == (2, 3)

    before = store_fingerprint(store)
    with db.engine.begin() as conn:
        conn.execute(text(
            "UPDATE logbook_entry SET status = 'missed', signed_at = NULL, signed_by = NULL WHERE id = "
            "(SELECT MIN(id) FROM logbook_entry WHERE school_id = :s AND status = 'on_time')"), {"s": first})
    refresh(db, store)
    assert store_fingerprint(store) != before
    after = schools(so)
    assert (cache.hits, cache.misses) == (2, 4)  # the refreshed store: computed again
    missed = {s: int(n) for s, n in zip(after["school_id"], after["missed"])}
    was = {s: int(n) for s, n in zip(everyone["school_id"], everyone["missed"])}
    assert missed[first] == was[first] + 1 and missed[second] == was[second]


def test_a_stale_store_is_refreshed_in_the_background(world, tmp_path):
    """A page meeting a store older than five minutes is not kept waiting for the copy: the
    refresh runs in a thread (the page reads the last refresh's figures meanwhile); a store never
    refreshed is copied at once, since there is nothing to read yet."""
    import time

    from core.analytics.cache import store_fingerprint
    from core.analytics.store import ensure_fresh_in_background

    db, store = world
    first = AnalyticsStore(tmp_path / "first")
    assert ensure_fresh_in_background(db, first) is None
    assert first.state()["refreshed_at"] > time.time() - 60 and first.state()["weeks"]
    refresh(db, store)
    content = store_fingerprint(store)
    state = store.state()
    state["refreshed_at"] = time.time() - 3600
    store.save_state(state)
    thread = ensure_fresh_in_background(db, store)
    assert thread is not None
    thread.join(300)
    assert not thread.is_alive()
    assert store.state()["refreshed_at"] > time.time() - 300
    assert ensure_fresh_in_background(db, store) is None  # fresh again: nothing started
    assert store_fingerprint(store) == content  # nothing new in the record store: the same figures' key


def test_the_per_school_rollups_are_warmed_by_the_refresh_and_narrowed_to_each_scope(fresh):
    """The heatmap, the late-signing distribution and the term's figures per school come from
    per-school rollups of every school, computed once per store content: the background refresh
    that finds a change warms them (a page after it computes nothing), and each caller's answer
    from the shared rollup is exactly the record store's for their own scope — a monitor's holds
    their school alone."""
    import time

    from core.analytics.store import ensure_fresh_in_background

    db, store = fresh
    with db.reading() as session:
        so = actor_by_username(session, "so.giamsat")
    monitor = monitor_of(db, "S0001")
    mine = school(db, "S0001")
    with db.engine.begin() as conn:  # a change the refresh will find: a new fingerprint, new rollups
        conn.execute(text(
            "UPDATE logbook_entry SET status = 'late', signed_at = period_end + INTERVAL '9 minutes' WHERE id = "
            "(SELECT MIN(id) FROM logbook_entry WHERE school_id = :s AND status = 'on_time')"
            if db.engine.dialect.name == "postgresql" else
            "UPDATE logbook_entry SET status = 'late', signed_at = datetime(period_end, '+9 minutes') WHERE id = "
            "(SELECT MIN(id) FROM logbook_entry WHERE school_id = :s AND status = 'on_time')"), {"s": mine})
    state = store.state()
    state["refreshed_at"] = time.time() - 3600
    store.save_state(state)
    thread = ensure_fresh_in_background(db, store, then=aq.warm)
    assert thread is not None
    thread.join(300)
    computed = aq._ROLLUPS.misses
    for who in (so, monitor):
        same(aq.signing_heatmap(store, who), queries.signing_heatmap(db, who), ["weekday", "period_no"])
        same(aq.compliance_figures(store, who, "school"), compliance(db, who, "school"), ["school_id"])
        for level in ("school", "grade"):
            same(aq.issuance_figures(store, who, level), transcript_figures.issuance_figures(db, who, level),
                 ["school_id", "grade"])
        trend = aq.compliance_figures(store, who, "department", by_week=True)
        assert trend["scheduled"].sum() == compliance(db, who, "school")["scheduled"].sum()
        for filters in ({}, {"school_id": mine}):
            same(aq.late_signing_distribution(store, who, bucket_minutes=5, **filters),
                 queries.late_signing_distribution(db, who, bucket_minutes=5, **filters), ["minutes_after_end"])
    assert aq._ROLLUPS.misses == computed  # warmed: every answer above narrowed the kept rollups
    heat = aq.school_rollup(store, "heat")
    assert heat["school_id"].nunique() > 1  # the rollup holds every school…
    ours = aq.signing_heatmap(store, monitor)
    theirs = aq.signing_heatmap(store, SYSTEM, school_id=mine)
    pd.testing.assert_frame_equal(ours, theirs)  # …and a monitor's answer is their school's alone
    assert ours["periods"].sum() < aq.signing_heatmap(store, so)["periods"].sum()
    assert aq.signing_heatmap(store, monitor, school_id=school(db, "S0002")).empty
