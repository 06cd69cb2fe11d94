"""Closing a class's logbook week (chốt sổ tuần): the homeroom teacher signs, then the
principal closes; a closed week is read-only; reopening is an audited admin action."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.documents import sha256_hex, week_document
from core.kernel.errors import (
    AlreadyCompleted,
    BadRequest,
    CertificateNotRegistered,
    NotFound,
    PermissionDenied,
    RuleViolation,
    SignatureRejected,
    SigningExpired,
    SigningSuperseded,
)
from core.kernel.vocabulary import CertificateKind, EntryStatus, Role, WeekCloseStatus
from core.logbook.entries import holidays_for
from core.logbook.facts import week_fact
from core.logbook.rules.weekly_close import (
    close_deadline,
    require_homeroom_step,
    require_principal_step,
    require_reopen,
    require_week_over,
)
from core.logbook.week_pdf import HOMEROOM_BOX, HOMEROOM_FIELD, PRINCIPAL_BOX, PRINCIPAL_FIELD, WeekRow, render_week
from core.signatures.certificates import registered_certificate, valid_at
from core.signatures.cms import verify_detached
from core.signatures.ltv import long_term_signer, sign_document
from core.signatures.pades import (
    PreparedSigning,
    complete_pdf_signature,
    prepare_pdf_signature,
    signed_attributes,
)
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    EntryAbsence,
    LogbookEntry,
    PdfSigning,
    School,
    SchoolClass,
    SchoolWeek,
    Staff,
    Student,
    Subject,
    UserAccount,
    WeekClose,
    WeekReopen,
)
from core.timetable.rules.calendar import school_days


def _class_week(session: Session, actor: Actor, class_id: int, week_id: int) -> tuple[SchoolClass, SchoolWeek]:
    klass = session.get(SchoolClass, class_id)
    week = session.get(SchoolWeek, week_id)
    if (klass is None or week is None or week.school_year_id != klass.school_year_id
            or not actor.sees_school(klass.school_id)):
        raise NotFound(f"no class-week {class_id}/{week_id}", message_vi="Không tìm thấy sổ tuần của lớp này")
    return klass, week


def _close_row(session: Session, klass: SchoolClass, week: SchoolWeek) -> WeekClose:
    row = session.scalar(select(WeekClose).where(WeekClose.class_id == klass.id, WeekClose.week_id == week.id)
                         .with_for_update())
    if row is None:
        row = WeekClose(school_id=klass.school_id, class_id=klass.id, week_id=week.id,
                        status=WeekCloseStatus.OPEN, reopen_count=0)
        session.add(row)
        session.flush()
    return row


def last_school_day(session: Session, klass: SchoolClass, week: SchoolWeek) -> dt.date:
    """The class's last day with lessons that week (else the last non-holiday weekday)."""
    last = session.scalar(select(func.max(LogbookEntry.day)).where(
        LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id))
    if last is not None:
        return last
    days = school_days(week.monday, holidays_for(session, klass.school_id, week.school_year_id))
    return days[-1] if days else week.monday


def week_bytes(session: Session, klass: SchoolClass, week: SchoolWeek) -> bytes:
    """The week's summary as it is now: what the homeroom teacher and the principal sign
    (:func:`core.kernel.documents.week_document`)."""
    school_code = session.scalar(select(School.code).where(School.id == klass.school_id))
    entries = session.execute(select(LogbookEntry.id, LogbookEntry.status, LogbookEntry.content_hash)
                              .where(LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id)).all()
    return week_document(school_code=school_code, class_name=klass.name, week_number=week.number,
                         monday=week.monday, entries=[(i, s.value, h) for i, s, h in entries])


def tsa_url() -> str | None:
    """The timestamp authority for PDF signatures (setting ``tsa_url``); without one the
    signatures are PAdES B-B and their time is the server's receipt, recorded alongside."""
    from core.signatures.ltv import tsa_url as configured

    return configured()


#: Both signature fields, created by the homeroom teacher's certifying signature (so it covers
#: them); the principal later signs the second one.
WEEK_FIELDS = [(HOMEROOM_FIELD, HOMEROOM_BOX), (PRINCIPAL_FIELD, PRINCIPAL_BOX)]


def _week_pdf(session: Session, klass: SchoolClass, week: SchoolWeek) -> bytes:
    """Render the class-week as the printable logbook page (its signature fields are added by
    the homeroom teacher's signature, :data:`WEEK_FIELDS`)."""
    school = session.get(School, klass.school_id)
    names = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.school_id == klass.school_id)).all())
    subjects = dict(session.execute(select(Subject.id, Subject.name)).all())
    principal = session.scalar(select(UserAccount.staff_id).where(
        UserAccount.school_id == klass.school_id, UserAccount.role == Role.PRINCIPAL))
    entries = session.scalars(select(LogbookEntry).where(LogbookEntry.class_id == klass.id,
                                                         LogbookEntry.week_id == week.id)).all()
    absent: dict[int, list[str]] = {}
    for entry_id, student, excused in session.execute(
            select(EntryAbsence.entry_id, Student.full_name, EntryAbsence.excused)
            .join(Student, Student.id == EntryAbsence.student_id)
            .where(EntryAbsence.entry_id.in_([e.id for e in entries]))):
        absent.setdefault(entry_id, []).append(f"{student} ({'P' if excused else 'K'})")
    rows = [WeekRow(day=e.day, period_no=e.period_no, subject=subjects.get(e.subject_id, ""),
                    teacher=names.get(e.teacher_id, ""), substitute=e.is_substitute, lesson_title=e.lesson_title or "",
                    curriculum_seq=e.curriculum_seq, absent=", ".join(absent.get(e.id, [])),
                    remark=e.class_remark or "", rating=e.class_rating or "", status=e.status.value,
                    signed_at=e.signed_at) for e in entries]
    return render_week(school=school.name, class_name=klass.name, week_number=week.number, monday=week.monday,
                       homeroom=names.get(klass.homeroom_teacher_id, ""), principal=names.get(principal, ""), rows=rows)


#: The step a user takes next on a class-week (``your_step`` in :func:`weeks_to_close`).
HOMEROOM_STEP, CLOSE_STEP = "homeroom_signature", "close"


def _is_principal(actor: Actor) -> bool:
    """Whoever closes weeks: the permission ``CLOSE_WEEK``, the principal's alone."""
    return actor.may(Permission.CLOSE_WEEK)


def _describe(session: Session, actor: Actor, pairs: list[tuple[SchoolClass, SchoolWeek]],
              at: dt.datetime) -> list[dict]:
    """Each class-week's close status as the app shows it (a few queries for all of them)."""
    if not pairs:
        return []
    class_ids = sorted({k.id for k, _ in pairs})
    week_ids = sorted({w.id for _, w in pairs})
    closes = {(r.class_id, r.week_id): r for r in session.scalars(select(WeekClose).where(
        WeekClose.class_id.in_(class_ids), WeekClose.week_id.in_(week_ids)))}
    counts: dict[tuple[int, int], dict[str, int]] = {}
    last_day: dict[tuple[int, int], dt.date] = {}
    for class_id, week_id, status, n, last in session.execute(
            select(LogbookEntry.class_id, LogbookEntry.week_id, LogbookEntry.status, func.count(),
                   func.max(LogbookEntry.day))
            .where(LogbookEntry.class_id.in_(class_ids), LogbookEntry.week_id.in_(week_ids))
            .group_by(LogbookEntry.class_id, LogbookEntry.week_id, LogbookEntry.status)):
        counts.setdefault((class_id, week_id), {})[status.value] = n
        last_day[(class_id, week_id)] = max(last, last_day.get((class_id, week_id), last))
    homeroom_ids = {k.homeroom_teacher_id for k, _ in pairs if k.homeroom_teacher_id is not None}
    names = dict(session.execute(select(Staff.id, Staff.full_name).where(Staff.id.in_(sorted(homeroom_ids))))
                 .all()) if homeroom_ids else {}
    principal = _is_principal(actor)
    out = []
    for klass, week in pairs:
        key = (klass.id, week.id)
        row = closes.get(key)
        status = row.status if row is not None else WeekCloseStatus.OPEN
        last = last_day.get(key) or last_school_day(session, klass, week)
        homeroom = (klass.homeroom_teacher_id is not None and klass.homeroom_teacher_id == actor.staff_id
                    and actor.may(Permission.HOMEROOM_SIGN_WEEK))
        step = HOMEROOM_STEP if homeroom and status in (WeekCloseStatus.OPEN, WeekCloseStatus.REOPENED) \
            else CLOSE_STEP if principal and status == WeekCloseStatus.HOMEROOM_SIGNED else None
        found = counts.get(key, {})
        out.append({
            "class_id": klass.id, "class_name": klass.name, "grade": klass.grade,
            "homeroom_teacher": names.get(klass.homeroom_teacher_id),
            "week_id": week.id, "week_number": week.number, "monday": week.monday,
            "last_school_day": last, "week_over": at.date() > last, "deadline": close_deadline(week.monday),
            "status": status.value, "summary_hash": row.summary_hash if row is not None else None,
            "counts": {s.value: found.get(s.value, 0) for s in (EntryStatus.ON_TIME, EntryStatus.LATE,
                                                                  EntryStatus.MISSED, EntryStatus.PENDING)},
            "homeroom_signed_at": row.homeroom_signed_at if row is not None else None,
            "closed_at": row.closed_at if row is not None else None,
            "closed_on_time": row.closed_on_time if row is not None else None,
            "reopen_count": row.reopen_count if row is not None else 0,
            "your_step": step,
        })
    return out


def weeks_to_close(db: Database, actor: Actor, monday: dt.date, at: dt.datetime | None = None) -> list[dict]:
    """The class-weeks starting ``monday`` that the signed-in user closes (the app's list):
    for a principal every class of their school, for anyone else the classes they are the
    homeroom teacher (GVCN) of — possibly none. Each comes with its close status, summary
    hash, the counts of its periods by status, its last school day, whether the week is over,
    the on-time deadline and ``your_step`` (``homeroom_signature``, ``close`` or ``None``)."""
    at = at or clock.now()
    if not (actor.may(Permission.HOMEROOM_SIGN_WEEK) or actor.may(Permission.CLOSE_WEEK)):
        raise PermissionDenied(f"{actor.username} ({actor.role.value}) neither signs nor closes weeks",
                               message_vi="Chỉ giáo viên chủ nhiệm và hiệu trưởng chốt sổ tuần")
    with db.reading() as session:
        query = (select(SchoolClass, SchoolWeek)
                 .join(SchoolWeek, SchoolWeek.school_year_id == SchoolClass.school_year_id)
                 .where(SchoolWeek.monday == monday, actor.school_filter(SchoolClass.school_id)))
        if not _is_principal(actor):
            if actor.staff_id is None:
                return []
            query = query.where(SchoolClass.homeroom_teacher_id == actor.staff_id)
        pairs = [tuple(p) for p in session.execute(query.order_by(SchoolClass.grade, SchoolClass.name,
                                                                   SchoolClass.id))]
        return _describe(session, actor, pairs, at)


def class_week_close(db: Database, actor: Actor, class_id: int, week_id: int,
                     at: dt.datetime | None = None) -> dict:
    """One class-week's close status, in the shape of :func:`weeks_to_close`, for its
    homeroom teacher or anyone who may view the school (another school's class: not found)."""
    at = at or clock.now()
    with db.reading() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        if actor.staff_id is None or actor.staff_id != klass.homeroom_teacher_id:
            require(actor, Permission.VIEW, klass.school_id)
        return _describe(session, actor, [(klass, week)], at)[0]


def homeroom_sign_week(db: Database, actor: Actor, class_id: int, week_id: int, signer,
                       at: dt.datetime | None = None) -> WeekCloseStatus:
    """Step 1: the class's homeroom teacher (GVCN) signs the week, after its last school day.
    Unsigned periods of the week become MISSED first, so the signed summary is final."""
    at = at or clock.now()
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        require(actor, Permission.HOMEROOM_SIGN_WEEK, klass.school_id)
        row = _close_row(session, klass, week)
        _check_homeroom(session, actor, klass, week, row, at)
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        session.execute(update(LogbookEntry).where(
            LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id,
            LogbookEntry.status == EntryStatus.PENDING).values(status=EntryStatus.MISSED))
        data = week_bytes(session, klass, week)
        before = {"status": row.status.value}
        row.homeroom_signature = signer.sign_detached(data, at)
        row.homeroom_signed_by, row.homeroom_signed_at = actor.staff_id, at
        row.summary_hash, row.status = sha256_hex(data), WeekCloseStatus.HOMEROOM_SIGNED
        row.document, _ = sign_document(_week_pdf(session, klass, week), signer, HOMEROOM_FIELD, certify=True,
                                        reason="Giáo viên chủ nhiệm ký sổ đầu bài tuần", finish=False,
                                        new_fields=WEEK_FIELDS, at=at)
        audit.record(session, actor, "week.homeroom_sign", "week_close", row.id, school_id=klass.school_id,
                     before=before, after={"status": row.status.value, "class": klass.name, "week": week.number,
                                           "fact": week_fact(row)})
        return row.status


def principal_close_week(db: Database, actor: Actor, class_id: int, week_id: int, signer,
                         at: dt.datetime | None = None) -> WeekCloseStatus:
    """Step 2: the principal signs and closes the week; from now on it is read-only."""
    at = at or clock.now()
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        require(actor, Permission.CLOSE_WEEK, klass.school_id)
        row = _close_row(session, klass, week)
        _check_principal(actor, klass, row)
        registered_certificate(session, actor.staff_id, signer.fingerprint, at)
        data = week_bytes(session, klass, week)
        if sha256_hex(data) != row.summary_hash:
            raise RuleViolation("the week changed after the homeroom teacher signed it; it must be signed again")
        row.principal_signature = signer.sign_detached(data, at)
        if row.document is not None:
            row.document, row.archive_valid_until = sign_document(  # closed: B-LTA with a TSA
                row.document, signer, PRINCIPAL_FIELD, certify=False, reason="Hiệu trưởng chốt sổ đầu bài tuần",
                finish=True, at=at)
        row.principal_signed_by, row.closed_at, row.status = actor.staff_id, at, WeekCloseStatus.CLOSED
        row.closed_on_time = row.reopen_count == 0 and at <= close_deadline(week.monday)
        audit.record(session, actor, "week.close", "week_close", row.id, school_id=klass.school_id,
                     before={"status": WeekCloseStatus.HOMEROOM_SIGNED.value},
                     after={"status": row.status.value, "on_time": row.closed_on_time,
                            "class": klass.name, "week": week.number, "fact": week_fact(row)})
        return row.status


def reopen_week(db: Database, actor: Actor, class_id: int, week_id: int, reason: str,
                at: dt.datetime | None = None) -> WeekCloseStatus:
    """Admin action: reopen a closed week (authorised roles only, reason mandatory, audited).
    Signed entries stay signed; the week must be signed and closed again."""
    at = at or clock.now()
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        require(actor, Permission.REOPEN_WEEK, klass.school_id)
        row = _close_row(session, klass, week)
        require_reopen(row.status, reason)
        session.add(WeekReopen(week_close_id=row.id, reopened_by=actor.user_id, reopened_at=at,
                               reason=reason.strip()))
        row.status, row.reopen_count = WeekCloseStatus.REOPENED, row.reopen_count + 1
        audit.record(session, actor, "week.reopen", "week_close", row.id, school_id=klass.school_id,
                     before={"status": WeekCloseStatus.CLOSED.value},
                     after={"status": row.status.value, "class": klass.name, "week": week.number,
                            "fact": week_fact(row)},
                     reason=reason.strip())
        return row.status


# ---------------------------------------------------------------- signing on the signer's device
# Ký số hai bước: the homeroom teacher's and the principal's signatures with a key the server does
# not hold. ``prepare`` runs the same checks as the one-step functions above, lays out the PDF
# signature and keeps the prepared document (``pdf_signing``); the device signs the signed
# attributes (and the week summary) with its own key; ``complete`` checks the answer against the
# person's registered certificate, embeds it (PAdES B-T with the server's timestamp authority)
# and writes the week as the one-step functions do. The CPU work and the timestamp run outside
# the write transaction, which re-checks that nothing moved meanwhile.

#: How long a prepared signing waits for the signer's answer.
SIGNING_TTL = dt.timedelta(minutes=5)
#: Finished (completed, superseded, expired) signings are deleted this long after they were made.
KEEP_FINISHED = dt.timedelta(days=1)
#: How the signer answers: the raw signature over the signed attributes (a phone's key store:
#: recommended), a whole detached CMS (an app that builds CMS already), or through the
#: department's remote signing service (CSC) with the signer's PIN and one-time password.
SIGNED_ATTRIBUTES, CMS_MODE, REMOTE_CSC = "signed_attributes", "cms", "remote_csc"
MODES = (SIGNED_ATTRIBUTES, CMS_MODE, REMOTE_CSC)
#: Where the key lived, as the audit trail records it.
CUSTODY = {SIGNED_ATTRIBUTES: "device", CMS_MODE: "device", REMOTE_CSC: "remote_csc"}
HOMEROOM, PRINCIPAL = "homeroom", "principal"
_REASONS = {HOMEROOM: "Giáo viên chủ nhiệm ký sổ đầu bài tuần", PRINCIPAL: "Hiệu trưởng chốt sổ đầu bài tuần"}


@dataclass(frozen=True)
class PreparedWeekSigning:
    """What the signer's app gets from prepare: what to sign and until when."""

    signing_id: str
    step: str
    mode: str
    expires_at: dt.datetime
    certificate_fingerprint: str
    summary: bytes                 # the week summary: the app signs it as a detached CMS
    document_digest: bytes         # SHA-256 of the PDF's byte range
    byte_range: tuple[int, int, int, int]
    signed_attributes: bytes       # DER: what the device signs in the signed_attributes mode
    hash_to_authorize: str         # base64 SHA-256 of the signed attributes (what a CSC SAD binds)
    replayed: bool = False


def _check_homeroom(session: Session, actor: Actor, klass: SchoolClass, week: SchoolWeek, row: WeekClose,
                    at: dt.datetime) -> None:
    require(actor, Permission.HOMEROOM_SIGN_WEEK, klass.school_id)
    if klass.homeroom_teacher_id is None or klass.homeroom_teacher_id != actor.staff_id:
        raise PermissionDenied(f"only the homeroom teacher of {klass.name} signs its week",
                               message_vi="Chỉ giáo viên chủ nhiệm của lớp được ký sổ tuần")
    require_homeroom_step(row.status)
    require_week_over(last_school_day(session, klass, week), at)


def _check_principal(actor: Actor, klass: SchoolClass, row: WeekClose) -> None:
    require(actor, Permission.CLOSE_WEEK, klass.school_id)
    require_principal_step(row.status)


def _signing_certificate(session: Session, actor: Actor, fingerprint: str | None, at: dt.datetime) -> Certificate:
    if actor.staff_id is None:
        raise PermissionDenied("only staff sign", message_vi="Chỉ cán bộ, giáo viên được ký số")
    if fingerprint is None:
        fingerprint = session.scalar(select(Certificate.fingerprint).where(
            Certificate.staff_id == actor.staff_id, Certificate.kind == CertificateKind.PERSONAL,
            valid_at(at)).order_by(Certificate.not_after.desc(), Certificate.id.desc()).limit(1))
        if fingerprint is None:
            raise CertificateNotRegistered("you have no valid registered signing certificate",
                                           message_vi="Bạn chưa có chứng thư số còn hiệu lực được đăng ký")
    return registered_certificate(session, actor.staff_id, fingerprint, at)


def _state_of(signing: PdfSigning, base: bytes | None) -> PreparedSigning:
    return PreparedSigning.from_row({c: getattr(signing, c) for c in (
        "reserved_start", "reserved_end", "document_digest", "md_algorithm", "signed_content", "base_sha256",
        "tail")}, base=base)


def _prepared_answer(signing: PdfSigning, state: PreparedSigning, cert_der: bytes, summary: bytes,
                     replayed: bool) -> PreparedWeekSigning:
    attrs = signed_attributes(state, cert_der)
    return PreparedWeekSigning(
        signing_id=signing.signing_id, step=signing.step, mode=signing.mode, expires_at=signing.expires_at,
        certificate_fingerprint=hashlib.sha256(cert_der).hexdigest(), summary=summary,
        document_digest=state.document_digest, byte_range=state.byte_range, signed_attributes=attrs,
        hash_to_authorize=base64.b64encode(hashlib.sha256(attrs).digest()).decode(), replayed=replayed)


def _live_signing(signing: PdfSigning | None, actor: Actor, row: WeekClose, step: str) -> PdfSigning:
    if (signing is None or signing.user_id != actor.user_id or signing.document_kind != "week_close"
            or signing.document_id != row.id or signing.step != step):
        raise NotFound("no such signing of yours for this class-week",
                       message_vi="Không tìm thấy phiên ký này của bạn cho sổ tuần này")
    return signing


def prepare_week_signing(db: Database, actor: Actor, class_id: int, week_id: int, step: str, *,
                         mode: str = SIGNED_ATTRIBUTES, idempotency_key: str,
                         certificate_fingerprint: str | None = None,
                         at: dt.datetime | None = None) -> PreparedWeekSigning:
    """Step 1 of a signature with a key the server does not hold (``step`` ``homeroom`` or
    ``principal``): the same checks as :func:`homeroom_sign_week` / :func:`principal_close_week`,
    then the PDF laid out for the signer's registered certificate. The same ``idempotency_key``
    gives the same signing back; a new prepare supersedes the live one of the same step."""
    at = at or clock.now()
    if mode not in MODES or step not in (HOMEROOM, PRINCIPAL):
        raise BadRequest(f"mode must be one of {', '.join(MODES)}", message_vi="Cách ký không hợp lệ")
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        row = _close_row(session, klass, week)   # locked: prepares and completes of a week queue here
        replay = session.scalar(select(PdfSigning).where(PdfSigning.user_id == actor.user_id,
                                                         PdfSigning.prepare_key == idempotency_key))
        if replay is not None:
            _live_signing(replay, actor, row, step)
            if replay.status == "completed":
                raise AlreadyCompleted("this signing is already completed", message_vi="Phiên ký này đã hoàn tất")
            if replay.status != "prepared" or at > replay.expires_at:
                raise (SigningExpired if replay.status == "prepared" else SigningSuperseded)(
                    "this signing is no longer live: prepare again with a new Idempotency-Key",
                    message_vi="Phiên ký này không còn hiệu lực: hãy chuẩn bị lại với khóa Idempotency-Key mới")
            cert = session.get(Certificate, replay.certificate_id)
            base = row.document if replay.tail is not None else None
            return _prepared_answer(replay, _state_of(replay, base), cert.der, week_bytes(session, klass, week),
                                    replayed=True)
        if step == HOMEROOM:
            _check_homeroom(session, actor, klass, week, row, at)
        else:
            _check_principal(actor, klass, row)
        cert = _signing_certificate(session, actor, certificate_fingerprint, at)
        if step == HOMEROOM:
            session.execute(update(LogbookEntry).where(
                LogbookEntry.class_id == klass.id, LogbookEntry.week_id == week.id,
                LogbookEntry.status == EntryStatus.PENDING).values(status=EntryStatus.MISSED))
        data = week_bytes(session, klass, week)
        if step == PRINCIPAL and (sha256_hex(data) != row.summary_hash or row.document is None):
            raise RuleViolation("the week changed after the homeroom teacher signed it; it must be signed again",
                                message_vi="Sổ tuần đã thay đổi sau khi giáo viên chủ nhiệm ký; cần ký lại")
        chain: list[bytes] = []   # the reservation allows for the chain the device or complete may add
        if step == HOMEROOM:
            state = prepare_pdf_signature(_week_pdf(session, klass, week), field=HOMEROOM_FIELD, certify=True,
                                          reason=_REASONS[step], cert_der=cert.der, chain_der=chain, at=at,
                                          new_fields=WEEK_FIELDS, timestamp=bool(tsa_url()))
            stored = state.to_row()
        else:
            state = prepare_pdf_signature(row.document, field=PRINCIPAL_FIELD, certify=False, reason=_REASONS[step],
                                          cert_der=cert.der, chain_der=chain, at=at, timestamp=bool(tsa_url()))
            stored = state.to_row(base=row.document)
        session.execute(update(PdfSigning).where(
            PdfSigning.document_kind == "week_close", PdfSigning.document_id == row.id, PdfSigning.step == step,
            PdfSigning.status == "prepared").values(status="superseded", signed_content=None, tail=None))
        session.flush()
        signing = PdfSigning(signing_id=secrets.token_urlsafe(18), document_kind="week_close", document_id=row.id,
                             school_id=klass.school_id, step=step, user_id=actor.user_id, certificate_id=cert.id,
                             mode=mode, base_reopen_count=row.reopen_count, summary_hash=sha256_hex(data),
                             status="prepared", created_at=at, expires_at=at + SIGNING_TTL,
                             prepare_key=idempotency_key, **stored)
        session.add(signing)
        session.flush()
        audit.record(session, actor, f"week.{step}_prepare", "week_close", row.id, school_id=klass.school_id,
                     after={"signing": signing.signing_id, "mode": mode, "certificate": cert.fingerprint,
                            "class": klass.name, "week": week.number})
        return _prepared_answer(signing, state, cert.der, data, replayed=False)


def _issuer_chain(trust, cert_der: bytes) -> list[bytes]:
    """The issuing CA's certificate from the trust anchors, embedded beside the signer's (as a
    key file's chain is by :func:`sign_pdf`), so other validators find the path too."""
    from cryptography import x509

    issuer = x509.load_der_x509_certificate(cert_der).issuer
    return [der for der, ca in zip(trust.intermediates_der, trust.intermediates) if ca.subject == issuer]


def _answer_sha(kind: str, *parts: bytes) -> str:
    digest = hashlib.sha256(kind.encode())
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def complete_week_signing(db: Database, actor: Actor, class_id: int, week_id: int, step: str, signing_id: str, *,
                          trust, signature: bytes | None = None, cms: bytes | None = None,
                          summary_signature: bytes | None = None, signer=None,
                          at: dt.datetime | None = None) -> tuple[WeekCloseStatus, bool]:
    """Step 2: the signer's answer — ``signature`` (raw, over the prepared signed attributes) or
    ``cms`` (a detached CMS over the byte range), with ``summary_signature`` (a detached CMS over
    the week summary); or a ``signer`` the server reaches but does not hold (a remote signing
    service opened with the signer's PIN and OTP) — checked against the registered certificate
    the signing was prepared for, at the server's time ``at``, and written. Returns the week's
    status and whether this was a replay of a completed signing (the same answer again)."""
    at = at or clock.now()
    if signer is not None:
        answer_sha = _answer_sha("signer", signer.fingerprint.encode())
    else:
        if summary_signature is None or (signature is None) == (cms is None):
            raise BadRequest("send the signature (or the CMS) and the week summary's signature",
                             message_vi="Cần gửi chữ ký (hoặc CMS) và chữ ký trên bản tổng hợp tuần")
        answer_sha = _answer_sha("device", signature or b"", cms or b"", summary_signature)
    # 1. read and check (no lock held across the CPU work and the timestamp)
    with db.reading() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        row = session.scalar(select(WeekClose).where(WeekClose.class_id == klass.id, WeekClose.week_id == week.id))
        if row is None:
            raise NotFound("no such signing of yours for this class-week",
                           message_vi="Không tìm thấy phiên ký này của bạn cho sổ tuần này")
        signing = _live_signing(session.get(PdfSigning, signing_id), actor, row, step)
        replayed = _finished(signing, row, answer_sha, at)
        if replayed is not None:
            return replayed, True
        cert = registered_certificate(session, actor.staff_id, session.get(Certificate, signing.certificate_id)
                                      .fingerprint, at)
        cert_der, fingerprint = cert.der, cert.fingerprint
        summary = week_bytes(session, klass, week)
        if sha256_hex(summary) != signing.summary_hash or row.reopen_count != signing.base_reopen_count:
            raise SigningSuperseded("the week changed since the signature was prepared: prepare again",
                                    message_vi="Sổ tuần đã thay đổi sau khi chuẩn bị ký: hãy chuẩn bị lại")
        state = _state_of(signing, row.document if signing.tail is not None else None)
        mode = signing.mode
    # 2. the signer's answer checked and embedded (CPU, the TSA's round trip)
    if signer is not None:
        if mode != REMOTE_CSC or signer.fingerprint != fingerprint:
            raise CertificateNotRegistered("the remote signing service's certificate is not the one this signing "
                                           "was prepared for", message_vi="Chứng thư số của dịch vụ ký từ xa không "
                                                                          "khớp với phiên ký")
        signature = signer.sign_raw(signed_attributes(state, cert_der))
        summary_signature = signer.sign_detached(summary, at)
    elif mode == REMOTE_CSC or (mode == SIGNED_ATTRIBUTES) != (signature is not None):
        raise BadRequest(f"this signing was prepared for the mode {mode}",
                         message_vi=f"Phiên ký này được chuẩn bị cho cách ký {mode}")
    summary_check = verify_detached(summary, summary_signature, trust, at=at)
    if not summary_check.valid:
        raise SignatureRejected(summary_check.sub_indication or "FAILED",
                                f"the week summary's signature: {summary_check.message}")
    if summary_check.signer_fingerprint != fingerprint:
        raise SignatureRejected("WRONG_SIGNER", "the week summary is signed with another certificate than the one "
                                                "this signing was prepared for")
    pdf = complete_pdf_signature(state, cert_der, _issuer_chain(trust, cert_der), signature=signature, cms=cms,
                                 tsa_url=tsa_url(), trust=trust, at=at)
    archive_until = None
    if step == PRINCIPAL and tsa_url():  # closed: B-LTA, as the one-step close (its DSS, a document timestamp)
        pdf, archive_until = long_term_signer(tsa_url()).finish([pdf])[0]
    # 3. written, if nothing moved meanwhile
    with db.transaction() as session:
        klass, week = _class_week(session, actor, class_id, week_id)
        row = _close_row(session, klass, week)
        signing = session.get(PdfSigning, signing_id, with_for_update=True)
        replayed = _finished(signing, row, answer_sha, at)
        if replayed is not None:
            return replayed, True
        if row.reopen_count != signing.base_reopen_count or sha256_hex(week_bytes(session, klass, week)) != \
                signing.summary_hash:
            raise SigningSuperseded("the week changed while the signature was completed: prepare again",
                                    message_vi="Sổ tuần đã thay đổi trong khi hoàn tất chữ ký: hãy chuẩn bị lại")
        before = {"status": row.status.value}
        if step == HOMEROOM:
            require_homeroom_step(row.status)
            row.homeroom_signature, row.homeroom_signed_by, row.homeroom_signed_at = summary_signature, \
                actor.staff_id, at
            row.summary_hash, row.status = signing.summary_hash, WeekCloseStatus.HOMEROOM_SIGNED
        else:
            require_principal_step(row.status)
            row.principal_signature, row.principal_signed_by, row.closed_at = summary_signature, actor.staff_id, at
            row.status = WeekCloseStatus.CLOSED
            row.closed_on_time = row.reopen_count == 0 and at <= close_deadline(week.monday)
            row.archive_valid_until = archive_until
        row.document = pdf
        signing.status, signing.completed_at = "completed", at
        signing.answer_sha256, signing.result_sha256 = answer_sha, hashlib.sha256(pdf).hexdigest()
        signing.signed_content = signing.tail = None
        audit.record(session, actor, "week.homeroom_sign" if step == HOMEROOM else "week.close", "week_close",
                     row.id, school_id=klass.school_id, before=before,
                     after={"status": row.status.value, "class": klass.name, "week": week.number,
                            "key": CUSTODY[mode], "signing": signing.signing_id, "certificate": fingerprint,
                            **({"on_time": row.closed_on_time} if step == PRINCIPAL else {}), "fact": week_fact(row)})
        return row.status, False


def _finished(signing: PdfSigning, row: WeekClose, answer_sha: str, at: dt.datetime) -> WeekCloseStatus | None:
    """None while the signing can be completed; the week's status for a replay of the same
    answer; else the refusal."""
    if signing.status == "completed":
        if signing.answer_sha256 == answer_sha:
            return row.status
        raise AlreadyCompleted("this signing was already completed with another answer",
                               message_vi="Phiên ký này đã hoàn tất với một chữ ký khác")
    if signing.status != "prepared":
        raise SigningSuperseded("a newer signing of this week replaced this one: use the newest, or prepare again",
                                message_vi="Phiên ký này đã được thay bằng phiên mới hơn: hãy dùng phiên mới nhất")
    if at > signing.expires_at:
        raise SigningExpired(f"this signing expired at {signing.expires_at:%H:%M:%S}: prepare again",
                             message_vi=f"Phiên ký đã hết hạn lúc {signing.expires_at:%H:%M:%S}: hãy chuẩn bị lại")
    return None


def prepared_document(db: Database, actor: Actor, signing_id: str) -> bytes:
    """The prepared PDF of a live signing of the actor's (for the app to show, and to
    recompute the digest it is asked to sign)."""
    with db.reading() as session:
        signing = session.get(PdfSigning, signing_id)
        if signing is None or signing.user_id != actor.user_id:
            raise NotFound("no such signing of yours", message_vi="Không tìm thấy phiên ký này của bạn")
        if signing.status != "prepared" or clock.now() > signing.expires_at:
            raise SigningExpired("this signing is no longer live", message_vi="Phiên ký này không còn hiệu lực")
        base = session.scalar(select(WeekClose.document).where(WeekClose.id == signing.document_id)) \
            if signing.tail is not None else None
        return _state_of(signing, base).prepared_pdf


def sweep_signings(db: Database, at: dt.datetime | None = None) -> int:
    """The periodic clean-up: dead states lose their bytes at once, finished rows go after
    :data:`KEEP_FINISHED`; returns how many rows were deleted."""
    at = at or clock.now()
    with db.transaction() as session:
        session.execute(update(PdfSigning).where(
            (PdfSigning.status == "superseded") | ((PdfSigning.status == "prepared") & (PdfSigning.expires_at < at)))
            .values(signed_content=None, tail=None))
        return session.execute(delete(PdfSigning).where(
            PdfSigning.created_at < at - KEEP_FINISHED,
            (PdfSigning.status != "prepared") | (PdfSigning.expires_at < at))).rowcount
