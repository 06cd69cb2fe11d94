"""Closed weeks as anchored facts (:mod:`core.evidence.facts`): the fact is
:func:`core.logbook.facts.week_fact` (the summary the homeroom teacher and the principal signed,
their signatures' and the PDF's SHA-256); a change is allowed when the weekly close rule allows
it (:func:`core.logbook.rules.weekly_close.attested_change_allowed`: only after a reopening).

Beyond the facts, :func:`week_discrepancies` recomputes every signed week's summary from its
entries as they are now (every entry's id, status and content hash:
:func:`core.kernel.documents.week_document`) — an entry's status changed in the database after the
week was signed no longer matches what the homeroom teacher and the principal signed — and, for
every week the checkpoints do not vouch for (closed since the last one, or changed since), checks
the two CMS signatures over that summary with the trust anchors.
"""
from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.evidence.facts import FactKind, changed_fields
from core.kernel.documents import sha256_hex, week_document
from core.kernel.integrity import Discrepancy
from core.kernel.vocabulary import WeekCloseStatus
from core.logbook.facts import HASHED, is_attested, week_fact
from core.logbook.rules.weekly_close import attested_change_allowed
from core.signatures.cms import verify_detached
from core.storage.db import is_postgres
from core.storage.models import AuditEvent, LogbookEntry, School, SchoolClass, SchoolWeek, WeekClose

ENTITIES = ("week_close",)
#: the statuses whose summary is signed (the homeroom teacher, then the principal too)
SIGNED = (WeekCloseStatus.HOMEROOM_SIGNED, WeekCloseStatus.CLOSED)


def _ids_in(event: AuditEvent) -> list[int]:
    if event.entity == "week_close" and event.entity_id and event.entity_id.isdigit():
        return [int(event.entity_id)]
    return []


def _fact_in(event: AuditEvent, record: int) -> dict | None:
    fact = event.after.get("fact") if isinstance(event.after, dict) else None
    return fact if isinstance(fact, dict) and fact.get("id") == record else None


def _read(session: Session, ids: list[int] | None) -> Iterator[dict]:
    """Weeks' facts now: those named, or every week closed now or since reopened. On PostgreSQL
    the database hashes the signatures and the PDFs."""
    postgres = is_postgres(session.bind)
    W = WeekClose.__table__.c
    plain = [c for c in W if c.name not in HASHED]
    signed = [func.encode(func.sha256(W[c]), "hex").label(c) if postgres else W[c] for c in HASHED]
    query = select(*plain, *signed).order_by(W.id)
    query = query.where(or_(W.status == WeekCloseStatus.CLOSED.value, W.reopen_count > 0)) if ids is None \
        else query.where(W.id.in_(ids))
    for row in session.execute(query.execution_options(yield_per=1000)):
        yield week_fact(row, {HASHED[c]: getattr(row, c) for c in HASHED} if postgres else None)


def _allowed(old: dict, new: dict) -> bool:
    changed = bool(set(changed_fields(old, new)) - {"status", "reopen_count"})
    return attested_change_allowed(WeekCloseStatus(old["status"]), old["reopen_count"],
                                   WeekCloseStatus(new["status"]), new["reopen_count"], changed)


def _subject(fact: dict) -> tuple[str, str]:
    return (f"week close {fact['id']} (class {fact['class_id']}, week {fact['week_id']})",
            f"sổ tuần {fact['id']} (lớp {fact['class_id']}, tuần {fact['week_id']})")


WEEKS = FactKind(
    section="weeks", kind="week", entities=ENTITIES, ids_in=_ids_in, fact_in=_fact_in, read=_read,
    attested=lambda fact: is_attested(fact["status"], fact["reopen_count"]), allowed=_allowed, subject=_subject)


def week_summaries(session: Session) -> Iterator[tuple[object, bytes]]:
    """Every signed week (homeroom-signed or closed) with its summary recomputed from its entries
    as they are now, streamed class by class."""
    weeks = session.execute(
        select(WeekClose.id, WeekClose.class_id, WeekClose.week_id, WeekClose.summary_hash, WeekClose.status,
               School.code.label("school_code"), SchoolClass.name.label("class_name"),
               SchoolWeek.number.label("week_number"), SchoolWeek.monday)
        .join(SchoolClass, SchoolClass.id == WeekClose.class_id).join(School, School.id == WeekClose.school_id)
        .join(SchoolWeek, SchoolWeek.id == WeekClose.week_id)
        .where(WeekClose.status.in_(SIGNED)).order_by(WeekClose.class_id, WeekClose.week_id)).all()
    if not weeks:
        return
    wanted = {(w.class_id, w.week_id) for w in weeks}
    entries = session.execute(
        select(LogbookEntry.class_id, LogbookEntry.week_id, LogbookEntry.id, LogbookEntry.status,
               LogbookEntry.content_hash)
        .join(WeekClose, (WeekClose.class_id == LogbookEntry.class_id) & (WeekClose.week_id == LogbookEntry.week_id))
        .where(WeekClose.status.in_(SIGNED)).order_by(LogbookEntry.class_id, LogbookEntry.week_id)
        .execution_options(yield_per=5000))
    by_week = {(w.class_id, w.week_id): w for w in weeks}
    for key, rows in groupby(entries, key=lambda r: (r.class_id, r.week_id)):
        if key in wanted:
            yield by_week[key], _summary(by_week[key], [(r.id, r.status.value, r.content_hash) for r in rows])
            wanted.discard(key)
    for key in sorted(wanted):  # a signed week whose entries are all gone
        yield by_week[key], _summary(by_week[key], [])


def _summary(week, entries: list) -> bytes:
    return week_document(school_code=week.school_code, class_name=week.class_name, week_number=week.week_number,
                         monday=week.monday, entries=entries)


def week_discrepancies(session: Session, trust, anchored) -> list[Discrepancy]:
    """Every signed week's summary recomputed from its entries; the signatures of the weeks the
    checkpoints do not vouch for, checked over it."""
    vouched = {record: fact for record, (fact, _) in (anchored.facts if anchored else {}).items()}
    found, to_check = [], {}
    for week, summary in week_summaries(session):
        label_en = f"week close {week.id} (class {week.class_name}, week {week.week_number})"
        label_vi = f"sổ tuần {week.id} (lớp {week.class_name}, tuần {week.week_number})"
        digest = sha256_hex(summary)
        if digest != week.summary_hash:
            found.append(Discrepancy(
                "week", label_en,
                f"{label_en}: its entries (statuses or contents) differ from the week summary the homeroom teacher "
                "and the principal signed",
                f"{label_vi}: các tiết (trạng thái hoặc nội dung) khác với bản tổng hợp tuần mà giáo viên chủ nhiệm "
                "và hiệu trưởng đã ký"))
        anchored_fact = vouched.get(week.id)
        if anchored_fact is None or anchored_fact.get("summary_hash") != digest or \
                anchored_fact.get("status") != getattr(week.status, "value", week.status):
            to_check[week.id] = (summary, label_en, label_vi)
    ids = sorted(to_check)
    for start in range(0, len(ids), 500):
        rows = session.execute(select(WeekClose.id, WeekClose.status, WeekClose.homeroom_signature,
                                      WeekClose.principal_signature).where(WeekClose.id.in_(ids[start:start + 500])))
        for row in rows:
            summary, label_en, label_vi = to_check[row.id]
            signatures = [("homeroom teacher", "giáo viên chủ nhiệm", row.homeroom_signature)]
            if row.status == WeekCloseStatus.CLOSED:
                signatures.append(("principal", "hiệu trưởng", row.principal_signature))
            for who, who_vi, signature in signatures:
                result = verify_detached(summary, signature or b"", trust)
                if not result.valid:
                    found.append(Discrepancy(
                        "week", label_en,
                        f"{label_en}: the {who}'s signature does not verify over the week as it is now "
                        f"({result.indication} {result.sub_indication or ''})".replace(" )", ")"),
                        f"{label_vi}: chữ ký của {who_vi} không hợp lệ với sổ tuần hiện tại"))
    return found
