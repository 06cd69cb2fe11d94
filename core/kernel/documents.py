"""Canonical serialisations: the exact bytes a signature covers.

A logbook entry is signed as UTF-8 JSON with sorted keys and no insignificant whitespace,
so that the same content always gives the same bytes on any machine; any change to a
signed field changes the bytes and breaks the signature.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

ENTRY_FORMAT = "sohoa.logbook-entry/1"
WEEK_FORMAT = "sohoa.logbook-week/1"


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def entry_document(*, entry_id: int, school_code: str, class_name: str, day, period_no: int,
                   subject_code: str, teacher_code: str, is_substitute: bool, lesson_title: str | None,
                   curriculum_seq: int | None, class_remark: str | None, class_rating: str | None,
                   absences: list[tuple[str, bool]], remarks: list[tuple[str, str]]) -> bytes:
    """The bytes a teacher signs for one period. ``absences`` are (personal id, excused) and
    ``remarks`` (personal id, text)."""
    return canonical_json({
        "format": ENTRY_FORMAT,
        "entry": entry_id,
        "school": school_code,
        "class": class_name,
        "day": day.isoformat(),
        "period": period_no,
        "subject": subject_code,
        "teacher": teacher_code,
        "substitute": bool(is_substitute),
        "lesson_title": lesson_title or "",
        "curriculum_seq": curriculum_seq,
        "class_remark": class_remark or "",
        "class_rating": class_rating or "",
        "absences": sorted([pid, bool(ex)] for pid, ex in absences),
        "remarks": sorted([pid, text] for pid, text in remarks),
    })


def week_document(*, school_code: str, class_name: str, week_number: int, monday,
                  entries: list[tuple[int, str, str | None]]) -> bytes:
    """The bytes the homeroom teacher and the principal sign when closing a week:
    every entry's id, status and content hash."""
    return canonical_json({
        "format": WEEK_FORMAT,
        "school": school_code,
        "class": class_name,
        "week": week_number,
        "monday": monday.isoformat(),
        "entries": sorted([eid, status, h or ""] for eid, status, h in entries),
    })


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
