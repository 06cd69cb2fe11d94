"""The ``sohoa`` command line: init, setup, account, demo, import, report, serve, api, pki, checkpoint,
verify-integrity, retimestamp, package, settings. The composition root of
the product (like a bootstrap module): the one place of core that starts the console and the
API, so it imports them; nothing else in core does.

Settings come from :mod:`core.kernel.settings` (the settings file, then ``SOHOA_*``), then the
options (``--config``, ``--database``, ``--data-dir``, ``--port``…); the command hands the result
on with :func:`core.kernel.settings.configure`, never through ``os.environ``."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from core.kernel import settings


def _settings() -> settings.Settings:
    return settings.current()


def _anchors(configured, **options):
    """The installation's trust anchors, or a one-line error saying where they were looked for."""
    from core.kernel.errors import NotFound
    from core.signatures.anchors import configured_anchors

    try:
        return configured_anchors(configured, **options)
    except FileNotFoundError as err:
        raise NotFound(f"{err}; the setting pki_dir (SOHOA_PKI_DIR) names the directory",
                       message_vi=f"Không có chứng thư gốc tin cậy trong {configured.effective_pki_dir}/anchors "
                                  "(mục cấu hình pki_dir)") from None


def ensure_port_free(host: str, port: int, setting: str) -> None:
    """Refuse, in one line naming the setting, a port another process holds (before any
    server starts, so never a traceback)."""
    import errno
    import socket

    from core.kernel.errors import Unavailable

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # as the servers bind (SO_REUSEADDR): a port left in TIME_WAIT by a server just stopped
        # is free, one another process listens on is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            variable = f"{settings.PREFIX}{setting.upper()}"
            raise Unavailable(f"port {port} on {host} is in use: choose another with the setting {setting} "
                              f"({variable}, or --port)",
                              message_vi=f"Cổng {port} trên {host} đang bị dùng: chọn cổng khác bằng mục cấu hình "
                                         f"{setting} ({variable}, hoặc --port)") from None


#: the commands that may create the embedded database file; any other refuses a missing one
#: (a command run with the wrong settings never answers from a new, empty database)
CREATES_DATABASE = {"init", "setup", "demo"}


def _db(args):
    from core.kernel.errors import NotFound
    from core.storage.db import Database, database_url
    from core.storage.migrate import upgrade

    configured = _settings()
    if not configured.database_url and args.command not in CREATES_DATABASE and not configured.database_file.exists():
        raise NotFound(f"no database at {configured.database_file}: run `sohoa setup` (or `sohoa demo`) first, or "
                       f"set data_dir / database_url (SOHOA_DATA_DIR, SOHOA_DATABASE_URL)",
                       message_vi=f"Chưa có cơ sở dữ liệu tại {configured.database_file}: hãy chạy `sohoa setup` "
                                  "(hoặc `sohoa demo`) trước, hoặc đặt data_dir / database_url")
    db = Database.from_url(database_url())  # the embedded file's directory is created here
    upgrade(db.engine)
    return db


def _actor(db, username: str):
    from core.access.authz import SYSTEM, actor_by_username

    if username == "system":
        return SYSTEM
    with db.reading() as session:
        return actor_by_username(session, username)


def _roles(url: str, args) -> None:
    """``--roles`` of ``sohoa init`` and ``sohoa setup``: one core call, one report."""
    from core.storage.privileges import prepare_roles

    ready = prepare_roles(url, args.owner, args.runtime)
    print(f"roles ready: {ready.owner} owns the schema and runs the migrations; {ready.runtime} is the runtime "
          f"role (no ownership, no TRUNCATE, evidence tables append-only)")
    print(f"  migrations (migration_database_url): {ready.owner_url}")
    print(f"  console, API, jobs (database_url):    {ready.runtime_url}")


def cmd_init(args) -> int:
    from core.storage.db import database_url, normalise_url
    from core.storage.privileges import grant_again

    # migrations run as the owner role: --database, else migration_database_url, else database_url
    url = normalise_url(args.database or _settings().migration_database_url or database_url())
    if args.roles:
        _roles(url, args)
        return 0
    db = _db_at(url)
    print(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")
    for role in grant_again(url):
        print(f"runtime role {role}: privileges granted again")
    return 0


def _typed_password(prompt_vi: str, prompt_en: str) -> str:
    """A password typed twice at a prompt (never echoed, never in the shell's history)."""
    import getpass

    from core.kernel.errors import MalformedInput

    first = getpass.getpass(f"{prompt_vi} / {prompt_en}: ")
    if getpass.getpass("Nhập lại / again: ") != first:
        raise MalformedInput("the two passwords differ", message_vi="Hai lần nhập mật khẩu không khớp")
    return first


def cmd_setup(args) -> int:
    """A real installation: the database (and its roles on PostgreSQL), the department, its
    school year and the first administrator (docs/operations.md)."""
    import datetime as dt

    from core.kernel.errors import BadRequest
    from core.school.installation import set_up
    from core.storage.db import database_url, normalise_url

    url = normalise_url(args.database or _settings().migration_database_url or database_url())
    if args.roles:
        _roles(url, args)
    db = _db_at(url)
    try:
        first_monday = dt.date.fromisoformat(args.first_monday)
        breaks = frozenset(dt.date.fromisoformat(b) for b in args.break_week or ())
    except ValueError as err:
        raise BadRequest(f"a date is YYYY-MM-DD: {err}", message_vi="Ngày viết dạng YYYY-MM-DD") from err
    password = None
    if not args.one_time_password:
        if not sys.stdin.isatty():
            raise BadRequest("no terminal to type the administrator's password: pass --one-time-password",
                             message_vi="Không có bàn phím để gõ mật khẩu quản trị: dùng --one-time-password")
        password = _typed_password("Mật khẩu quản trị viên", "administrator's password")
    done = set_up(db, department_code=args.department_code, department_name=args.department_name,
                  province_code=args.province, school_year=args.school_year, first_monday=first_monday,
                  breaks=breaks, admin_username=args.admin, admin_name=args.admin_name, admin_password=password)
    print(f"đã cài đặt / set up: department {args.department_code} (id {done.department_id}), school year "
          f"{args.school_year} ({done.weeks} teaching weeks), administrator {done.admin_username}")
    if done.one_time_password:
        print(f"mật khẩu dùng một lần / one-time password for {done.admin_username} (shown once; sign in and "
              f"change it): {done.one_time_password}")
    print("next: import the templates in order (docs/import-templates.md): schools, subjects, bells, staff, "
          "classes, students, timetable")
    return 0


def cmd_account(args) -> int:
    """Accounts: ``add`` one person who is not on a school's staff, ``staff`` every member of
    staff without one (a credentials sheet), ``password`` a new password typed at a prompt."""
    import csv

    from core.access.accounts import set_password
    from core.access.authz import SYSTEM
    from core.school.installation import add_account, staff_accounts

    db = _db(args)
    if args.verb == "password":
        set_password(db, SYSTEM, args.username, _typed_password(f"Mật khẩu mới của {args.username}",
                                                                  f"new password of {args.username}"))
        print(f"đã đặt mật khẩu / password set: {args.username}")
        return 0
    actor = _actor(db, args.user)
    if args.verb == "add":
        made = [add_account(db, actor, args.username, args.name, args.role, district_code=args.district)]
    else:
        made = staff_accounts(db, actor, school_code=args.school)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch(mode=0o600, exist_ok=True)
        out.chmod(0o600)
        with out.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            if fh.tell() == 0:
                writer.writerow(["username", "display_name", "role", "school_code", "one_time_password"])
            writer.writerows([a.username, a.display_name, a.role, a.school_code or "", a.one_time_password]
                             for a in made)
        print(f"đã tạo {len(made)} tài khoản / {len(made)} accounts created; one-time passwords in {out} "
              "(readable by you only: hand each person theirs, then delete the file)")
    else:
        for account in made:
            print(f"{account.username}\t{account.role}\t{account.school_code or '-'}\t{account.display_name}\t"
                  f"{account.one_time_password}")
        print(f"đã tạo {len(made)} tài khoản / {len(made)} accounts created (one-time passwords shown once)")
    return 0


def cmd_certificate(args) -> int:
    """Register a person's certificate (or a school's seal) from the CA: a PEM or DER file."""
    from sqlalchemy import select

    from core.kernel.errors import NotFound
    from core.signatures.certificates import register_certificate
    from core.storage.models import School, Staff

    db = _db(args)
    actor = _actor(db, args.user)
    data = Path(args.file).read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        data = x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
    with db.reading() as session:
        if args.staff:
            staff_id = session.scalar(select(Staff.id).where(Staff.code == args.staff))
            if staff_id is None:
                raise NotFound(f"no staff {args.staff!r}", message_vi=f"Không có cán bộ {args.staff!r}")
            target = {"staff_id": staff_id}
        else:
            school_id = session.scalar(select(School.id).where(School.code == args.school))
            if school_id is None:
                raise NotFound(f"no school {args.school!r}", message_vi=f"Không có trường {args.school!r}")
            target = {"school_id": school_id}
    certificate_id = register_certificate(db, actor, data, **target)
    print(f"đã đăng ký chứng thư / certificate registered: {certificate_id} ({args.staff or args.school})")
    return 0


def cmd_backup(args) -> int:
    from core.operations.backup import backup
    from core.storage.db import database_url

    _db(args)  # refuses a missing embedded database
    out = backup(database_url(), Path(args.out))
    print(f"đã sao lưu / backup written: {out} ({out.stat().st_size:,} bytes)".replace(",", "."))
    return 0


def cmd_restore(args) -> int:
    from core.operations.backup import restore

    restore(Path(args.file), args.into)
    print(f"đã khôi phục / restored into {args.into}; next: `sohoa --database <it> verify-integrity`, then point "
          "database_url at it")
    return 0


def cmd_scheduler(args) -> int:
    """The periodic jobs: ``--list`` them, ``--run JOB`` one now, else run the scheduler (one
    process per installation; Ctrl-C or SIGTERM stops it)."""
    from core.operations import jobs
    from core.operations.observability import configure_logging, share_metrics
    from core.signatures.anchors import configured_anchors

    configured = _settings()
    if args.list:
        for job in jobs.REGISTRY.values():
            fields = " ".join(f"{k}={v}" for k, v in job.schedule.items())
            print(f"{job.name:<18} {fields:<32} {job.description}")
        return 0
    configure_logging(configured)
    share_metrics(configured.effective_metrics_dir)  # the jobs' runs in the servers' scrapes
    db = _db(args)
    try:
        configured_anchors(configured)  # the TSA the trust anchors publish, when tsa_url is unset
    except FileNotFoundError:
        pass
    context = jobs.JobContext(db, configured)
    if args.run:
        for name in args.run:
            print(f"{name}: {jobs.run_job(name, context)}")
        return 0
    scheduled = jobs.scheduler(context)
    print(f"scheduler: {len(jobs.REGISTRY)} jobs ({', '.join(jobs.REGISTRY)}), Vietnam time", flush=True)
    try:
        scheduled.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


def _db_at(url: str):
    from core.storage.db import Database
    from core.storage.migrate import upgrade

    db = Database.from_url(url)
    upgrade(db.engine)
    return db


def cmd_demo(args) -> int:
    from core.demo.synthetic import Scale, generate

    configured = _settings()
    if args.serve:  # both ports checked before anything is built
        ensure_port_free(configured.console_host, configured.console_port, "console_port")
        ensure_port_free("127.0.0.1", configured.pki_port, "pki_port")
    if not configured.database_url:
        # The embedded default: rebuild the demo file from scratch each time.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{configured.database_file}{suffix}").unlink(missing_ok=True)
    pki_dir = configured.effective_pki_dir  # the PostgreSQL demo's is its own (pki-<database>)
    shutil.rmtree(pki_dir, ignore_errors=True)
    # facts of an earlier demo: rebuilt on first view
    shutil.rmtree(configured.effective_analytics_dir, ignore_errors=True)
    db = _db(args)
    scale = Scale(districts=args.districts, schools_per_district=args.schools_per_district,
                  classes_per_school=args.classes_per_school, weeks=args.weeks, seed=args.seed,
                  transcript_classes=args.transcript_classes)
    report = generate(db, scale, pki_dir=pki_dir, progress=not args.quiet,
                      responder_url=f"http://127.0.0.1:{configured.pki_port}")
    print(report)
    if args.serve:
        if configured.server_held_keys == "off":  # the demo's staff keys, its 4-digit demo PIN
            settings.configure(configured.replace(server_held_keys="demo"))
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
    except ImportRejected as err:  # each row's reason in both languages
        print(f"chưa nhập gì: tệp có {len(err.problems)} lỗi / import rejected, nothing was imported "
              f"({len(err.problems)} problems):", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem.vi()}\n    {problem}", file=sys.stderr)
        return 2
    print(result)
    return 0


def _print_report(db, username: str, week_number: int | None, *, quiet_if_missing: bool = False) -> int:
    """The weekly report of ``username``'s scope: the user first, then the weeks they may see
    (``quiet_if_missing``: nothing when there is no such user or week, as in a real installation)."""
    from core.kernel.errors import NotFound
    from core.logbook.compliance import weekly_report
    from core.logbook.queries import weeks_in_scope

    try:
        actor = _actor(db, username)
    except NotFound:
        if quiet_if_missing:
            return 0
        raise
    weeks = weeks_in_scope(db, actor)
    if week_number is not None:
        weeks = weeks[weeks["number"] == week_number]
    if weeks.empty:
        if quiet_if_missing:
            return 0
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
    """The console, with the trust anchors only (``<pki_dir>/anchors``): never a CA key. With
    ``args.responder`` the demo CA's responder runs beside it as its own process."""
    from core.operations.observability import share_metrics
    from core.signatures.held_keys import HeldKeys
    from dashboards.app import serve

    configured = _settings()
    ensure_port_free(configured.console_host, configured.console_port, "console_port")
    share_metrics(configured.effective_metrics_dir)  # one scrape totals every process
    _print_report(db, "so.giamsat", None, quiet_if_missing=True)
    anchors = _anchors(configured)
    trust = anchors.trust_store()
    responder = None
    if anchors.responder_url:
        if getattr(args, "responder", False):
            responder = start_responder(configured.effective_pki_dir, int(anchors.responder_url.rsplit(":", 1)[1]))
        trust = anchors.trust_store(check_revocation=True)
        print(f"PKI responder (CRL, OCSP, TSA): {anchors.responder_url}")
    held = HeldKeys.from_environment(configured.effective_pki_dir)
    from core.evidence.checkpoints import Checkpointer

    checkpoints = Checkpointer.from_environment(db)
    if checkpoints is not None:  # periodic checkpoints while the console runs
        checkpoints.start()
        print(f"checkpoints every {checkpoints.interval:.0f} s: {checkpoints.store}")
    port = configured.console_port
    demo = " (demo password: sohoa-demo)" if args.command == "demo" else ""
    print(f"Bảng điều khiển / console: http://{configured.console_host}:{port}/login{demo}", flush=True)
    from core.analytics.store import AnalyticsStore

    try:
        serve(db, trust, port=port, address=configured.console_host, pki_dir=held,
              analytics_store=AnalyticsStore(configured.effective_analytics_dir))
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

    ensure_port_free("127.0.0.1", port, "pki_port")
    child = subprocess.Popen([sys.executable, "-m", "core.cli", "pki", "--dir", str(pki_dir), "serve",
                              "--port", str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/crl", timeout=2):
                return child
        except OSError:
            if child.poll() is not None:
                from core.kernel.errors import Unavailable

                raise Unavailable(f"the PKI responder stopped at start (port {port}; setting pki_port)",
                                  message_vi=f"Dịch vụ CRL/OCSP/TSA dừng khi khởi động (cổng {port}; mục pki_port)")
            time.sleep(0.2)
    child.terminate()
    from core.kernel.errors import Unavailable

    raise Unavailable(f"the PKI responder did not answer on port {port}",
                      message_vi=f"Dịch vụ CRL/OCSP/TSA không trả lời ở cổng {port}")


def cmd_pki(args) -> int:
    """The demo CA (its own command; a server never reads ``ca/``): ``init`` creates the CA and
    the service seal, ``issue`` a staff member's or a school's certificate, ``revoke`` one,
    ``serve`` runs the CRL/OCSP/TSA responder in the foreground."""
    import datetime as dt

    from core.signatures.pki import DemoPKI

    configured = _settings()
    directory = Path(args.dir) if args.dir else configured.effective_pki_dir
    if args.pki_command == "init":
        url = args.responder_url or f"http://127.0.0.1:{configured.pki_port}"
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

    port = args.port or (int(pki.responder_url.rsplit(":", 1)[1]) if pki.responder_url else configured.pki_port)
    ensure_port_free("127.0.0.1", port, "pki_port")
    print(f"PKI responder (CRL, OCSP, TSA; long-term validation): http://127.0.0.1:{port}", flush=True)
    LongTermResponder(pki).serve_forever(port)
    return 0


def _pki_parser(sub) -> None:
    pki = sub.add_parser("pki", help="the demo CA: init, issue, revoke, serve (its keys never reach a server)")
    pki.add_argument("--dir", help="the PKI directory (default: the setting pki_dir, <data_dir>/pki)")
    verbs = pki.add_subparsers(dest="pki_command", required=True)
    init = verbs.add_parser("init", help="create the root and issuing CA, the TSA and the service seal")
    init.add_argument("--responder-url", help="default http://127.0.0.1:<pki_port> (setting pki_port, 8790)")
    issue = verbs.add_parser("issue", help="issue a certificate and its PKCS#12 key file (keys/<owner>.p12)")
    issue.add_argument("owner", help="e.g. staff-12 or school-3")
    issue.add_argument("name", help="the holder's name (the certificate's CN)")
    issue.add_argument("--seal", action="store_true", help="a school's organisation certificate")
    issue.add_argument("--pin", default="1234", help="the key file's PIN (demo)")
    revoke = verbs.add_parser("revoke", help="revoke a certificate by its serial (hex)")
    revoke.add_argument("serial")
    revoke.add_argument("--at", help="from when (ISO, Vietnam time; default now)")
    serve = verbs.add_parser("serve", help="run the CRL/OCSP/TSA responder (foreground)")
    serve.add_argument("--port", type=int, help="default: the responder URL's port, else the setting pki_port")
    pki.set_defaults(func=cmd_pki)


def cmd_serve(args) -> int:
    return _serve(_db(args), args)


def _evidence(args, *, seal_needed: bool):
    """The checkpoint store, the trust anchors and the service seal; to write (``seal_needed``),
    the demo PKI's timestamp authority is started for the command when nothing answers there."""
    from core.evidence.checkpoints import seal_from_environment
    from core.evidence.store import DirectoryStore
    from core.kernel.errors import SigningUnavailable

    configured = _settings()
    pki_dir = configured.effective_pki_dir
    store = DirectoryStore(Path(args.dir) if args.dir else configured.effective_checkpoint_dir)
    anchors = _anchors(configured)  # a job reads the trust anchors only, never a CA key
    responder = None
    if seal_needed and configured.tsa_url is None and anchors.responder_url:
        if not _answers(anchors.responder_url) and (pki_dir / "ca").is_dir():  # the demo: the CA's own process
            responder = start_responder(pki_dir, int(anchors.responder_url.rsplit(":", 1)[1]))
    seal = seal_from_environment()
    if seal is None and seal_needed:
        raise SigningUnavailable("no service seal: set seal_key (its PKCS#12 file) and seal_pin "
                                 "(SOHOA_SEAL_KEY, SOHOA_SEAL_PIN)",
                                 message_vi="Chưa có con dấu của hệ thống: hãy đặt seal_key và seal_pin "
                                            "(SOHOA_SEAL_KEY, SOHOA_SEAL_PIN)")
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
            time.sleep(_settings().checkpoint_interval)
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
    seals = list(args.seal_fingerprint or []) or list(_settings().seal_fingerprint)
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
    from core.signatures.anchors import configured_anchors

    tsa = args.tsa or _settings().tsa_url
    if tsa is None:
        try:
            tsa = configured_anchors(_settings()).tsa_url
        except FileNotFoundError:
            tsa = None
    if not tsa:
        from core.kernel.errors import RuleViolation

        raise RuleViolation("no timestamp authority: set tsa_url (SOHOA_TSA_URL) or pass --tsa URL",
                            message_vi="Chưa có dịch vụ cấp dấu thời gian: đặt tsa_url (SOHOA_TSA_URL) hoặc dùng --tsa URL")
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
    from core.signatures.anchors import configured_anchors
    from core.transcripts import transfer

    db = _db(args)
    actor = _actor(db, args.user)
    if args.verb == "export":
        import getpass

        from core.signatures.signer import SoftwareSigner

        school_id, students = transfer.school_and_students(db, actor, args.school, Permission.ISSUE_TRANSCRIPT,
                                                           args.students.split(","))
        pin = _settings().school_seal_pin or getpass.getpass("Mã PIN con dấu của trường / seal PIN: ")
        seal = SoftwareSigner.from_pkcs12(Path(args.seal_key), pin)
        package = transfer.export_package(db, actor, school_id, seal, student_ids=students, to=args.to,
                                          purpose=args.purpose)
        Path(args.out).write_bytes(package)
        print(f"đã xuất gói / package written: {args.out} ({len(package):,} bytes)".replace(",", "."))
        return 0
    trust = configured_anchors(_settings()).trust_store(check_revocation=True)
    if args.verb == "city-return":  # the department after admissions: one package per admitting school
        import getpass

        from core.signatures.signer import SoftwareSigner

        pin = _settings().school_seal_pin or getpass.getpass("Mã PIN con dấu của Sở / the department seal's PIN: ")
        seal = SoftwareSigner.from_pkcs12(Path(args.seal_key), pin)
        bundle, counts = transfer.department_city_return(
            db, actor, [Path(f).read_bytes() for f in args.pushed], Path(args.admissions).read_text(encoding="utf-8"),
            seal, trust)
        Path(args.out).write_bytes(bundle)
        each = ", ".join(f"{code} {n}" for code, n in sorted(counts.items()))
        print(f"đã trả hồ sơ / returned: {args.out} ({each})")
        return 0
    school_id, _ = transfer.school_and_students(db, actor, args.school, Permission.IMPORT_DATA)
    outcome = transfer.import_package(db, actor, school_id, Path(args.file).read_bytes(), trust)
    print(f"{outcome.message_vi}\n{outcome.message}")
    return 0


def cmd_transcript(args) -> int:
    """A transcript's Verifiable Credential (docs/transcript-data.md): ``credential issue`` seals
    the credential of an issued transcript with the school's seal (the principal);
    ``credential verify`` checks one under the trust policy and the record (exit 1 unless valid)."""
    from core.transcripts import credential

    configured = _settings()
    db = _db(args)
    if args.verb == "issue":
        import getpass

        from core.signatures.signer import SoftwareSigner

        actor = _actor(db, args.user)
        pin = configured.school_seal_pin or getpass.getpass("Mã PIN con dấu của trường / seal PIN: ")
        seal = SoftwareSigner.from_pkcs12(Path(args.seal_key), pin)
        token = credential.issue_credential(db, actor, seal, code=args.code)
        Path(args.out).write_text(token + "\n", encoding="ascii")
        print(f"đã cấp chứng chỉ / credential written ({credential.MEDIA_TYPE}): {args.out}")
        return 0
    trust = _anchors(configured).trust_store(check_revocation=True)
    check = credential.verify_credential(db, trust, Path(args.file).read_text(encoding="ascii", errors="replace"))
    print(f"{check.verdict_vi}\n{check.verdict}: {check.message}")
    print(f"con dấu / seal: {check.signature.indication} {check.signature.sub_indication or ''} "
          f"{check.signature.signer_subject or ''}".rstrip())
    if check.code:
        print(f"học bạ / transcript: {check.code}, {check.school_code}, {check.year}, {check.status or '—'}")
    return 0 if check.valid else 1


def cmd_export(args) -> int:
    """An export of the issued transcripts' data (docs/transcript-data.md): ``national`` for the
    national education database, ``oneroster`` as OneRoster 1.2 CSV; within the user's rights, audited."""
    from core.transcripts import exports

    db = _db(args)
    actor = _actor(db, args.user)
    make = exports.national_export if args.kind == "national" else exports.oneroster_export
    export = make(db, actor, school_code=args.school, year_name=args.year)
    Path(args.out).write_bytes(export.archive)
    counts = ", ".join(f"{k} {v}" for k, v in export.counts.items())
    print(f"đã xuất / exported: {args.out} ({', '.join(export.schools) or '—'}; {counts})")
    return 0


def cmd_api(args) -> int:
    """The signing API for teachers' apps (uvicorn, ``--workers`` processes, each given these
    settings: :func:`api.app.run`)."""
    from api.app import run

    configured = _settings()
    if configured.seal_pin is None and (configured.effective_pki_dir / "ca").is_dir():
        configured = configured.replace(seal_pin="1234")  # the demo's PKI: its service seal's demo PIN
    ensure_port_free(configured.api_host, configured.api_port, "api_port")
    _anchors(configured, responder_tsa=False)  # checked here, once, rather than in every worker
    print(f"API: http://{configured.api_host}:{configured.api_port}/docs  (OpenAPI: /openapi.json; guide: docs/api.md)",
          flush=True)
    run(configured)
    return 0


def main(argv: list[str] | None = None) -> int:
    from core.school.importer import KINDS

    parser = argparse.ArgumentParser(prog="sohoa", description="Sổ đầu bài số & học bạ số")
    parser.add_argument("--config", help="the settings file (TOML; default: SOHOA_CONFIG, else /etc/sohoa/sohoa.toml "
                                         "when it exists; docs/operations.md)")
    parser.add_argument("--database", help="database URL (default: the setting database_url, else "
                                           "<data_dir>/sohoa.db)")
    parser.add_argument("--data-dir", help="the data directory (default: the setting data_dir)")
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create or migrate the database (as the owner role on PostgreSQL)")
    init.add_argument("--roles", action="store_true",
                      help="PostgreSQL, as a superuser: create the owner and runtime roles, hand the schema to the "
                           "owner, migrate as it, grant the runtime role least privilege (idempotent)")
    init.add_argument("--owner", default="sohoa_owner", help="the owner role (default: sohoa_owner)")
    init.add_argument("--runtime", default="sohoa_app", help="the runtime role (default: sohoa_app)")
    init.set_defaults(func=cmd_init)

    setup = sub.add_parser("setup", help="a real installation: database (and roles), department, school year, "
                                         "first administrator")
    setup.add_argument("--department-code", required=True, help="e.g. SGD79")
    setup.add_argument("--department-name", required=True, help="e.g. 'Sở GD&ĐT TP. Hồ Chí Minh'")
    setup.add_argument("--province", required=True, help="the province's 3-digit code, e.g. 079")
    setup.add_argument("--school-year", required=True, help="e.g. 2025-2026")
    setup.add_argument("--first-monday", required=True, help="the first teaching Monday, YYYY-MM-DD")
    setup.add_argument("--break", dest="break_week", action="append",
                       help="the Monday of a whole-week break (Tết), repeat for several")
    setup.add_argument("--admin", default="admin", help="the first administrator's username (default: admin)")
    setup.add_argument("--admin-name", default="Quản trị hệ thống")
    setup.add_argument("--one-time-password", action="store_true",
                       help="print a one-time password for the administrator instead of asking for one")
    setup.add_argument("--roles", action="store_true", help="PostgreSQL, as a superuser: also the owner and "
                                                             "runtime roles (as `sohoa init --roles`)")
    setup.add_argument("--owner", default="sohoa_owner")
    setup.add_argument("--runtime", default="sohoa_app")
    setup.set_defaults(func=cmd_setup)

    account = sub.add_parser("account", help="accounts: add one, make the staff's, set a password")
    account_verbs = account.add_subparsers(dest="verb", required=True)
    add = account_verbs.add_parser("add", help="a supervisor, analyst, monitor or administrator (one-time password)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["department_supervisor", "district_supervisor", "analyst",
                                                       "school_monitor", "administrator"])
    add.add_argument("--name", required=True, help="the person's name")
    add.add_argument("--district", help="the district's code (a district supervisor)")
    staff = account_verbs.add_parser("staff", help="an account for each member of staff without one")
    staff.add_argument("--school", help="one school's code (default: every school)")
    for verb in (add, staff):
        verb.add_argument("--user", default="admin", help="the acting administrator (default: admin)")
        verb.add_argument("--out", help="append the one-time passwords to this CSV file (mode 0600) instead of "
                                        "printing them")
    password = account_verbs.add_parser("password", help="set a user's password, typed at a prompt")
    password.add_argument("username")
    account.set_defaults(func=cmd_account)

    cert = sub.add_parser("certificate", help="register a person's certificate or a school's seal (PEM or DER)")
    cert.add_argument("file")
    owner = cert.add_mutually_exclusive_group(required=True)
    owner.add_argument("--staff", help="the staff member's code")
    owner.add_argument("--school", help="the school's code (its seal)")
    cert.add_argument("--user", default="admin", help="the acting user (default: admin)")
    cert.set_defaults(func=cmd_certificate)

    bak = sub.add_parser("backup", help="back the database up to a new file (pg_dump --format=custom; SQLite: a copy)")
    bak.add_argument("--out", required=True)
    bak.set_defaults(func=cmd_backup)
    res = sub.add_parser("restore", help="restore a backup into a new, empty database")
    res.add_argument("file")
    res.add_argument("--into", required=True, help="the empty database's URL (PostgreSQL as a superuser or the owner)")
    res.set_defaults(func=cmd_restore)

    sch = sub.add_parser("scheduler", help="run the periodic jobs (one process per installation)")
    sch.add_argument("--list", action="store_true", help="list the jobs and their times")
    sch.add_argument("--run", action="append", metavar="JOB", help="run this job now and stop (repeat for several)")
    sch.set_defaults(func=cmd_scheduler)

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
    demo.add_argument("--port", type=int, help="the console's port (default: the setting console_port, 5006)")
    demo.add_argument("--pki-port", type=int, help="the demo PKI responder's port (default: the setting pki_port, "
                                                   "8790)")
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
    srv.add_argument("--port", type=int, help="default: the setting console_port (5006)")
    srv.add_argument("--responder", action="store_true",
                     help="also start the demo CA's responder (sohoa pki serve) as its own process")
    srv.set_defaults(func=cmd_serve)

    _pki_parser(sub)

    api = sub.add_parser("api", help="start the signing API for teachers' apps")
    api.add_argument("--host", help="default: the setting api_host (127.0.0.1)")
    api.add_argument("--port", type=int, help="default: the setting api_port (8000)")
    api.add_argument("--workers", type=int, help="default: the setting api_workers, else one per CPU")
    api.set_defaults(func=cmd_api)

    chk = sub.add_parser("checkpoint", help="write a signed, timestamped checkpoint outside the database")
    chk.add_argument("--dir", help="the checkpoint directory (default: the setting checkpoint_dir, else "
                                   "<data_dir>/checkpoints)")
    chk.add_argument("--reason", default="periodic")
    chk.add_argument("--force", action="store_true", help="write one even when nothing happened since the last")
    chk.add_argument("--loop", action="store_true", help="keep writing one every --interval seconds")
    chk.add_argument("--interval", type=float, help="seconds (default: the setting checkpoint_interval, 3600)")
    chk.set_defaults(func=cmd_checkpoint)

    ver = sub.add_parser("verify-integrity", help="check the database against the checkpoints; exit 1 on any "
                                                  "discrepancy")
    ver.add_argument("--dir", help="the checkpoint directory (default: the setting checkpoint_dir, else "
                                   "<data_dir>/checkpoints)")
    ver.add_argument("--seal-fingerprint", action="append",
                     help="SHA-256 of the service seal's certificate (repeat for a renewed seal; default: "
                          "the setting seal_fingerprint, else the configured seal's)")
    ver.add_argument("--entry-signatures", action=argparse.BooleanOptionalAction, default=True,
                     help="also read every lesson signature's signing time (default)")
    ver.set_defaults(func=cmd_verify_integrity)

    ret = sub.add_parser("retimestamp", help="renew the archive timestamps of the B-LTA documents that are due")
    ret.add_argument("--margin-days", type=int, default=365,
                     help="renew what stops being verifiable within this many days (default 365)")
    ret.add_argument("--tsa", help="the timestamp authority (default: the setting tsa_url)")
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
    exp.add_argument("--seal-key", required=True, help="the school seal's PKCS#12 file (PIN: the setting "
                                                       "school_seal_pin or a prompt)")
    exp.add_argument("--out", required=True, help="where to write the package (.zip)")
    ret = pkg_verbs.add_parser("city-return", help="the department after admissions: from the schools' pushed "
                                                    "packages, one package per admitting school (one ZIP of them)")
    ret.add_argument("--user", required=True, help="the acting department supervisor (or administrator)")
    ret.add_argument("--admissions", required=True,
                     help="the admissions: a text file, one student a line: personal ID, admitting school's code")
    ret.add_argument("--seal-key", required=True, help="the department seal's PKCS#12 file (PIN: the setting "
                                                       "school_seal_pin or a prompt)")
    ret.add_argument("--out", required=True, help="where to write the ZIP of <school code>.zip packages")
    ret.add_argument("pushed", nargs="+", help="the schools' city-push packages")
    imp_pkg = pkg_verbs.add_parser("import", help="verify a package addressed to this school and record it once")
    imp_pkg.add_argument("--user", required=True, help="the acting user (import rights at the school)")
    imp_pkg.add_argument("--school", required=True, help="the receiving school's code")
    imp_pkg.add_argument("file")
    pkg.set_defaults(func=cmd_package)

    sets = sub.add_parser("settings", help="print the settings in effect (secrets hidden) and where they come from")
    sets.set_defaults(func=cmd_settings)

    tr = sub.add_parser("transcript", help="a transcript's Verifiable Credential: issue or verify")
    tr_what = tr.add_subparsers(dest="what", required=True)
    cred = tr_what.add_parser("credential", help="the W3C Verifiable Credential of an issued transcript")
    cred_verbs = cred.add_subparsers(dest="verb", required=True)
    cred_issue = cred_verbs.add_parser("issue", help="seal the credential of an issued transcript (the principal)")
    cred_issue.add_argument("--user", required=True, help="the acting principal")
    cred_issue.add_argument("--code", required=True, help="the transcript's verification code")
    cred_issue.add_argument("--seal-key", required=True,
                            help="the school seal's PKCS#12 file (PIN: SOHOA_SCHOOL_SEAL_PIN or a prompt)")
    cred_issue.add_argument("--out", required=True, help="where to write the credential (application/vc+jwt)")
    cred_verify = cred_verbs.add_parser("verify", help="verify a credential; exit 1 unless valid")
    cred_verify.add_argument("file")
    tr.set_defaults(func=cmd_transcript)

    ex = sub.add_parser("export", help="export the issued transcripts' data: national database or OneRoster 1.2")
    ex.add_argument("kind", choices=("national", "oneroster"),
                    help="national: JSON Lines and CSV for the national education database; oneroster: OneRoster "
                         "1.2 CSV (docs/transcript-data.md)")
    ex.add_argument("--user", required=True, help="the acting user (the export is limited to their schools)")
    ex.add_argument("--school", help="one school's code (default: every school of the user's scope)")
    ex.add_argument("--year", help="the school year, e.g. 2025-2026 (default: the latest)")
    ex.add_argument("--out", required=True, help="where to write the ZIP")
    ex.set_defaults(func=cmd_export)

    args = parser.parse_args(argv)
    from core.kernel.errors import SohoaError

    try:
        settings.configure(_from_options(args))
        return args.func(args)
    except SohoaError as err:  # the CLI's one error mapper: both languages, exit status 1
        print(f"lỗi: {err.message_vi}\nerror: {err.message}", file=sys.stderr)
        return 1
    finally:
        settings.configure(None)


def _from_options(args) -> settings.Settings:
    """The settings file and the environment, then the command's options over them."""
    configured = settings.load(args.config)
    changes = {}
    if args.database:
        changes["database_url"] = args.database
    if args.data_dir:
        changes["data_dir"] = args.data_dir
    port = getattr(args, "port", None)
    if port is not None and args.command in ("serve", "demo", "api"):
        changes["api_port" if args.command == "api" else "console_port"] = port
    if getattr(args, "pki_port", None) is not None:
        changes["pki_port"] = args.pki_port
    if args.command == "api":
        if args.host:
            changes["api_host"] = args.host
        if args.workers:
            changes["api_workers"] = args.workers
    if getattr(args, "interval", None) is not None:
        changes["checkpoint_interval"] = args.interval
    return configured.replace(**changes) if changes else configured


def cmd_settings(args) -> int:
    configured = _settings()
    print(f"settings file: {configured.config_file or '(none)'}")
    width = max(len(name) for name, _ in configured.describe())
    for name, value in configured.describe():
        if name != "config_file":
            print(f"  {name:<{width}}  {value}")
    print(f"  {'(database)':<{width}}  {configured.effective_database_url}")
    print(f"  {'(pki)':<{width}}  {configured.effective_pki_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
