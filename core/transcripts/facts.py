"""What an issued transcript attests (sự kiện được chứng thực), as one flat record: its status and
every column the lifecycle rule freezes once it is issued
(:data:`core.transcripts.rules.lifecycle.FROZEN_ONCE_ISSUED`), the content and the signed PDF as
their SHA-256. The issue and cancel audit events carry it (:mod:`core.transcripts.workflow`), and
the checkpoints kept outside the database anchor it (:mod:`core.evidence`), so that a swapped
PDF, an un-cancelled transcript or a changed signer is found by comparing the record store with
them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from core.kernel.documents import canonical_json, sha256_hex
from core.transcripts.rules.lifecycle import FROZEN_ONCE_ISSUED

#: A frozen column whose fact is its SHA-256 (the bytes themselves stay in the record store).
HASHED = {"content": "content_sha256", "document": "document_sha256"}


def fact_key(column: str) -> str:
    """The name of a frozen column in the fact."""
    return HASHED.get(column, column)


def column_of(key: str) -> str:
    """The frozen column a fact's field stands for (``status`` for the status)."""
    return {v: k for k, v in HASHED.items()}.get(key, key)


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def transcript_fact(row, document_sha256: str | None = None) -> dict[str, Any]:
    """The fact of a transcript (a :class:`~core.storage.models.Transcript` or a row with its
    columns): ``id``, ``status`` and each frozen column. ``document_sha256``: the PDF's hash when
    the database computed it (then ``row.document`` is not read)."""
    fact: dict[str, Any] = {"id": row.id, "status": getattr(row.status, "value", row.status)}
    for column in FROZEN_ONCE_ISSUED:
        if column == "content":
            fact[fact_key(column)] = sha256_hex(canonical_json(row.content))
        elif column == "document":  # what was issued: the first issued_length bytes (renewals append)
            length = getattr(row, "issued_length", None)
            fact[fact_key(column)] = document_sha256 if document_sha256 is not None else (
                None if row.document is None else sha256_hex(row.document[:length] if length else row.document))
        else:
            fact[column] = _value(getattr(row, column))
    return fact
