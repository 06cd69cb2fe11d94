"""The ``sohoa`` command line: init, demo, import, report, serve, api, pki, checkpoint, verify-integrity,
retimestamp, package. The composition root of
the product (like a bootstrap module): the one place of core that starts the console and the
API, so it imports them; nothing else in core does."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

VAR = Path("var")
#: The demo PKI's CRL / OCSP / timestamp responder's port (setting ``SOHOA_PKI_PORT``): its own
#: process (``sohoa pki serve``), which ``sohoa demo`` starts beside the console.
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
    from core.storage.db import database_url, normalise_url
    from core.storage.privileges import grant_again, role_url, setup_roles

    # migrations run as the owner role: SOHOA_MIGRATION_DATABASE_URL when the runtime's URL is another
    url = normalise_url(args.database or os.environ.get("SOHOA_MIGRATION_DATABASE_URL") or database_url())
    if args.roles:
        if not url.startswith("postgresql"):
            from core.kernel.errors import BadRequest

            raise BadRequest("--roles is for PostgreSQL: the embedded database has no roles",
                             message_vi="--roles chỉ dùng với PostgreSQL: cơ sở dữ liệu nhúng không có vai trò")
        setup_roles(url, args.owner, args.runtime)
        print(f"roles ready: {args.owner} owns the schema and runs the migrations; {args.runtime} is the runtime "
              f"role (no ownership, no TRUNCATE, evidence tables append-only)")
        print(f"  migrations (SOHOA_MIGRATION_DATABASE_URL): {role_url(url, args.owner)}")
        print(f"  console, API, jobs (SOHOA_DATABASE_URL):    {role_url(url, args.runtime)}")
        return 0
    args.database = url
    db = _db(args)
    print(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")
    for role in grant_again(url):
        print(f"runtime role {role}: privileges granted again")
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
        os.environ.setdefault("SOHOA_SERVER_HELD_KEYS", "demo")  # the demo's staff keys, its 4-digit demo PIN
        args.responder = True
        return _serve(db, args)
    return _print_report(db, "so.giamsat", None)


def cmd_import(args) -> int:
    from core.kernel.errors import ImportRejected
    from core.school.importer import import_file

    db = _db(args)
    try:
        if args.kind == "grades":
            from core.transcripts.grade_import import import_grades

            result = import_grades(db, _actor(db, args.user), args.file, school_year_id=args.school_year)
        else:
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


def _deliveries(deliveries, what: str) -> int:
    for d in deliveries:
        print(f"{'sent' if d.ok else 'NOT SENT'} {what} → {d.to or '(no address)'}"
              + ("" if d.ok else f": {d.detail}"))
    print(f"{sum(d.ok for d in deliveries)}/{len(deliveries)} {what}(s) sent")
    return 0 if all(d.ok for d in deliveries) else 1


def cmd_digest(args) -> int:
    """The Monday digest to every principal with an e-mail and the ``--to user=address`` readers
    (a periodic job runs it every Monday morning)."""
    from core.access.channels import EmailChannel
    from core.logbook.digest import send_digests

    extra = dict(item.split("=", 1) for item in args.to or [])
    return _deliveries(send_digests(_db(args), EmailChannel(args.smtp_host, args.smtp_port), week_number=args.week,
                                    extra=extra), "digest")


def cmd_alerts(args) -> int:
    """Alert the principal of every school below the department's threshold this week."""
    from core.access.channels import EmailChannel
    from core.logbook.digest import threshold_alerts

    return _deliveries(threshold_alerts(_db(args), EmailChannel(args.smtp_host, args.smtp_port),
                                        week_number=args.week), "alert")


def _serve(db, args) -> int:
    """The console, with the trust anchors only (``var/pki/anchors``): never a CA key. With
    ``args.responder`` the demo CA's responder runs beside it as its own process."""
    from core.signatures.anchors import load_anchors
    from core.signatures.held_keys import HeldKeys
    from dashboards.app import serve

    _print_report(db, "so.giamsat", None)
    anchors = load_anchors(VAR / "pki")
    trust = anchors.trust_store()
    responder = None
    if anchors.responder_url:
        if getattr(args, "responder", False):
            responder = start_responder(VAR / "pki", int(anchors.responder_url.rsplit(":", 1)[1]))
        os.environ.setdefault("SOHOA_TSA_URL", anchors.tsa_url or f"{anchors.responder_url}/tsa")
        trust = anchors.trust_store(check_revocation=True)
        print(f"PKI responder (CRL, OCSP, TSA): {anchors.responder_url}")
    held = HeldKeys.from_environment(VAR / "pki")
    from core.evidence.checkpoints import Checkpointer

    checkpoints = Checkpointer.from_environment(db)
    if checkpoints is not None:  # periodic checkpoints while the console runs
        checkpoints.start()
        print(f"checkpoints every {checkpoints.interval:.0f} s: {checkpoints.store}")
    port = getattr(args, "port", 5006)
    print(f"Bảng điều khiển / console: http://127.0.0.1:{port}/login  (demo password: sohoa-demo)")
    from core.analytics.store import AnalyticsStore

    try:
        serve(db, trust, port=port, pki_dir=held, analytics_store=AnalyticsStore(VAR / "analytics"))
    finally:
        if responder is not None:
            responder.terminate()
            responder.wait(10)
    return 0


def start_responder(pki_dir: Path, port: int):
    """``sohoa pki serve`` as a child process (the CA's keys stay in that process), once it
    answers on ``port``."""
    import subprocess
    import time
    import urllib.request

    child = subprocess.Popen([sys.executable, "-m", "core.cli", "pki", "--dir", str(pki_dir), "serve",
                              "--port", str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/crl", timeout=2):
                return child
        except OSError:
            if child.poll() is not None:
                raise RuntimeError(f"the PKI responder stopped at start (port {port} in use? set SOHOA_PKI_PORT)")
            time.sleep(0.2)
    child.terminate()
    raise RuntimeError(f"the PKI responder did not answer on port {port}")


def cmd_pki(args) -> int:
    """The demo CA (its own command; a server never reads ``ca/``): ``init`` creates the CA and
    the service seal, ``issue`` a staff member's or a school's certificate, ``revoke`` one,
    ``serve`` runs the CRL/OCSP/TSA responder in the foreground."""
    import datetime as dt

    from core.signatures.pki import DemoPKI

    directory = Path(args.dir)
    if args.pki_command == "init":
        url = args.responder_url or f"http://127.0.0.1:{PKI_PORT}"
        pki = DemoPKI.create(directory, responder_url=url)
        pki.issue_service_seal(not_before=dt.datetime(2025, 1, 1))
        print(f"demo CA in {directory / 'ca'} (private: only `sohoa pki` reads it); trust anchors for the servers "
              f"in {directory / 'anchors'}; responder {url}")
        return 0
    pki = DemoPKI.load(directory)
    if args.pki_command == "issue":
        issue = pki.issue_seal if args.seal else pki.issue_personal
        cred = issue(args.owner, args.name, pin=args.pin)
        print(f"issued {cred.subject}: serial {cred.serial_hex}, fingerprint {cred.fingerprint}, key {cred.p12_path}")
        return 0
    if args.pki_command == "revoke":
        at = dt.datetime.fromisoformat(args.at) if args.at else None
        from core.kernel import clock

        pki.revoke(args.serial, at or clock.now())
        print(f"revoked {args.serial}: the responder's CRL and OCSP say so from now on")
        return 0
    from core.signatures.ltv_responder import LongTermResponder

    port = args.port or (int(pki.responder_url.rsplit(":", 1)[1]) if pki.responder_url else PKI_PORT)
    print(f"PKI responder (CRL, OCSP, TSA; long-term validation): http://127.0.0.1:{port}", flush=True)
    LongTermResponder(pki).serve_forever(port)
    return 0


def _pki_parser(sub) -> None:
    pki = sub.add_parser("pki", help="the demo CA: init, issue, revoke, serve (its keys never reach a server)")
    pki.add_argument("--dir", default=str(VAR / "pki"), help="the PKI directory (default var/pki)")
    verbs = pki.add_subparsers(dest="pki_command", required=True)
    init = verbs.add_parser("init", help="create the root and issuing CA, the TSA and the service seal")
    init.add_argument("--responder-url", help=f"default http://127.0.0.1:$SOHOA_PKI_PORT ({PKI_PORT})")
    issue = verbs.add_parser("issue", help="issue a certificate and its PKCS#12 key file (keys/<owner>.p12)")
    issue.add_argument("owner", help="e.g. staff-12 or school-3")
    issue.add_argument("name", help="the holder's name (the certificate's CN)")
    issue.add_argument("--seal", action="store_true", help="a school's organisation certificate")
    issue.add_argument("--pin", default="1234", help="the key file's PIN (demo)")
    revoke = verbs.add_parser("revoke", help="revoke a certificate by its serial (hex)")
    revoke.add_argument("serial")
    revoke.add_argument("--at", help="from when (ISO, Vietnam time; default now)")
    serve = verbs.add_parser("serve", help="run the CRL/OCSP/TSA responder (foreground)")
    serve.add_argument("--port", type=int, help=f"default: the responder URL's port, else SOHOA_PKI_PORT ({PKI_PORT})")
    pki.set_defaults(func=cmd_pki)


def cmd_serve(args) -> int:
    return _serve(_db(args), args)


def _evidence(args, *, seal_needed: bool):
    """The checkpoint store, the trust anchors and the service seal; to write (``seal_needed``),
    the demo PKI's timestamp authority is started for the command when nothing answers there."""
    from core.evidence.checkpoints import seal_from_environment
    from core.evidence.store import DirectoryStore
    from core.kernel.errors import SigningUnavailable
    from core.signatures.anchors import load_anchors

    pki_dir = Path(os.environ.get("SOHOA_PKI_DIR", str(VAR / "pki")))
    os.environ.setdefault("SOHOA_PKI_DIR", str(pki_dir))
    store = DirectoryStore(args.dir or os.environ.get("SOHOA_CHECKPOINT_DIR") or VAR / "checkpoints")
    anchors = load_anchors(pki_dir)  # a job reads the trust anchors only, never a CA key
    responder = None
    if seal_needed and not os.environ.get("SOHOA_TSA_URL") and anchors.responder_url:
        os.environ["SOHOA_TSA_URL"] = anchors.tsa_url or f"{anchors.responder_url}/tsa"
        if not _answers(anchors.responder_url) and (pki_dir / "ca").is_dir():  # the demo: the CA's own process
            responder = start_responder(pki_dir, int(anchors.responder_url.rsplit(":", 1)[1]))
    seal = seal_from_environment()
    if seal is None and seal_needed:
        raise SigningUnavailable("no service seal: set SOHOA_SEAL_KEY (its PKCS#12 file) and SOHOA_SEAL_PIN",
                                 message_vi="Chưa có con dấu của hệ thống: hãy đặt SOHOA_SEAL_KEY và SOHOA_SEAL_PIN")
    return store, anchors.trust_store(), seal, responder


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{url}/crl", timeout=2).close()
        return True
    except (urllib.error.URLError, OSError):
        return False


def cmd_checkpoint(args) -> int:
    """Write a checkpoint now (cron, a systemd timer), or keep writing them (``--loop``)."""
    import time

    from core.evidence.checkpoints import write_checkpoint

    db = _db(args)
    store, _trust, seal, responder = _evidence(args, seal_needed=True)
    try:
        while True:
            written = write_checkpoint(db, seal, store, reason=args.reason, force=args.force)
            if written is None:
                print(f"không có gì mới kể từ mốc trước / nothing new since the last checkpoint ({store.path})")
            else:
                print(f"đã ghi mốc kiểm chứng / checkpoint written: {store.path / written.name} (sha256 {written.sha256})")
            if not args.loop:
                return 0
            time.sleep(args.interval)
    finally:
        if responder is not None:
            responder.terminate()


#: The kinds of discrepancy, as a user reads them.
KINDS_VI = {"audit": "nhật ký", "receipt": "biên nhận", "entry": "tiết học", "transcript": "học bạ",
            "week": "sổ tuần", "checkpoint": "mốc kiểm chứng"}


def cmd_verify_integrity(args) -> int:
    """Check the record store against the checkpoints; print every discrepancy; exit 1 if any."""
    from core.evidence.integrity import verify_integrity

    db = _db(args)
    store, trust, seal, _ = _evidence(args, seal_needed=False)  # checking needs no timestamp authority
    seals = list(args.seal_fingerprint or []) or [f for f in os.environ.get("SOHOA_SEAL_FINGERPRINT", "").split(",")
                                                   if f.strip()]
    if not seals and seal is not None:
        seals = [seal.fingerprint]
    found = verify_integrity(db, trust, store, seals=seals or None, entry_signatures=args.entry_signatures)
    if not seals:
        print("lưu ý: chưa ghim con dấu của hệ thống (--seal-fingerprint) / note: the service seal is not pinned "
              "(--seal-fingerprint): any certificate the trust anchors accept may sign a checkpoint")
    if not found:
        print(f"Không phát hiện sai lệch nào / no discrepancy ({len(store.names())} checkpoints, {store.path})")
        return 0
    print(f"Phát hiện {len(found)} sai lệch / {len(found)} discrepancies found ({store.path}):")
    for item in found:
        print(f"- [{KINDS_VI.get(item.kind, item.kind)} / {item.kind}] {item.subject}")
        print(f"    {item.message_vi}")
        print(f"    {item.message}")
    return 1


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


def cmd_package(args) -> int:
    """A transfer package (hồ sơ chuyển trường) or a push to the city: ``export`` seals the issued
    transcripts of the named students with the school's seal, addressed to the receiving school
    (or the department); ``import`` verifies a package addressed to this school under the trust
    policy and records it once (docs/packages.md)."""
    from core.access.authz import Permission
    from core.signatures.anchors import load_anchors
    from core.transcripts import transfer

    db = _db(args)
    actor = _actor(db, args.user)
    if args.verb == "export":
        import getpass

        from core.signatures.signer import SoftwareSigner

        school_id, students = transfer.school_and_students(db, actor, args.school, Permission.ISSUE_TRANSCRIPT,
                                                           args.students.split(","))
        pin = os.environ.get("SOHOA_SCHOOL_SEAL_PIN") or getpass.getpass("Mã PIN con dấu của trường / seal PIN: ")
        seal = SoftwareSigner.from_pkcs12(Path(args.seal_key), pin)
        package = transfer.export_package(db, actor, school_id, seal, student_ids=students, to=args.to,
                                          purpose=args.purpose)
        Path(args.out).write_bytes(package)
        print(f"đã xuất gói / package written: {args.out} ({len(package):,} bytes)".replace(",", "."))
        return 0
    school_id, _ = transfer.school_and_students(db, actor, args.school, Permission.IMPORT_DATA)
    trust = load_anchors(Path(os.environ.get("SOHOA_PKI_DIR", str(VAR / "pki")))).trust_store(check_revocation=True)
    outcome = transfer.import_package(db, actor, school_id, Path(args.file).read_bytes(), trust)
    print(f"{outcome.message_vi}\n{outcome.message}")
    return 0


def cmd_api(args) -> int:
    """The signing API for teachers' apps (uvicorn, ``--workers`` processes)."""
    import uvicorn

    if args.database:
        os.environ["SOHOA_DATABASE_URL"] = args.database
    os.environ.setdefault("SOHOA_PKI_DIR", str(VAR / "pki"))
    if os.environ["SOHOA_PKI_DIR"] == str(VAR / "pki"):  # the demo's PKI: its service seal's demo PIN
        os.environ.setdefault("SOHOA_SEAL_PIN", "1234")
    print(f"API: http://{args.host}:{args.port}/docs  (OpenAPI: /openapi.json; guide: docs/api.md)")
    uvicorn.run("api.app:app_from_environment", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    from core.school.importer import KINDS

    parser = argparse.ArgumentParser(prog="sohoa", description="Sổ đầu bài số & học bạ số")
    parser.add_argument("--database", help="database URL (default: SOHOA_DATABASE_URL or ./var/sohoa.db)")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create or migrate the database (as the owner role on PostgreSQL)")
    init.add_argument("--roles", action="store_true",
                      help="PostgreSQL, as a superuser: create the owner and runtime roles, hand the schema to the "
                           "owner, migrate as it, grant the runtime role least privilege (idempotent)")
    init.add_argument("--owner", default="sohoa_owner", help="the owner role (default: sohoa_owner)")
    init.add_argument("--runtime", default="sohoa_app", help="the runtime role (default: sohoa_app)")
    init.set_defaults(func=cmd_init)

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
    imp.add_argument("kind", choices=[*KINDS, "grades"],
                     help="a template (docs/import-templates.md); grades: a subject teacher's gradebook")
    imp.add_argument("file")
    imp.add_argument("--user", default="admin", help="the acting user (default: admin)")
    imp.add_argument("--department", type=int)
    imp.add_argument("--school-year", type=int)
    imp.set_defaults(func=cmd_import)

    rep = sub.add_parser("report", help="print the weekly compliance report")
    rep.add_argument("--week", type=int, help="teaching week number (default: the latest)")
    rep.add_argument("--user", default="so.giamsat", help="whose scope (default: the department supervisor)")
    rep.set_defaults(func=cmd_report)

    dig = sub.add_parser("digest", help="send the Monday digest by e-mail (principals, and --to readers)")
    dig.add_argument("--week", type=int, help="teaching week number (default: each reader's current week)")
    dig.add_argument("--to", action="append", metavar="USER=ADDRESS",
                     help="another reader and their address, e.g. phong.1=pgd1@example.vn (repeatable)")
    alr = sub.add_parser("alerts", help="e-mail the principals of schools below the department's threshold")
    alr.add_argument("--week", type=int, help="teaching week number (default: the current week)")
    for cmd, func in ((dig, cmd_digest), (alr, cmd_alerts)):
        cmd.add_argument("--smtp-host", help="SMTP server (default: SOHOA_SMTP_HOST)")
        cmd.add_argument("--smtp-port", type=int, help="SMTP port (default: SOHOA_SMTP_PORT or 25)")
        cmd.set_defaults(func=func)

    srv = sub.add_parser("serve", help="start the console")
    srv.add_argument("--port", type=int, default=5006)
    srv.add_argument("--responder", action="store_true",
                     help="also start the demo CA's responder (sohoa pki serve) as its own process")
    srv.set_defaults(func=cmd_serve)

    _pki_parser(sub)

    api = sub.add_parser("api", help="start the signing API for teachers' apps")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    api.set_defaults(func=cmd_api)

    chk = sub.add_parser("checkpoint", help="write a signed, timestamped checkpoint outside the database")
    chk.add_argument("--dir", help="the checkpoint directory (default: SOHOA_CHECKPOINT_DIR or ./var/checkpoints)")
    chk.add_argument("--reason", default="periodic")
    chk.add_argument("--force", action="store_true", help="write one even when nothing happened since the last")
    chk.add_argument("--loop", action="store_true", help="keep writing one every --interval seconds")
    chk.add_argument("--interval", type=float, default=float(os.environ.get("SOHOA_CHECKPOINT_INTERVAL", "3600")))
    chk.set_defaults(func=cmd_checkpoint)

    ver = sub.add_parser("verify-integrity", help="check the database against the checkpoints; exit 1 on any "
                                                  "discrepancy")
    ver.add_argument("--dir", help="the checkpoint directory (default: SOHOA_CHECKPOINT_DIR or ./var/checkpoints)")
    ver.add_argument("--seal-fingerprint", action="append",
                     help="SHA-256 of the service seal's certificate (repeat for a renewed seal; default: "
                          "SOHOA_SEAL_FINGERPRINT, else the configured seal's)")
    ver.add_argument("--entry-signatures", action=argparse.BooleanOptionalAction, default=True,
                     help="also read every lesson signature's signing time (default)")
    ver.set_defaults(func=cmd_verify_integrity)

    ret = sub.add_parser("retimestamp", help="renew the archive timestamps of the B-LTA documents that are due")
    ret.add_argument("--margin-days", type=int, default=365,
                     help="renew what stops being verifiable within this many days (default 365)")
    ret.add_argument("--tsa", help="the timestamp authority (default: SOHOA_TSA_URL)")
    ret.add_argument("--user", default="system", help="the acting user (default: the system)")
    ret.add_argument("--dry-run", action="store_true", help="only count what is due")
    ret.add_argument("--quiet", action="store_true", help="no progress bar")
    ret.set_defaults(func=cmd_retimestamp)

    pkg = sub.add_parser("package", help="export or import a transfer package of issued transcripts")
    pkg_verbs = pkg.add_subparsers(dest="verb", required=True)
    exp = pkg_verbs.add_parser("export", help="seal the issued transcripts of students for another school")
    exp.add_argument("--user", required=True, help="the acting principal (or administrator)")
    exp.add_argument("--school", required=True, help="the sending school's code")
    exp.add_argument("--students", required=True, help="the students' personal IDs, comma-separated")
    exp.add_argument("--to", help="the receiving school's code (a transfer)")
    exp.add_argument("--purpose", choices=("transfer", "city-push"), default="transfer")
    exp.add_argument("--seal-key", required=True, help="the school seal's PKCS#12 file (PIN: SOHOA_SCHOOL_SEAL_PIN "
                                                       "or a prompt)")
    exp.add_argument("--out", required=True, help="where to write the package (.zip)")
    imp_pkg = pkg_verbs.add_parser("import", help="verify a package addressed to this school and record it once")
    imp_pkg.add_argument("--user", required=True, help="the acting user (import rights at the school)")
    imp_pkg.add_argument("--school", required=True, help="the receiving school's code")
    imp_pkg.add_argument("file")
    pkg.set_defaults(func=cmd_package)

    args = parser.parse_args(argv)
    from core.kernel.errors import SohoaError

    try:
        return args.func(args)
    except SohoaError as err:  # the CLI's one error mapper: both languages, exit status 1
        print(f"lỗi: {err.message_vi}\nerror: {err.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
