"""What a closed week attests (sự kiện được chứng thực của sổ tuần), as one flat record: the class,
the week, its close status and how often it was reopened, the summary hash the homeroom teacher
and the principal signed (every entry's id, status and content hash:
:func:`core.kernel.documents.week_document`), who signed, and their signatures and the week's PDF
as SHA-256. The close and reopen audit events carry it (:mod:`core.logbook.weekly_close`); the
checkpoints kept outside the database anchor it (:mod:`core.evidence`)."""
from __future__ import annotations

from typing import Any

from core.kernel.documents import sha256_hex
from core.kernel.vocabulary import WeekCloseStatus


def _hash(data: bytes | None) -> str | None:
    return None if data is None else sha256_hex(data)


def is_attested(status, reopen_count: int) -> bool:
    """A week is evidence once it was closed: closed now, or reopened since."""
    return getattr(status, "value", status) == WeekCloseStatus.CLOSED.value or (reopen_count or 0) > 0


#: The signed bytes of a week whose fact is their SHA-256.
HASHED = {"homeroom_signature": "homeroom_signature_sha256", "principal_signature": "principal_signature_sha256",
          "document": "document_sha256"}


def week_fact(row, hashes: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The fact of a class-week's close (a :class:`~core.storage.models.WeekClose` or a row with
    its columns). ``hashes``: the signed bytes' SHA-256 by fact field, when the database computed
    them (then the bytes are not read)."""
    if hashes is not None:
        return {**week_fact(_Unsigned(row)), **hashes}
    return {
        "id": row.id, "school_id": row.school_id, "class_id": row.class_id, "week_id": row.week_id,
        "status": getattr(row.status, "value", row.status), "reopen_count": row.reopen_count or 0,
        "summary_hash": row.summary_hash,
        "homeroom_signed_by": row.homeroom_signed_by, "principal_signed_by": row.principal_signed_by,
        "homeroom_signature_sha256": _hash(row.homeroom_signature),
        "principal_signature_sha256": _hash(row.principal_signature),
        "document_sha256": _hash(row.document),
        "closed_at": None if row.closed_at is None else row.closed_at.isoformat(),
    }


class _Unsigned:
    """A week's row without its signed bytes (their hashes come from elsewhere)."""

    def __init__(self, row):
        self._row = row

    def __getattr__(self, name):
        return None if name in HASHED else getattr(self._row, name)
