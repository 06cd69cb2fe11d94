"""The printable week of a class's logbook (sổ đầu bài tuần), as a PDF with Vietnamese
text in an embedded font, laid out like the paper book (the paper sổ ghi đầu bài of Thông tư 32/2020/TT-BGDĐT, Art. 21): one row per
period with day, period, subject, teacher, lesson title, curriculum period, absences,
remarks, lesson rating and signature status; the homeroom teacher's and the principal's
signature boxes at the foot, where their PAdES signatures go.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from core.kernel.fonts import dejavu
from core.timetable.rules.calendar import WEEKDAYS

PAGE_MARGIN = 28
#: Signature boxes (x1, y1, x2, y2) on the last page, in points, A4 landscape.
HOMEROOM_BOX = (60, 40, 360, 120)
PRINCIPAL_BOX = (480, 40, 780, 120)
HOMEROOM_FIELD, PRINCIPAL_FIELD = "GVCN", "HieuTruong"
STATUS_VI = {"on_time": "Đã ký đúng hạn", "late": "Ký trễ", "missed": "Không ký", "pending": "Chưa ký"}


@dataclass(frozen=True)
class WeekRow:
    day: dt.date
    period_no: int
    subject: str
    teacher: str
    substitute: bool
    lesson_title: str
    curriculum_seq: int | None
    absent: str
    remark: str
    rating: str
    status: str
    signed_at: dt.datetime | None


def render_week(*, school: str, class_name: str, week_number: int, monday: dt.date, homeroom: str,
                principal: str, rows: list[WeekRow]) -> bytes:
    """The PDF bytes of one class-week."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(dejavu("DejaVuSans"))))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(dejavu("DejaVuSans-Bold"))))
    body = ParagraphStyle("body", fontName="DejaVuSans", fontSize=7.5, leading=9)
    head = ParagraphStyle("head", fontName="DejaVuSans-Bold", fontSize=13, leading=16, alignment=1)
    sub = ParagraphStyle("sub", fontName="DejaVuSans", fontSize=9, leading=12, alignment=1)
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=PAGE_MARGIN, rightMargin=PAGE_MARGIN,
                            topMargin=PAGE_MARGIN, bottomMargin=140, title=f"Sổ đầu bài {class_name} tuần {week_number}",
                            author=school)
    sunday = monday + dt.timedelta(days=6)
    story = [Paragraph(school.upper(), sub),
             Paragraph(f"SỔ ĐẦU BÀI — LỚP {class_name}", head),
             Paragraph(f"Tuần {week_number}: từ ngày {monday:%d/%m/%Y} đến ngày {sunday:%d/%m/%Y} · "
                       f"Giáo viên chủ nhiệm: {homeroom}", sub), Spacer(1, 8)]
    header = ["Thứ, ngày", "Tiết", "Môn", "Giáo viên", "Tên bài / nội dung", "Tiết PPCT", "Học sinh vắng",
              "Nhận xét", "Xếp loại", "Chữ ký số"]
    data = [[Paragraph(h, body) for h in header]]
    for r in sorted(rows, key=lambda r: (r.day, r.period_no)):
        signed = STATUS_VI.get(r.status, r.status)
        if r.signed_at:
            signed += f" {r.signed_at:%H:%M:%S}"
        teacher = r.teacher + (" (dạy thay)" if r.substitute else "")
        data.append([Paragraph(f"{WEEKDAYS[r.day.isoweekday()]} {r.day:%d/%m}", body), str(r.period_no),
                     Paragraph(r.subject, body), Paragraph(teacher, body), Paragraph(r.lesson_title or "", body),
                     "" if r.curriculum_seq is None else str(r.curriculum_seq), Paragraph(r.absent, body),
                     Paragraph(r.remark, body), r.rating, Paragraph(signed, body)])
    table = Table(data, colWidths=[62, 28, 70, 92, 170, 40, 90, 120, 40, 78], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "DejaVuSans", 7.5), ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(table)

    def footer(canvas, _doc):
        canvas.saveState()
        canvas.setFont("DejaVuSans", 9)
        for (x1, y1, x2, y2), title, name in ((HOMEROOM_BOX, "GIÁO VIÊN CHỦ NHIỆM", homeroom),
                                              (PRINCIPAL_BOX, "HIỆU TRƯỞNG", principal)):
            canvas.drawCentredString((x1 + x2) / 2, y2 + 14, title)
            canvas.setFont("DejaVuSans", 8)
            canvas.drawCentredString((x1 + x2) / 2, y1 - 12, name)
            canvas.setFont("DejaVuSans", 9)
            canvas.setStrokeColor(colors.lightgrey)
            canvas.rect(x1, y1, x2 - x1, y2 - y1)
        canvas.setFont("DejaVuSans", 7)
        canvas.drawRightString(landscape(A4)[0] - PAGE_MARGIN, 14, f"Trang {canvas.getPageNumber()}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
