"""The re-timestamping job (gia hạn dấu thời gian lưu trữ): every B-LTA document whose newest
archive timestamp comes within :data:`~core.signatures.ltv.RENEWAL_MARGIN` of the end of its
validity (its TSA's certificate, or a CA above it, expiring) gets a new revision: the status of
that TSA now, and a new document timestamp from the current TSA (:meth:`LongTermSigner.extend`).

What is due is one indexed range query (``archive_valid_until``, written at issuance and by
every renewal). Documents are renewed in chunks, one transaction each, with one audit event per
school and chunk; a stopped run loses at most the chunk in flight and the next run picks up
what is still due, so nothing is renewed twice. An issued transcript only grows: the record
store refuses any other change of its bytes (migration 0016).

Run ``sohoa retimestamp`` daily (docs/long-term-signatures.md gives the schedule); it refuses to run when
the current TSA itself would be due (a successor TSA must be in place first).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import TranscriptStatus, WeekCloseStatus
from core.signatures.ltv import RENEWAL_MARGIN, long_term_signer
from core.storage.db import Database
from core.storage.models import Transcript, WeekClose

#: What the job renews: issued transcripts and closed weeks (name -> model, "is final" condition).
KINDS = {
    "transcript": (Transcript, Transcript.status == TranscriptStatus.ISSUED),
    "week": (WeekClose, WeekClose.status == WeekCloseStatus.CLOSED),
}
#: Documents renewed per transaction.
CHUNK = 25


@dataclass
class RenewalReport:
    """What a run renewed, per kind, and until when the renewed documents now hold."""

    due: dict[str, int] = field(default_factory=dict)
    renewed: dict[str, int] = field(default_factory=dict)
    valid_until: dt.datetime | None = None

    def __str__(self) -> str:
        parts = ", ".join(f"{kind} {self.renewed.get(kind, 0)}/{n}" for kind, n in self.due.items())
        until = f"; valid until {self.valid_until:%d/%m/%Y}" if self.valid_until else ""
        return f"renewed (of due): {parts or 'nothing due'}{until}"


def due(db: Database, actor: Actor, *, now: dt.datetime | None = None,
        margin: dt.timedelta = RENEWAL_MARGIN) -> dict[str, list[int]]:
    """The ids, per kind, of the final B-LTA documents whose archive timestamp must be renewed
    by ``now`` (VN-local): it stops being verifiable within ``margin``."""
    require(actor, Permission.MANAGE_CERTIFICATES)
    horizon = (now or clock.now()) + margin
    with db.reading() as session:
        return {kind: list(session.scalars(select(model.id).where(
            final, model.archive_valid_until.is_not(None), model.archive_valid_until <= horizon,
            actor.school_filter(model.school_id)).order_by(model.id)))
            for kind, (model, final) in KINDS.items()}


def retimestamp(db: Database, actor: Actor, tsa: str, *, now: dt.datetime | None = None,
                margin: dt.timedelta = RENEWAL_MARGIN,
                progress: Callable[[int, int], None] | None = None) -> RenewalReport:
    """Renew every document :func:`due` finds with the timestamp authority at ``tsa``."""
    require(actor, Permission.MANAGE_CERTIFICATES)
    now = now or clock.now()
    signer = long_term_signer(tsa)
    current = clock.from_utc(signer.valid_until(signer.tsa.token(b"\x00" * 32)))
    if current <= now + margin:
        raise RuleViolation(
            f"the timestamp authority's certificate (or its CA's) ends on {current:%d/%m/%Y}, within the renewal "
            "margin: put a successor TSA in place first, then run the renewal against it",
            message_vi=f"Chứng thư số của dịch vụ cấp dấu thời gian (hoặc của CA cấp nó) hết hạn ngày "
                       f"{current:%d/%m/%Y}, trong thời hạn gia hạn: cần chuyển sang dịch vụ cấp dấu thời gian mới "
                       "trước, rồi chạy lại việc gia hạn")
    todo = due(db, actor, now=now, margin=margin)
    report = RenewalReport(due={kind: len(ids) for kind, ids in todo.items()})
    total, done = sum(report.due.values()), 0
    for kind, ids in todo.items():
        model, final = KINDS[kind]
        report.renewed[kind] = 0
        for start in range(0, len(ids), CHUNK):
            with db.transaction() as session:
                rows = session.scalars(select(model).where(
                    model.id.in_(ids[start:start + CHUNK]), final, model.archive_valid_until <= now + margin)
                    .order_by(model.id).with_for_update()).all()  # (what another run renewed meanwhile drops out)
                renewed = signer.extend([row.document for row in rows]) if rows else []
                by_school: dict[int, list] = {}
                for row, (document, until) in zip(rows, renewed):
                    before = row.archive_valid_until
                    row.document, row.archive_valid_until = document, clock.from_utc(until)
                    by_school.setdefault(row.school_id, []).append((row, before))
                    report.valid_until = row.archive_valid_until
                for school_id, items in by_school.items():
                    audit.record(session, actor, "document.retimestamp", f"{kind}_batch",
                                 f"{items[0][0].id}-{items[-1][0].id}", school_id=school_id,
                                 after={"documents": len(items), "ids": [r.id for r, _ in items],
                                        "valid_until": items[0][0].archive_valid_until.isoformat()},
                                 before={"valid_until": sorted({b.isoformat() for _, b in items})})
                report.renewed[kind] += len(rows)
            done += len(ids[start:start + CHUNK])
            if progress:
                progress(done, total)
    return report
