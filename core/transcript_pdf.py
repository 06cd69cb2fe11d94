"""The printable học bạ page of one school year, after the Ministry's paper layout (TT22/2021
annex for secondary, TT27/2020 form for primary; see docs/transcript-layout.md): national
motto, title, the student's identity, one row per subject with term and year results and
the teacher's comment, conduct and learning results, title, promotion, the homeroom
teacher's comment, then the signature boxes of the homeroom teacher, the principal and the
school seal. A QR code and a short verification code lead to the public verification page.
"""
from __future__ import annotations

import io

from core.fonts import dejavu

HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD = "GVCN", "HieuTruong", "DauTruong"
HOMEROOM_BOX = (40, 40, 200, 120)
PRINCIPAL_BOX = (220, 40, 380, 120)
SEAL_BOX = (400, 40, 560, 120)


def render_transcript(content: dict, verification_code: str, verify_url: str) -> bytes:
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(dejavu("DejaVuSans"))))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(dejavu("DejaVuSans-Bold"))))
    body = ParagraphStyle("b", fontName="DejaVuSans", fontSize=8.5, leading=11)
    center = ParagraphStyle("c", parent=body, alignment=1)
    bold = ParagraphStyle("bc", parent=center, fontName="DejaVuSans-Bold", fontSize=10)
    title = ParagraphStyle("t", parent=bold, fontSize=16, leading=20, spaceBefore=6)
    student = content["student"]
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=36, rightMargin=36, topMargin=30, bottomMargin=150,
                            title=f"Học bạ {student['full_name']} {content['year']}", author=content["school"])
    story = [Paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold),
             Paragraph("Độc lập - Tự do - Hạnh phúc", center),
             Paragraph("HỌC BẠ", title),
             Paragraph(content["level_name"].upper(), bold), Spacer(1, 6),
             Table([[Paragraph(f"Họ và tên: <b>{student['full_name']}</b>", body),
                     Paragraph(f"Giới tính: {student['sex']}", body),
                     Paragraph(f"Ngày sinh: {student['birth_date']}", body)],
                    [Paragraph(f"Số định danh cá nhân: {student['personal_id']}", body),
                     Paragraph(f"Lớp: {content['class']}", body), Paragraph(f"Năm học: {content['year']}", body)],
                    [Paragraph(f"Trường: {content['school']}", body), "",
                     Paragraph(f"Bản số {content['version']}", body)]],
                   colWidths=[230, 150, 140]),
             Spacer(1, 8)]
    rows = [[Paragraph(h, body) for h in ("Môn học / hoạt động giáo dục", "Học kì I", "Học kì II", "Cả năm",
                                          "Nhận xét của giáo viên môn học")]]
    for s in content["subjects"]:
        rows.append([Paragraph(s["name"], body), s.get("term1") or "", s.get("term2") or "", s.get("year") or "",
                     Paragraph(s.get("comment") or "", body)])
    table = Table(rows, colWidths=[150, 55, 55, 55, 208], repeatRows=1)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "DejaVuSans", 8.5),
                               ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f7")),
                               ("ALIGN", (1, 1), (3, -1), "CENTER"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [table, Spacer(1, 8)]
    summary = [[Paragraph(k, body), Paragraph(str(v), body)] for k, v in content["summary"]]
    box = Table(summary, colWidths=[200, 323])
    box.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
    story += [box, Spacer(1, 6), Paragraph(f"<b>Nhận xét của giáo viên chủ nhiệm:</b> {content.get('comment') or ''}",
                                           body)]

    def page(canvas, _doc):
        canvas.saveState()
        qr = QrCodeWidget(verify_url)
        x1, y1, x2, y2 = qr.getBounds()
        size = 62
        drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
        drawing.add(qr)
        renderPDF.draw(drawing, canvas, A4[0] - 36 - size, A4[1] - 30 - size)
        canvas.setFont("DejaVuSans", 7)
        canvas.drawRightString(A4[0] - 36, A4[1] - 30 - size - 9, f"Mã xác thực: {verification_code}")
        canvas.setFont("DejaVuSans", 8.5)
        for (bx1, by1, bx2, by2), label in ((HOMEROOM_BOX, "GIÁO VIÊN CHỦ NHIỆM"), (PRINCIPAL_BOX, "HIỆU TRƯỞNG"),
                                            (SEAL_BOX, "XÁC NHẬN CỦA NHÀ TRƯỜNG")):
            canvas.drawCentredString((bx1 + bx2) / 2, by2 + 10, label)
            canvas.setStrokeColor(colors.lightgrey)
            canvas.rect(bx1, by1, bx2 - bx1, by2 - by1)
        canvas.restoreState()

    doc.build(story, onFirstPage=page, onLaterPages=page)
    return out.getvalue()
