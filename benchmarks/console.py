"""Console benchmark: how long the pages take to load at demo scale.

1. The data loads behind the pages, calling the same core functions the pages call, as the
   department supervisor (the widest scope): the overview's figures (this week first: the
   week's figures, who is behind, today's unsigned periods; then the term), and the drill-down
   department → district → school → class / teacher → class-week → lesson entries → one
   entry's verification report, plus the compliance page's heatmap and late-signing
   distribution, the missed-lessons page, the audit trail with its hash-chain check and the
   transcript blocking steps — on the record store; then the same aggregates on the analytics
   store (DuckDB, what the console runs when served with one: ``serve(analytics_store=…)``),
   with the refresh that copies the record store into it, in full and when nothing changed.
2. The real pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright),
   from navigation to the content being visible: overview, the overview's drill-down by
   clicking (each click → the next view visible: district, school, class, a period's
   verification report; then the back button → the class's periods again; the steps come in
   place, in the page's session), compliance (down to the entries table), a step there (another
   class-week's entries), one entry's verification, and the other pages.

The demo dataset is built first with ``core.demo.synthetic.generate`` (the ``sohoa demo`` default
scale: 2 districts × 4 schools × 8 classes, 18 weeks, 2 classes of transcripts per school)
into a temporary SQLite file, or into a throwaway database on a PostgreSQL server.

3. With ``--city-db URL --city-dir DIR``: after the demo, in the same run, the console served on
   the city a ``benchmarks/city.py --keep`` run kept (its PostgreSQL database and its
   ``--store`` directory: the analytics store and the PKI), every page and the overview's
   drill-down clicks measured there, and both scales printed side by side with the load
   average at each measure and the targets (a page < 1.5 s, a drill-down step < 500 ms).

Usage:
    python benchmarks/console.py [--postgres URL] [--repeat 5] [--no-browser] [--no-analytics]
                                 [--browser-stores both|analytics] [--city-db URL --city-dir DIR]
                                 [--districts 2 --schools-per-district 4 --classes-per-school 8 --weeks 18]
``--city-only`` serves only the city (no demo dataset: quicker, when working on the city's pages).
``--postgres URL`` is a server's URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres): a
database is created on it for the run and dropped at the end.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from core.access import queries as access_queries
from core.access.authz import actor_by_username  # noqa: E402
from core.analytics import queries as analytics_queries
from core.analytics import store as analytics  # noqa: E402
from core.analytics.store import SYNTHETIC_ID_BASE
from core.demo.synthetic import DEMO_PASSWORD, Scale, generate  # noqa: E402
from core.kernel.vocabulary import Role
from core.logbook import queries, this_week, verification
from core.logbook.compliance import TREND, compliance  # noqa: E402
from core.school import queries as school_queries
from core.signatures import (
    DemoPKI,  # noqa: E402
    certificates,  # noqa: E402
)
from core.storage.db import Database, make_engine  # noqa: E402
from core.storage.migrate import upgrade  # noqa: E402
from core.storage.models import (  # noqa: E402
    AuditEvent,
    LogbookEntry,
    School,
    SchoolClass,
    Transcript,
    UserAccount,
)
from core.transcripts import figures as transcript_figures

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def measure(fn, repeat: int) -> tuple[float, float, object]:
    """Median and minimum wall time (ms) of ``fn()`` over ``repeat`` runs after one warm-up."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), result


def core_loads(db: Database, trust, actor, repeat: int) -> list[tuple[str, float, float]]:
    """Each page's core calls, timed; the page totals are the sums of their steps' medians."""
    rows: list[tuple[str, float, float]] = []

    def step(label, fn):
        median, best, result = measure(fn, repeat)
        rows.append((label, median, best))
        return result

    def total(label, first):
        rows.append((label, sum(r[1] for r in rows[first:]), sum(r[2] for r in rows[first:])))

    first = len(rows)
    week = step("overview · this week: the current week", lambda: this_week.current_week(db, actor))
    step("overview · this week: figures vs last week and the term", lambda: this_week.week_figures(db, actor, week))
    step("overview · this week: teachers and schools behind", lambda: this_week.behind_this_week(db, actor, week))
    step("overview · this week: today's unsigned periods", lambda: this_week.unsigned_today(db, actor))
    step("overview · this week: districts (drill-down's first rows)",
         lambda: compliance(db, actor, "district", week_id=week))
    step("overview · compliance, department", lambda: compliance(db, actor, "department"))
    step("overview · compliance, trend by week", lambda: compliance(db, actor, TREND))
    step("overview · compliance, per school (worst 10)", lambda: compliance(db, actor, "school"))
    step("overview · transcripts issued vs due", lambda: transcript_figures.issuance_figures(db, actor, "district"))
    step("overview · certificate coverage", lambda: certificates.coverage(db, actor, "district"))
    total("= overview, first render (data)", first)

    first = len(rows)
    schools = step("drill-down · schools in scope (picker)", lambda: school_queries.schools_in_scope(db, actor))
    step("drill-down · department → districts", lambda: compliance(db, actor, "district"))
    step("drill-down · district → schools", lambda: compliance(db, actor, "school"))
    school_id = int(schools.iloc[0]["school_id"])
    step("drill-down · school → classes", lambda: compliance(db, actor, "class", school_id=school_id))
    step("drill-down · school → teachers", lambda: compliance(db, actor, "teacher", school_id=school_id))
    weeks = step("drill-down · class-weeks (picker, 2000)", lambda: queries.week_closing(db, actor, page_size=2000))
    class_id, week_id = int(weeks.iloc[0]["class_id"]), int(weeks.iloc[0]["week_id"])
    entries = step("drill-down · class-week → lesson entries",
                   lambda: queries.class_week_entries(db, actor, class_id, week_id))
    entry_id = int(entries[entries["signed_at"].notna()].iloc[0]["entry_id"])
    step("drill-down · one entry's verification report",
         lambda: verification.verify(db, actor, trust, entry_id=entry_id))
    total("= drill-down department → one entry (data)", first)

    first = len(rows)
    step("compliance · weeks in scope (picker)", lambda: queries.weeks_in_scope(db, actor))
    step("compliance · heatmap weekday × period", lambda: queries.signing_heatmap(db, actor))
    step("compliance · late-signing distribution", lambda: queries.late_signing_distribution(
        db, actor, bucket_minutes=5))
    total("= compliance page, the other panels (data)", first)

    step("missed lessons · first page", lambda: queries.missed_lessons(db, actor))
    step("audit · page of 25 + hash-chain check", lambda: access_queries.audit_trail(db, actor, page_size=25))
    step("audit · page of 25, filtered (no chain check)", lambda: access_queries.audit_trail(
        db, actor, action="week.", page_size=25, check_chain=False))
    step("transcripts · figures per grade", lambda: transcript_figures.issuance_figures(db, actor, "grade"))
    step("transcripts · blocking steps, page of 20 classes", lambda: transcript_figures.blocking_steps(
        db, actor, page_size=20))
    return rows


def analytics_loads(db: Database, store, actor, repeat: int) -> list[tuple[str, float, float]]:
    """The same aggregates on the analytics store (the console's path when it has one): the
    full copy first, then each page's DuckDB queries after ``ensure_fresh`` (a fresh store:
    nothing to do), and a refresh when nothing changed (what a stale store costs every five
    minutes when no one signed)."""
    rows: list[tuple[str, float, float]] = []

    def step(label, fn, times=repeat):
        median, best, result = measure(fn, times)
        rows.append((label, median, best))
        return result

    def total(label, first):
        rows.append((label, sum(r[1] for r in rows[first:]), sum(r[2] for r in rows[first:])))

    t0 = time.perf_counter()
    report = analytics.refresh(db, store)
    rows.append((f"refresh: the full copy ({report.rows:,} facts, {len(report.weeks_written)} weeks)",
                 (time.perf_counter() - t0) * 1000, (time.perf_counter() - t0) * 1000))
    step("refresh: nothing changed (fingerprints, dimensions)", lambda: analytics.refresh(db, store))
    aq = analytics_queries
    first = len(rows)
    step("overview · ensure_fresh (fresh: reads state.json)", lambda: analytics.ensure_fresh(db, store))
    step("overview · compliance, department (DuckDB)", lambda: aq.compliance_figures(store, actor, "department"))
    step("overview · trend by week (DuckDB)",
         lambda: analytics_queries.compliance_figures(store, actor, "department", by_week=True))
    step("overview · compliance, per school (DuckDB)", lambda: aq.compliance_figures(store, actor, "school"))
    step("overview · transcripts issued vs due (DuckDB)", lambda: aq.issuance_figures(store, actor, "district"))
    step("overview · certificate coverage (record store)", lambda: certificates.coverage(db, actor, "district"))
    total("= overview, first render (data, analytics store)", first)

    first = len(rows)
    school_id = int(school_queries.schools_in_scope(db, actor).iloc[0]["school_id"])
    step("compliance · per school (DuckDB)", lambda: aq.compliance_figures(store, actor, "school"))
    step("compliance · one school's classes (DuckDB)",
         lambda: aq.compliance_figures(store, actor, "class", school_id=school_id))
    step("compliance · one school's teachers (DuckDB)",
         lambda: aq.compliance_figures(store, actor, "teacher", school_id=school_id))
    step("compliance · heatmap weekday × period (DuckDB)", lambda: aq.signing_heatmap(store, actor))
    step("compliance · late-signing distribution (DuckDB)",
         lambda: aq.late_signing_distribution(store, actor, bucket_minutes=5))
    total("= compliance page aggregates (data, analytics store)", first)
    step("transcripts · figures per grade (DuckDB)", lambda: aq.issuance_figures(store, actor, "grade"))
    return rows


def load_average() -> float:
    """The machine's one-minute load average (``uptime``), recorded beside each figure."""
    return os.getloadavg()[0]


def browser_loads(db: Database, trust, pki_dir: Path, repeat: int, store=None, *,
                  every_step: bool = True) -> list[tuple[str, float, float, float, float]]:
    """The real pages in headless Chromium: navigation → content visible, as the supervisor (and
    the teacher's own page as a teacher, when the dataset has one). Each row: the label, the
    first render (the first visit since the console started — once it has warmed what every
    scope shares, as a console started before its first visitor: ``serve_in_background`` waits
    for :func:`dashboards.app.warm` — with the scope's own aggregates not yet computed), the
    median and the minimum of ``repeat`` later visits, and the load average when measured. A
    step that fails (a timeout) is reported as NaN and the run goes on. ``every_step=False``
    leaves out the compliance page's own steps (the picker, the verification box)."""
    import logging

    from playwright.sync_api import sync_playwright

    from dashboards.app import serve_in_background

    # Leaving a page while its session still sends updates logs WebSocketClosedError: harmless here.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    server, url = serve_in_background(db, trust, pki_dir=pki_dir, analytics_store=store)
    rows = []
    nan = float("nan")

    def record(label: str, times: list[float], load: float) -> None:
        if not times:
            rows.append((label, nan, nan, nan, load))
            return
        later = times[1:] or times
        rows.append((label, times[0], statistics.median(later), min(later), load))

    def timed_runs(fn, runs: int) -> list[float]:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            try:
                fn()
            except Exception as err:  # noqa: BLE001 - reported, the run goes on
                shown = page.inner_text("body")[:300].replace("\n", " ") if page else ""
                print(f"  (failed: {str(err).splitlines()[0][:160]}; the page showed: {shown})", flush=True)
                return times
            times.append((time.perf_counter() - t0) * 1000)
        return times

    page = None
    with db.reading() as session:
        teacher = session.scalar(select(UserAccount.username).where(UserAccount.role == Role.TEACHER)
                                 .order_by(UserAccount.username).limit(1))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)

            def signed_in(username: str):
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                page.goto(f"{url}/login")
                page.fill("#username", username)
                page.fill("#password", DEMO_PASSWORD)
                page.click("#signin")
                page.wait_for_url("**/overview", timeout=180000)
                return page

            page = signed_in("so.giamsat")

            def visit(path: str, *selectors: str, on=None):
                def run():
                    where = on or page
                    where.goto(f"{url}/{path}", wait_until="commit")
                    for selector in selectors:
                        where.locator(selector).first.wait_for(state="visible", timeout=180000)
                return run

            entries = '.tabulator:has-text("Tên bài") .tabulator-row'
            pages = [("overview → this week, drill-down rows, trend and term visible",
                      visit("overview", "text=so với tuần trước", "#drill-table", ".bk-Canvas, canvas",
                            "#worst-schools")),
                     ("compliance (drill-down page) → entries table visible",
                      visit("compliance", ".tabulator-row", "text=tiết ký trễ", entries)),
                     ("missed lessons → table visible", visit("missed", ".tabulator-row")),
                     ("weekly closing → table visible", visit("closing", ".tabulator-row")),
                     ("certificates → tables visible", visit("certificates", ".tabulator-row")),
                     ("audit → chain check and table visible", visit("audit", "text=Chuỗi băm", ".tabulator-row")),
                     ("transcripts (issuance) → blocking steps visible",
                      visit("transcripts", "text=/lớp còn học bạ chưa cấp|Chưa có học bạ trong phạm vi|"
                                           "Mọi học bạ trong phạm vi đã được cấp/")),
                     ("admin → action cards visible", visit("admin", "text=Thu hồi chứng thư số"))]
            for label, fn in pages:
                load = load_average()
                record(label, timed_runs(fn, repeat + 1), load)
            if teacher:
                mine = signed_in(teacher)
                load = load_average()
                record(f"teacher's own week ({teacher}) → hours visible",
                       timed_runs(visit("me", "text=giờ dạy được tính", on=mine), repeat + 1), load)
                mine.close()

            # The overview's drill-down by clicking: each step a click on a row → the next view (the
            # first row whose place is in the record store: the analytics store's synthetic year has
            # districts, schools and classes of its own, with no periods to open).
            # (the steps come in place: the click hides the content until the next view is shown)
            steps = {"district": [], "school": [], "class": [], "entry": [], "back": []}
            load = load_average()
            links = page.locator("#drill-table tbody tr a")

            def real_row() -> int:
                hrefs = links.evaluate_all("els => els.map(e => e.getAttribute('href') || '')")
                for n, ref in enumerate(hrefs):
                    ids = [int(v) for v in re.findall(r"(?:district|school|class|entry)=(\d+)", ref)]
                    if ids and max(ids) < SYNTHETIC_ID_BASE:
                        return n
                return 0

            for _ in range(repeat + 1):
                try:
                    visit("overview", "#drill-table")()
                    for level, times in steps.items():
                        target = "text=Báo cáo xác thực chữ ký số" if level == "entry" else "#drill-table"
                        if level != "back":
                            row = real_row()
                        t0 = time.perf_counter()
                        if level == "back":
                            page.go_back(wait_until="commit")
                            page.wait_for_url("**class=*", wait_until="commit")
                        else:
                            links.nth(row).click()
                            page.wait_for_url(f"**{level}=*", wait_until="commit")
                        page.locator(target).first.wait_for(state="visible", timeout=180000)
                        times.append((time.perf_counter() - t0) * 1000)
                except Exception as err:  # noqa: BLE001 - reported, the run goes on
                    print(f"  (drill-down failed: {str(err).splitlines()[0][:160]})", flush=True)
                    break
            for level, label in (("district", "district's schools"), ("school", "school's classes and teachers"),
                                 ("class", "class's periods of the week"), ("entry", "a period's verification"),
                                 ("back", "back button → the class's periods")):
                record(f"overview drill-down {'click ' if level != 'back' else ''}→ {label}", steps[level], load)

            if every_step:
                _compliance_steps(page, url, visit, entries, repeat, record, timed_runs)
            browser.close()
    finally:
        server.stop()
    return rows


def _compliance_steps(page, url, visit, entries, repeat, record, timed_runs) -> None:
    """A drill-down step on the open compliance page: another class-week, then one entry's
    verification."""
    load = load_average()
    try:
        visit("compliance", entries)()
        picker = page.locator(".bk-input-group", has_text="Lớp - tuần").locator("select")
        options = picker.locator("option").all_inner_texts()[:repeat + 2]
        times = []
        for option in options[1:]:
            first_before = page.locator(entries).first.inner_text()
            t0 = time.perf_counter()
            picker.select_option(label=option)
            deadline = time.perf_counter() + 60   # until the table shows the new class-week's rows
            while page.locator(entries).first.inner_text() == first_before and time.perf_counter() < deadline:
                page.wait_for_timeout(5)
            times.append((time.perf_counter() - t0) * 1000)
    except Exception as err:  # noqa: BLE001 - reported, the run goes on
        print(f"  (compliance picker failed: {str(err).splitlines()[0][:160]})", flush=True)
        times = []
    record("drill-down step: pick a class-week → its entries", times, load)
    load = load_average()

    def verify_one():
        entry = page.locator(entries).first.locator('[tabulator-field="Mã tiết"]').inner_text()
        box = page.get_by_placeholder("Mã tiết cần xác thực")
        box.fill(entry.replace(",", "").replace(".", ""))
        t0 = time.perf_counter()
        page.locator("button", has_text="Xác thực chữ ký").click()
        page.locator("text=/PASSED|FAILED|INDETERMINATE/").first.wait_for(timeout=60000)
        took = (time.perf_counter() - t0) * 1000
        page.goto(f"{url}/compliance")
        page.locator(entries).first.wait_for(timeout=180000)
        return took

    times = []
    for _ in range(repeat + 1):
        try:
            times.append(verify_one())
        except Exception as err:  # noqa: BLE001 - reported, the run goes on
            print(f"  (verification failed: {str(err).splitlines()[0][:160]})", flush=True)
            break
    record("drill-down step: verify one entry → report", times, load)


def print_table(title: str, rows: list[tuple]) -> None:
    width = max(len(r[0]) for r in rows) + 2
    if rows and len(rows[0]) == 5:  # the browser's rows: first render, later visits, load average
        print(f"\n{title}\n{'':{width}}{'first ms':>10}{'median ms':>11}{'min ms':>9}{'load':>7}")
        for label, first, median, best, load in rows:
            print(f"{label:{width}}{first:>10.0f}{median:>11.0f}{best:>9.0f}{load:>7.1f}")
        return
    print(f"\n{title}\n{'':{width}}{'median ms':>11}{'min ms':>9}")
    for label, median, best in rows:
        print(f"{label:{width}}{median:>11.1f}{best:>9.1f}")


#: The targets of issue 17 item 8 (2 cores, Chromium): a page's first render, a drill-down step.
PAGE_TARGET_MS, STEP_TARGET_MS = 1500, 500


def print_beside(demo: list[tuple], city: list[tuple], demo_scale: str, city_scale: str) -> None:
    """The demo-scale and the city-scale figures of the same run side by side, each judged
    against its target (a page's visit, median, < 1.5 s; a drill-down step < 500 ms)."""
    by_label = {r[0]: r for r in demo}
    width = max(len(r[0]) for r in city) + 2
    print(f"\nbeside each other (Chromium, served with the analytics store; demo: {demo_scale}; city: {city_scale})"
          f"\n{'':{width}}{'demo first/median ms (load)':>30}{'city first/median ms (load)':>30}"
          f"{'target':>9}  city")
    for label, first, median, _, load in city:
        target = STEP_TARGET_MS if label.startswith(("overview drill-down", "drill-down step")) else PAGE_TARGET_MS
        d = by_label.get(label)
        demo_txt = f"{d[1]:,.0f} / {d[2]:,.0f} ({d[4]:.1f})" if d else "—"
        met = "not measured" if median != median else "met" if median < target else "NOT met"
        print(f"{label:{width}}{demo_txt:>30}{f'{first:,.0f} / {median:,.0f} ({load:.1f})':>30}"
              f"{f'< {target:,}':>9}  {met}")


def city_run(url: str, root: Path, repeat: int) -> tuple[list[tuple], str]:
    """The console served on the city ``benchmarks/city.py --keep`` built: its record store
    (PostgreSQL, the signed week) and its analytics store (the year of facts), the PKI it made.
    The database is brought to this code's migrations first (a kept city may predate one)."""
    db = Database(make_engine(url))
    try:
        upgrade(db.engine)
        with db.reading() as session:
            actor = actor_by_username(session, "so.giamsat")
            entries = session.scalar(select(func.count()).select_from(LogbookEntry))
            schools = session.scalar(select(func.count()).select_from(School))
            classes = session.scalar(select(func.count()).select_from(SchoolClass))
        store = analytics.AnalyticsStore(root / "store")
        t0 = time.perf_counter()
        report = analytics.refresh(db, store)
        stale = (time.perf_counter() - t0) * 1000
        facts = store.connect().execute("SELECT count(*) FROM facts").fetchone()[0]
        scale = (f"{schools:,} schools, {classes:,} classes, {entries:,} signed-week entries in PostgreSQL, "
                 f"{facts:,} facts in the analytics store")
        print(f"\ncity: {scale}; {report}")
        rows = [("refresh when nothing changed (what a page meets every 5 minutes: ensure_fresh)", stale, stale)]
        week = this_week.current_week(db, actor)
        rows.append(("overview · today's unsigned periods (record store)",
                     *measure(lambda: this_week.unsigned_today(db, actor), repeat)[:2]))
        source = analytics_queries.compliance_source(db, store, actor)
        rows.append(("overview · week vs last week and the term (DuckDB)",
                     *measure(lambda: this_week.week_figures(db, actor, week, source=source), repeat)[:2]))
        rows.append(("overview · who is behind this week (DuckDB)",
                     *measure(lambda: this_week.behind_this_week(db, actor, week, source=source), repeat)[:2]))
        rows.append(("overview · certificate coverage (record store)",
                     *measure(lambda: certificates.coverage(db, actor, "district"), repeat)[:2]))
        print_table("city: the overview's costliest data loads", rows)
        trust = DemoPKI.load(root / "pki").trust_store()
        browser = browser_loads(db, trust, root / "pki", repeat, store)
        print_table("city: pages in headless Chromium, console served with the analytics store", browser)
        return browser, scale
    finally:
        db.engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (after one warm-up)")
    parser.add_argument("--no-browser", action="store_true", help="only the core data loads")
    parser.add_argument("--no-analytics", action="store_true", help="without the analytics store (DuckDB)")
    parser.add_argument("--browser-stores", choices=("both", "analytics"), default="both",
                        help="the Chromium pages served on both stores, or only with the analytics store "
                             "(a larger scale in less time)")
    parser.add_argument("--districts", type=int, default=2)
    parser.add_argument("--schools-per-district", type=int, default=4)
    parser.add_argument("--classes-per-school", type=int, default=8)
    parser.add_argument("--weeks", type=int, default=18)
    parser.add_argument("--transcript-classes", type=int, default=2)
    parser.add_argument("--city-db", metavar="URL", help="also serve the city a `benchmarks/city.py --keep` run kept: "
                        "its database's URL (printed at the end of that run)")
    parser.add_argument("--city-dir", metavar="DIR", type=Path,
                        help="with --city-db: the directory that run kept (its --store: pki/ and store/)")
    parser.add_argument("--city-only", action="store_true",
                        help="with --city-db: only the city's pages (no demo dataset built, nothing beside)")
    args = parser.parse_args()
    if bool(args.city_db) != bool(args.city_dir):
        parser.error("--city-db and --city-dir go together")
    if args.city_only:
        if not args.city_db:
            parser.error("--city-only needs --city-db and --city-dir")
        city_rows, city_scale = city_run(args.city_db, args.city_dir, args.repeat)
        print_beside([], city_rows, "not built (--city-only)", city_scale)
        return 0

    work = Path(tempfile.mkdtemp(prefix="sohoa-console-bench-"))
    dropper = None
    if args.postgres:
        from functools import partial

        from core.storage.scratch import create_scratch_database, drop_scratch_database

        url = create_scratch_database(args.postgres, "sohoa_console_bench")
        dropper = partial(drop_scratch_database, args.postgres, url)
    else:
        url = f"sqlite:///{work / 'demo.db'}"
    db = Database(make_engine(url))
    try:
        upgrade(db.engine)
        scale = Scale(districts=args.districts, schools_per_district=args.schools_per_district,
                      classes_per_school=args.classes_per_school, weeks=args.weeks,
                      transcript_classes=args.transcript_classes)
        t0 = time.perf_counter()
        report = generate(db, scale, pki_dir=work / "pki", progress=False)
        build = time.perf_counter() - t0
        with db.reading() as session:
            entries = session.scalar(select(func.count()).select_from(LogbookEntry))
            documents = session.scalar(select(func.count()).select_from(Transcript))
            events = session.scalar(select(func.count()).select_from(AuditEvent))
            actor = actor_by_username(session, "so.giamsat")
        trust = DemoPKI.load(work / "pki").trust_store()
        print(f"console benchmark on {db.engine.dialect.name}: {report.schools} schools, {report.classes} classes, "
              f"{entries:,} logbook entries, {documents:,} transcripts, {events:,} audit events "
              f"(built in {build:.1f} s); {args.repeat} runs each after a warm-up, as so.giamsat")
        print_table("core data loads behind the pages", core_loads(db, trust, actor, args.repeat))
        store = None
        if not args.no_analytics:
            store = analytics.AnalyticsStore(work / "analytics")
            print_table("the same aggregates on the analytics store (DuckDB)",
                        analytics_loads(db, store, actor, args.repeat))
        if not args.no_browser and (store is None or args.browser_stores == "both"):
            print_table("pages in headless Chromium (navigation → content visible)",
                        browser_loads(db, trust, work / "pki", args.repeat))
        demo_rows = []
        if not args.no_browser and store is not None:
            demo_rows = browser_loads(db, trust, work / "pki", args.repeat, store)
            print_table("pages in headless Chromium, console served with the analytics store", demo_rows)
        if args.city_db:
            db.engine.dispose()
            city_rows, city_scale = city_run(args.city_db, args.city_dir, args.repeat)
            print_beside(demo_rows, city_rows, f"{report.schools} schools, {entries:,} entries", city_scale)
    finally:
        db.engine.dispose()
        if dropper:
            dropper()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
