"""The transcript's data, machine-readable (dữ liệu học bạ): one issued transcript's content as
JSON after a documented, versioned JSON Schema (``core/templates/transcript-data.schema.json``,
docs/transcript-data.md). It is what the PDF shows, from the same stored content
(:mod:`core.transcripts.content`), under field names a ministry system reads: the Ministry's
where they are public (``madinhdanhhocba``), else the same style (lower case Vietnamese without
diacritics; which are ours is listed in docs/transcript-data.md).

The JSON is attached to the PDF before the homeroom teacher signs (:mod:`core.transcripts.pdfa`),
so every signature covers it; :func:`data_of_pdf` takes it out of an issued PDF, and
:func:`transcript_data` rebuilds it from the record to compare. The same data are the subject
of the transcript's verifiable credential (:mod:`core.transcripts.credential`).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from importlib import resources

from core.kernel.documents import canonical_json

#: The schema's version: a change a reader must know about is a new major version
SCHEMA_VERSION = "1.0"
SCHEMA_ID = "urn:sohoa:schema:transcript-data:1"
#: The attachment's name inside the PDF and its MIME type
FILE_NAME = "hocba.json"
MIME_TYPE = "application/json"


@functools.cache
def schema() -> dict:
    """The JSON Schema (draft 2020-12) of :func:`transcript_data`."""
    return json.loads(resources.files("core").joinpath("templates/transcript-data.schema.json").read_text("utf-8"))


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _iso_date(value: str) -> str:
    """The content's dd/mm/yyyy as ISO 8601 (yyyy-mm-dd)."""
    return dt.datetime.strptime(value, "%d/%m/%Y").date().isoformat()


def _subject(line: dict, primary: bool) -> dict:
    out = {"mamonhoc": line["code"], "tenmonhoc": line["name"],
           "danhgiabangnhanxet": bool(line.get("comment_only")), "nhanxet": _text(line.get("comment"))}
    if primary:
        out.update({"mucdatduoc": _text(line.get("year")), "diemktcuoinam": _text(line.get("test"))})
    else:
        out.update({"diemhk1": _text(line.get("term1")), "diemhk2": _text(line.get("term2")),
                    "ketquacanam": _text(line.get("year"))})
    if line.get("summer") is not None:
        out["ketquakiemtralai"] = _text(line["summer"])
    if line.get("individual_plan"):
        out["kehoachgiaoduccanhan"] = True
    return out


def transcript_data(content: dict, verification_code: str, content_hash: str) -> dict:
    """The transcript's data (schema :data:`SCHEMA_VERSION`) from its stored ``content``, its
    verification code (the transcript's identifier, ``madinhdanhhocba``) and the SHA-256 of the
    content's canonical bytes (``content_hash`` of the record)."""
    primary = content.get("grade", 6) <= 5
    student = content["student"]
    data = {
        "phienbanluocdo": SCHEMA_VERSION,
        "madinhdanhhocba": verification_code,
        "banso": content["version"],
        "bamnoidung": content_hash,
        "hocsinh": {"hoten": student["full_name"], "sodinhdanhcanhan": student["personal_id"],
                    "ngaysinh": _iso_date(student["birth_date"]), "gioitinh": student["sex"]},
        "truong": {"matruong": content["school_code"], "tentruong": content["school"]},
        "namhoc": content["year"],
        "caphoc": content["level_name"],
        "lop": {"tenlop": content["class"], "khoi": content["grade"]},
        "ketquamonhoc": [_subject(line, primary) for line in content["subjects"]],
        "tonghop": [{"muc": label, "giatri": str(value)} for label, value in content["summary"]],
        "ketquachung": _text(content.get("outcome")),
        "nhanxetgvcn": _text(content.get("comment")),
        "ghichu": list(content.get("notes", ())),
    }
    return data


def data_bytes(content: dict, verification_code: str, content_hash: str) -> bytes:
    """:func:`transcript_data` as the canonical JSON bytes that go into the PDF."""
    return canonical_json(transcript_data(content, verification_code, content_hash))


def data_of_pdf(pdf: bytes) -> dict | None:
    """The transcript's data attached to a transcript PDF, or None when it carries none."""
    from core.transcripts.pdfa import embedded_file

    found = embedded_file(pdf, FILE_NAME)
    return None if found is None else json.loads(found)
