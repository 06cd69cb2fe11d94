"""Exports of the logbook for people (tệp xuất): the missed and late periods as CSV or Excel.

Both files have the same columns, in the same order, with Vietnamese headers, and the same
values (dates dd/mm/yyyy, times in Vietnam's time zone, statuses as words). The CSV is UTF-8
with a byte-order mark, so that Excel reads Vietnamese; a cell that a spreadsheet would take
for a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
written as text: prefixed with ``'`` in the CSV, stored as a text cell in the workbook
(CSV injection, OWASP). Each export is an audit event (``export.missed_lessons``) recording
who took what, in the caller's transaction of its own.
"""
from __future__ import annotations

import csv
import io

import pandas as pd

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import formats
from core.kernel.errors import BadRequest
from core.logbook import queries
from core.storage.db import Database

#: (column of :func:`core.logbook.queries.missed_lessons`, Vietnamese header), in file order.
MISSED_COLUMNS = [("entry_id", "Mã tiết"), ("school_name", "Trường"), ("class_name", "Lớp"), ("day", "Ngày"),
                  ("period_no", "Tiết"), ("subject", "Môn"), ("teacher", "Giáo viên"), ("status", "Tình trạng"),
                  ("signed_at", "Ký lúc"), ("minutes_late", "Trễ (phút)"), ("hours_lost", "Giờ dạy bị mất")]
HEADERS = [vi for _, vi in MISSED_COLUMNS]
EXCEL_MAX_ROWS = 1_048_575  # one sheet's rows below the header
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx")


def formula_like(value) -> bool:
    """True for text a spreadsheet would evaluate (``=1+1``, ``@SUM(…)``, ``-2+3``)."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def _cells(row) -> list:
    """One period as the file's values (the same for CSV and Excel)."""
    entry_id, school, klass, day, period, subject, teacher, status, signed_at, late, lost = row
    return [int(entry_id), school, klass, formats.date(day), int(period), subject, teacher, formats.status(status),
            "" if pd.isna(signed_at) else formats.datetime(pd.Timestamp(signed_at).to_pydatetime()),
            None if pd.isna(late) else float(late), int(lost)]


def missed_rows(db: Database, actor: Actor, *, school_id: int | None = None, include_late: bool = True,
                page_size: int = 5000):
    """The missed / late periods as rows of :data:`MISSED_COLUMNS`, page after page from the
    database (never one huge query)."""
    names = [c for c, _ in MISSED_COLUMNS]
    n = 0
    while True:
        part = queries.missed_lessons(db, actor, school_id=school_id, include_late=include_late, page=n,
                                      page_size=page_size)
        for row in part[names].itertuples(index=False):
            yield _cells(row)
        if len(part) < page_size:
            return
        n += 1


def _csv(rows) -> tuple[bytes, int]:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    n = 0
    for row in rows:
        writer.writerow(["'" + v if formula_like(v) else
                         formats.number(v, 1) if isinstance(v, float) else v for v in row])
        n += 1
    return out.getvalue().encode("utf-8"), n


def _xlsx(rows) -> tuple[bytes, int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Tiết không ký")
    sheet.freeze_panes = "A2"
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    n = 0
    for row in rows:
        if n == EXCEL_MAX_ROWS - 1:
            sheet.append(["(Danh sách dài hơn một trang tính Excel; tải CSV để có đủ các dòng)"])
            break
        cells = []
        for value in row:
            if formula_like(value):  # kept as text: never a live formula
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
        n += 1
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), n


def missed_lessons_file(db: Database, actor: Actor, kind: str, *, school_id: int | None = None,
                        include_late: bool = True) -> bytes:
    """The missed (and, with ``include_late``, late) periods in the caller's scope as a ``csv``
    or ``xlsx`` file; recorded in the audit trail as ``export.missed_lessons`` (format, rows,
    filters)."""
    require(actor, Permission.VIEW)
    if kind not in FORMATS:
        raise BadRequest(f"unknown export format {kind!r}; choose one of {', '.join(FORMATS)}",
                         message_vi=f"Không có định dạng xuất {kind!r}; chọn một trong: {', '.join(FORMATS)}")
    rows = missed_rows(db, actor, school_id=school_id, include_late=include_late)
    data, n = _csv(rows) if kind == "csv" else _xlsx(rows)
    with db.transaction() as session:
        audit.record(session, actor, "export.missed_lessons", "export", None, school_id=school_id,
                     after={"format": kind, "rows": n, "school_id": school_id, "include_late": include_late})
    return data
