"""Issued and cancelled transcripts as anchored facts (:mod:`core.evidence.facts`): the fact is
:func:`core.transcripts.facts.transcript_fact` (the signed PDF's SHA-256, the school, the
signers, every column the lifecycle rule freezes); a change is allowed when the rule allows it
(:func:`core.transcripts.rules.lifecycle.change_allowed`: issued → cancelled, nothing else)."""
from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import case, func, null, select
from sqlalchemy.orm import Session

from core.evidence.facts import FactKind, changed_fields
from core.kernel.vocabulary import TranscriptStatus
from core.storage.db import is_postgres
from core.storage.models import AuditEvent, Transcript
from core.transcripts.facts import column_of, transcript_fact
from core.transcripts.rules.lifecycle import FROZEN_ONCE_ISSUED, KEPT, change_allowed

ENTITIES = ("transcript", "transcript_batch")


def _ids_in(event: AuditEvent) -> list[int]:
    if event.entity == "transcript" and event.entity_id and event.entity_id.isdigit():
        return [int(event.entity_id)]
    if event.entity == "transcript_batch" and isinstance(event.after, dict):
        return [int(i) for i in event.after.get("ids", [])]
    return []


def _fact_in(event: AuditEvent, record: int) -> dict | None:
    after = event.after if isinstance(event.after, dict) else {}
    for fact in [after.get("fact"), *after.get("facts", [])]:
        if isinstance(fact, dict) and fact.get("id") == record:
            return fact
    return None


def _read(session: Session, ids: list[int] | None) -> Iterator[dict]:
    """Transcripts' facts now: those named, or every issued and cancelled one. On PostgreSQL the
    database hashes the PDFs (they do not cross the network)."""
    postgres = is_postgres(session.bind)
    T = Transcript.__table__.c
    columns = [T.id, T.status, T.content, *[T[c] for c in FROZEN_ONCE_ISSUED if c not in ("content", "document")]]
    if postgres:
        issued = case((T.issued_length.is_not(None), func.substring(T.document, 1, T.issued_length)), else_=T.document)
        columns += [null().label("document"), func.encode(func.sha256(issued), "hex").label("document_sha256")]
    else:
        columns += [T.document]
    query = select(*columns).order_by(T.id)
    query = query.where(T.status.in_([s.value for s in KEPT])) if ids is None else query.where(T.id.in_(ids))
    for row in session.execute(query.execution_options(yield_per=500)):
        yield transcript_fact(row, document_sha256=row.document_sha256 if postgres else None)


def _allowed(old: dict, new: dict) -> bool:
    changed = {column_of(f) for f in changed_fields(old, new)} - {"status"}
    return change_allowed(TranscriptStatus(old["status"]), TranscriptStatus(new["status"]), changed)


def _subject(fact: dict) -> tuple[str, str]:
    code = fact.get("verification_code")
    return f"transcript {fact['id']} (code {code})", f"học bạ {fact['id']} (mã {code})"


TRANSCRIPTS = FactKind(
    section="transcripts", kind="transcript", entities=ENTITIES, ids_in=_ids_in, fact_in=_fact_in, read=_read,
    attested=lambda fact: TranscriptStatus(fact["status"]) in KEPT, allowed=_allowed, subject=_subject)
