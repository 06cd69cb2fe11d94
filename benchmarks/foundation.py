"""Foundation benchmark: build the demo data on PostgreSQL (or SQLite) and time

1. building it (the synthetic generator: organisation, timetables, signed entries, closes);
2. signing entries through the real service path (`sign_entry`: window rule, certificate
   check, CMS signature, audit event, one transaction per signature);
3. verifying entries through `verify_entry_signature` (canonical bytes rebuilt from the database,
   CMS checked, chain to the demo root);
4. the compliance figures at each level over the whole term.

Usage:
    python benchmarks/foundation.py [--database URL] [--schools-per-district N] ...
Without --database it creates (and drops) a PostgreSQL database on 127.0.0.1:5432.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.access.authz import SYSTEM, actor_by_username  # noqa: E402
from core.demo.synthetic import Scale, generate  # noqa: E402
from core.kernel.errors import SohoaError  # noqa: E402
from core.logbook.compliance import LEVELS, compliance  # noqa: E402
from core.logbook.entries import generate_week, sign_entry  # noqa: E402
from core.logbook.verification import verify_entry_signature  # noqa: E402
from core.signatures import DemoPKI, KeyStore  # noqa: E402
from core.storage.db import Database  # noqa: E402
from core.storage.migrate import upgrade  # noqa: E402
from core.storage.models import LogbookEntry, SchoolWeek, UserAccount  # noqa: E402


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="database URL (default: a throwaway PostgreSQL database)")
    parser.add_argument("--districts", type=int, default=2)
    parser.add_argument("--schools-per-district", type=int, default=4)
    parser.add_argument("--classes-per-school", type=int, default=8)
    parser.add_argument("--weeks", type=int, default=18)
    parser.add_argument("--sign", type=int, default=1000, help="entries to sign through the service")
    parser.add_argument("--verify", type=int, default=1000, help="entries to verify through the service")
    args = parser.parse_args()

    dropper = None
    url = args.database
    if url is None:
        from core.storage.scratch import create_scratch_database, drop_scratch_database

        server = "postgresql://postgres@127.0.0.1:5432/postgres"
        url = create_scratch_database(server, "sohoa_bench")

        def dropper():
            drop_scratch_database(server, url)
    db = Database.from_url(url)
    try:
        upgrade(db.engine)
        pki_dir = Path(tempfile.mkdtemp(prefix="sohoa-bench-pki-"))
        scale = Scale(districts=args.districts, schools_per_district=args.schools_per_district,
                      classes_per_school=args.classes_per_school, weeks=args.weeks)
        report, build_s = timed(generate, db, scale, pki_dir=pki_dir, progress=False)
        with db.reading() as s:
            entries = s.scalar(select(func.count()).select_from(LogbookEntry))
            signed = s.scalar(select(func.count()).select_from(LogbookEntry)
                              .where(LogbookEntry.signature.is_not(None)))
        print(f"database: {db.engine.dialect.name}")
        print(f"build demo: {build_s:.1f} s for {entries:,} entries ({signed:,} signed) "
              f"= {entries / build_s:,.0f} entries/s")

        # --- signing through the service: a fresh week after the generated ones
        keys = KeyStore(pki_dir)
        with db.reading() as s:
            week = s.scalar(select(SchoolWeek).where(SchoolWeek.number == args.weeks + 1))
            school_ids = list(s.scalars(select(LogbookEntry.school_id).distinct()))
        for school_id in school_ids:
            generate_week(db, SYSTEM, school_id, week.id)
        with db.reading() as s:
            todo = s.execute(select(LogbookEntry.id, LogbookEntry.teacher_id, LogbookEntry.period_start)
                             .where(LogbookEntry.week_id == week.id).order_by(LogbookEntry.id)
                             .limit(args.sign)).all()
            users = dict(s.execute(select(UserAccount.staff_id, UserAccount.username)
                                   .where(UserAccount.staff_id.is_not(None))).all())
            actors = {sid: actor_by_username(s, name) for sid, name in users.items()}
        latencies, refused = [], 0
        start = time.perf_counter()
        for entry_id, teacher_id, period_start in todo:
            t0 = time.perf_counter()
            try:
                sign_entry(db, actors[teacher_id], entry_id, keys.signer_for(f"staff-{teacher_id}"),
                           at=period_start + dt.timedelta(minutes=10))
            except SohoaError:
                refused += 1  # e.g. a teacher whose certificate expired in the behaviour model
            latencies.append(time.perf_counter() - t0)
        sign_s = time.perf_counter() - start
        print(f"sign via service: {len(todo)} entries ({refused} refused: no valid certificate) "
              f"in {sign_s:.2f} s = {len(todo) / sign_s:,.0f}/s, "
              f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
              f"p99 {sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")

        # --- verification through the service
        trust = DemoPKI.load(pki_dir).trust_store()
        admin = SYSTEM
        with db.reading() as s:
            sample = list(s.scalars(select(LogbookEntry.id).where(LogbookEntry.signature.is_not(None))
                                    .order_by(LogbookEntry.id).limit(args.verify)))
        start = time.perf_counter()
        bad = sum(not verify_entry_signature(db, admin, entry_id, trust).valid for entry_id in sample)
        verify_s = time.perf_counter() - start
        print(f"verify via service: {len(sample)} entries in {verify_s:.2f} s = {len(sample) / verify_s:,.0f}/s "
              f"({bad} invalid)")

        # --- compliance figures
        with db.reading() as s:
            supervisor = actor_by_username(s, "so.giamsat")
        for level in LEVELS:
            frame, secs = timed(compliance, db, supervisor, level)
            print(f"compliance {level:<10} {len(frame):>5} rows in {secs * 1000:7.1f} ms")
    finally:
        db.engine.dispose()
        if dropper:
            dropper()
    return 0


if __name__ == "__main__":
    sys.exit(main())
