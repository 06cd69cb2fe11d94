"""The ``sohoa`` command line: init, demo, import, report, serve, api, retimestamp. The composition root of
the product (like a bootstrap module): the one place of core that starts the console and the
API, so it imports them; nothing else in core does."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

VAR = Path("var")
#: The demo PKI's CRL / OCSP / timestamp responder (started with the console).
PKI_PORT = int(os.environ.get("SOHOA_PKI_PORT", "8790"))


def _db(args):
    from core.storage.db import Database
    from core.storage.migrate import upgrade

    db = Database.from_url(args.database)
    upgrade(db.engine)
    return db


def _actor(db, username: str):
    from core.access.authz import SYSTEM, actor_by_username

    if username == "system":
        return SYSTEM
    with db.reading() as session:
        return actor_by_username(session, username)


def cmd_init(args) -> int:
    db = _db(args)
    print(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_demo(args) -> int:
    from core.demo.synthetic import Scale, generate
    from core.storage.db import DEFAULT_DB_PATH

    if not args.database and not os.environ.get("SOHOA_DATABASE_URL"):
        # The embedded default: rebuild the demo file from scratch each time.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DEFAULT_DB_PATH}{suffix}").unlink(missing_ok=True)
    pki_dir = VAR / "pki"
    shutil.rmtree(pki_dir, ignore_errors=True)
    shutil.rmtree(VAR / "analytics", ignore_errors=True)  # facts of an earlier demo: rebuilt on first view
    db = _db(args)
    scale = Scale(districts=args.districts, schools_per_district=args.schools_per_district,
                  classes_per_school=args.classes_per_school, weeks=args.weeks, seed=args.seed,
                  transcript_classes=args.transcript_classes)
    report = generate(db, scale, pki_dir=pki_dir, progress=not args.quiet,
                      responder_url=f"http://127.0.0.1:{PKI_PORT}")
    print(report)
    if args.serve:
        return _serve(db, args)
    return _print_report(db, "so.giamsat", None)


def cmd_import(args) -> int:
    from core.kernel.errors import ImportRejected
    from core.school.importer import import_file

    db = _db(args)
    try:
        result = import_file(db, _actor(db, args.user), args.kind, args.file,
                             department_id=args.department, school_year_id=args.school_year)
    except ImportRejected as err:
        print(f"import rejected, nothing was imported ({len(err.problems)} problems):", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(result)
    return 0


def _print_report(db, username: str, week_number: int | None) -> int:
    """The weekly report of ``username``'s scope: the user first, then the weeks they may see."""
    from core.kernel.errors import NotFound
    from core.logbook.compliance import weekly_report
    from core.logbook.queries import weeks_in_scope

    actor = _actor(db, username)
    weeks = weeks_in_scope(db, actor)
    if week_number is not None:
        weeks = weeks[weeks["number"] == week_number]
    if weeks.empty:
        raise NotFound(f"no logbook week{'' if week_number is None else f' {week_number}'} in the scope of "
                       f"{username} (run `sohoa demo` or import data first)",
                       message_vi=f"Không có tuần sổ đầu bài nào trong phạm vi của {username}")
    print(weekly_report(db, actor, int(weeks["week_id"].iloc[-1])))
    return 0


def cmd_report(args) -> int:
    return _print_report(_db(args), args.user, args.week)


def _serve(db, args) -> int:
    from core.signatures import DemoPKI
    from core.signatures.ltv_responder import LongTermResponder
    from dashboards.app import serve

    _print_report(db, "so.giamsat", None)
    pki = DemoPKI.load(VAR / "pki")
    trust = pki.trust_store()
    if pki.responder_url:
        LongTermResponder(pki).start(int(pki.responder_url.rsplit(":", 1)[1]))  # closed weeks are B-LTA
        os.environ.setdefault("SOHOA_TSA_URL", f"{pki.responder_url}/tsa")
        trust = pki.trust_store(check_revocation=True)
        print(f"PKI responder (CRL, OCSP, TSA): {pki.responder_url}")
    port = getattr(args, "port", 5006)
    print(f"Bảng điều khiển / console: http://127.0.0.1:{port}/login  (demo password: sohoa-demo)")
    from core.analytics.store import AnalyticsStore

    serve(db, trust, port=port, pki_dir=VAR / "pki", analytics_store=AnalyticsStore(VAR / "analytics"))
    return 0


def cmd_serve(args) -> int:
    return _serve(_db(args), args)


def cmd_retimestamp(args) -> int:
    """Renew the archive timestamps of the B-LTA documents that are due (docs/long-term-signatures.md: run it
    daily): select, extend in chunks with a progress bar, one audit event per school and chunk."""
    import datetime as dt

    from core.signatures.renewal import due, retimestamp

    db = _db(args)
    actor = _actor(db, args.user)
    margin = dt.timedelta(days=args.margin_days)
    if args.dry_run:
        found = due(db, actor, margin=margin)
        print("due: " + ", ".join(f"{kind} {len(ids)}" for kind, ids in found.items()))
        return 0
    tsa = args.tsa or os.environ.get("SOHOA_TSA_URL")
    if not tsa:
        from core.kernel.errors import RuleViolation

        raise RuleViolation("no timestamp authority: set SOHOA_TSA_URL or pass --tsa URL",
                            message_vi="Chưa có dịch vụ cấp dấu thời gian: đặt SOHOA_TSA_URL hoặc dùng --tsa URL")
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=0, unit="tài liệu", desc="Gia hạn dấu thời gian")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    report = retimestamp(db, actor, tsa, margin=margin, progress=progress if bar else None)
    if bar:
        bar.close()
    print(report)
    return 0


def cmd_api(args) -> int:
    """The signing API for teachers' apps (uvicorn, ``--workers`` processes)."""
    import uvicorn

    if args.database:
        os.environ["SOHOA_DATABASE_URL"] = args.database
    os.environ.setdefault("SOHOA_PKI_DIR", str(VAR / "pki"))
    print(f"API: http://{args.host}:{args.port}/docs  (OpenAPI: /openapi.json; guide: docs/api.md)")
    uvicorn.run("api.app:app_from_environment", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    from core.school.importer import KINDS

    parser = argparse.ArgumentParser(prog="sohoa", description="Sổ đầu bài số & học bạ số")
    parser.add_argument("--database", help="database URL (default: SOHOA_DATABASE_URL or ./var/sohoa.db)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="create or migrate the database").set_defaults(func=cmd_init)

    demo = sub.add_parser("demo", help="build the demo dataset, then show the console / report")
    demo.add_argument("--districts", type=int, default=2)
    demo.add_argument("--schools-per-district", type=int, default=4)
    demo.add_argument("--classes-per-school", type=int, default=8)
    demo.add_argument("--weeks", type=int, default=18)
    demo.add_argument("--seed", type=int, default=2025)
    demo.add_argument("--transcript-classes", type=int, default=2,
                      help="classes per school with gradebooks and transcripts (each school at its own step)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--serve", action=argparse.BooleanOptionalAction, default=True,
                      help="start the console after building (default)")
    demo.set_defaults(func=cmd_demo)

    imp = sub.add_parser("import", help="import a CSV or Excel template (all or nothing)")
    imp.add_argument("kind", choices=list(KINDS))
    imp.add_argument("file")
    imp.add_argument("--user", default="admin", help="the acting user (default: admin)")
    imp.add_argument("--department", type=int)
    imp.add_argument("--school-year", type=int)
    imp.set_defaults(func=cmd_import)

    rep = sub.add_parser("report", help="print the weekly compliance report")
    rep.add_argument("--week", type=int, help="teaching week number (default: the latest)")
    rep.add_argument("--user", default="so.giamsat", help="whose scope (default: the department supervisor)")
    rep.set_defaults(func=cmd_report)

    srv = sub.add_parser("serve", help="start the console")
    srv.add_argument("--port", type=int, default=5006)
    srv.set_defaults(func=cmd_serve)

    api = sub.add_parser("api", help="start the signing API for teachers' apps")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    api.set_defaults(func=cmd_api)

    ret = sub.add_parser("retimestamp", help="renew the archive timestamps of the B-LTA documents that are due")
    ret.add_argument("--margin-days", type=int, default=365,
                     help="renew what stops being verifiable within this many days (default 365)")
    ret.add_argument("--tsa", help="the timestamp authority (default: SOHOA_TSA_URL)")
    ret.add_argument("--user", default="system", help="the acting user (default: the system)")
    ret.add_argument("--dry-run", action="store_true", help="only count what is due")
    ret.add_argument("--quiet", action="store_true", help="no progress bar")
    ret.set_defaults(func=cmd_retimestamp)

    args = parser.parse_args(argv)
    from core.kernel.errors import SohoaError

    try:
        return args.func(args)
    except SohoaError as err:  # the CLI's one error mapper: both languages, exit status 1
        print(f"lỗi: {err.message_vi}\nerror: {err.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
