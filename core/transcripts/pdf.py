"""The printable học bạ page of one school year, after the Ministry's paper layout (TT22/2021
annex for secondary, TT27/2020 form for primary; see docs/transcript-layout.md): national
motto, title, the student's identity, one row per subject with term and year results and
the teacher's comment, conduct and learning results, title, promotion, the homeroom
teacher's comment, then the signature boxes of the homeroom teacher, the principal and the
school seal. A QR code and a short verification code lead to the public verification page.

The page is drawn straight on a ReportLab canvas (fixed columns, text wrapped with
``simpleSplit``) rather than through Platypus flowables, and the QR code's modules are one
filled path: a city issues 132,000 of these in one sitting (benchmarks/transcripts.py), and
that cuts the page from ~25 ms to a few.
"""
from __future__ import annotations

import datetime as dt
import io
import zlib

from core.kernel.fonts import dejavu

HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD = "GVCN", "HieuTruong", "DauTruong"
HOMEROOM_BOX = (40, 40, 200, 120)
PRINCIPAL_BOX = (220, 40, 380, 120)
SEAL_BOX = (400, 40, 560, 120)
SIGNATURE_FIELDS = [(HOMEROOM_FIELD, HOMEROOM_BOX), (PRINCIPAL_FIELD, PRINCIPAL_BOX), (SEAL_FIELD, SEAL_BOX)]

REGULAR, BOLD = "DejaVuSans", "DejaVuSans-Bold"
SIZE, LEADING, PAD = 8.5, 10.5, 3.5
LEFT, WIDTH = 36.0, 523.0
SUBJECT_COLUMNS = (150, 55, 55, 55, 208)
PRIMARY_COLUMNS = (170, 70, 80, 203)
SUMMARY_COLUMNS = (200, 323)
QR_SIZE = 62


#: zlib level of the streams reportlab compresses (page content, font subsets). Its default (6)
#: costs 1.1 ms more a transcript than 1 (6.5 against 5.4 ms to render) for 4.6 % fewer bytes
#: (49.7 against 52.0 kB before signatures); issuing is CPU-bound (docs/benchmarks.md), storage is not.
FLATE_LEVEL = 1


def _register_fonts() -> None:
    """DejaVu for reportlab, and its Flate filter at :data:`FLATE_LEVEL` (once per process)."""
    from reportlab.pdfbase import pdfdoc, pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if REGULAR not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(REGULAR, str(dejavu(REGULAR))))
        pdfmetrics.registerFont(TTFont(BOLD, str(dejavu(BOLD))))
    if not getattr(pdfdoc.PDFZCompress, "sohoa_level", None):
        class Flate(pdfdoc.PDFStreamFilterZCompress):
            """reportlab's FlateDecode filter (the same stream format) at :data:`FLATE_LEVEL`."""

            sohoa_level = FLATE_LEVEL

            def encode(self, text):
                return zlib.compress(text.encode("utf8") if isinstance(text, str) else text, FLATE_LEVEL)
        pdfdoc.PDFZCompress = Flate()  # reportlab reads this module global each time it writes a stream


def _draw_qr(canvas, text: str, x: float, y: float, size: float) -> None:
    """The QR code (segno encodes it) as one path of dark runs, row by row. The mask pattern
    is fixed (ISO/IEC 18004 allows any of the eight; readers decode them all) instead of scored
    eight ways, which is most of the encoding time."""
    import segno

    matrix = segno.make_qr(text, error="m", mask=0).matrix
    n = len(matrix)
    cell = size / n
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                path.rect(x + start * cell, y + size - (r + 1) * cell, (c - start) * cell, cell)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)


def _table(canvas, top: float, columns: tuple[int, ...], rows: list[list[str]], *, centered: set[int] = frozenset(),
           header: bool = False) -> float:
    """Draw a grid of wrapped cells from ``top`` down; return the y below the table."""
    from reportlab.lib import colors
    from reportlab.lib.utils import simpleSplit

    y = top
    xs = [LEFT]
    for w in columns:
        xs.append(xs[-1] + w)
    canvas.setStrokeColor(colors.grey)
    canvas.setLineWidth(0.4)
    for index, row in enumerate(rows):
        cells = [simpleSplit(str(text or ""), REGULAR, SIZE, w - 2 * PAD) or [""] for text, w in zip(row, columns)]
        height = max(len(lines) for lines in cells) * LEADING + 2 * PAD
        if header and index == 0:
            canvas.setFillColor(colors.HexColor("#eef2f7"))
            canvas.rect(LEFT, y - height, xs[-1] - LEFT, height, stroke=0, fill=1)
            canvas.setFillColor(colors.black)
        for col, lines in enumerate(cells):
            first = y - height / 2 + (len(lines) * LEADING) / 2 - SIZE
            for k, line in enumerate(lines):
                if col in centered and not (header and index == 0):
                    canvas.drawCentredString((xs[col] + xs[col + 1]) / 2, first - k * LEADING, line)
                else:
                    canvas.drawString(xs[col] + PAD, first - k * LEADING, line)
        canvas.line(LEFT, y, xs[-1], y)
        y -= height
    canvas.line(LEFT, y, xs[-1], y)
    for x in xs:
        canvas.line(x, top, x, y)
    return y


def render_transcript(content: dict, verification_code: str, verify_url: str, *, data: bytes | None = None,
                      at: dt.datetime | None = None) -> bytes:
    """The page of ``content``. With ``data`` (the transcript's data as JSON,
    :func:`core.transcripts.data.data_bytes`) the PDF is made PDF/A-3b with the data attached
    (:func:`core.transcripts.pdfa.make_pdfa3`), dated ``at`` (default now)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen.canvas import Canvas

    _register_fonts()
    student = content["student"]
    out = io.BytesIO()
    # the initial font is one embedded: no standard font is named in the page (PDF/A, ISO 19005-3 6.2.11.4)
    canvas = Canvas(out, pagesize=A4, pageCompression=1, initialFontName=REGULAR, initialFontSize=SIZE)
    title, author, subject = (f"Học bạ {student['full_name']} {content['year']}", content["school"],
                              f"Mã xác thực {verification_code}")
    canvas.setTitle(title)
    canvas.setAuthor(author)
    canvas.setSubject(subject)
    width, height = A4
    middle = LEFT + WIDTH / 2 - 36
    canvas.setFont(BOLD, 10)
    canvas.drawCentredString(middle, height - 42, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    canvas.setFont(REGULAR, SIZE)
    canvas.drawCentredString(middle, height - 53, "Độc lập - Tự do - Hạnh phúc")
    canvas.setFont(BOLD, 16)
    canvas.drawCentredString(middle, height - 78, "HỌC BẠ")
    canvas.setFont(BOLD, 10)
    canvas.drawCentredString(middle, height - 92, content["level_name"].upper())
    _draw_qr(canvas, verify_url, width - LEFT - QR_SIZE, height - 30 - QR_SIZE, QR_SIZE)
    # the QR code is also a link, which names the code in the file (core.transcripts.verification.code_in_pdf)
    canvas.linkURL(verify_url, (width - LEFT - QR_SIZE, height - 30 - QR_SIZE, width - LEFT, height - 30),
                   relative=0, thickness=0)
    canvas.setFont(REGULAR, 7)
    canvas.drawRightString(width - LEFT, height - 30 - QR_SIZE - 9, f"Mã xác thực: {verification_code}")

    canvas.setFont(REGULAR, SIZE)
    identity = [(f"Họ và tên: {student['full_name']}", f"Giới tính: {student['sex']}",
                 f"Ngày sinh: {student['birth_date']}"),
                (f"Số định danh cá nhân: {student['personal_id']}", f"Lớp: {content['class']}",
                 f"Năm học: {content['year']}"),
                (f"Trường: {content['school']}", "", f"Bản số {content['version']}")]
    y = height - 118
    for row in identity:
        for x, text in zip((LEFT + PAD, LEFT + 230 + PAD, LEFT + 380 + PAD), row):
            canvas.drawString(x, y, text)
        y -= 17

    if content.get("grade", 6) <= 5:  # TT27: a rating per subject and the year-end test score
        rows = [["Môn học và hoạt động giáo dục", "Mức đạt được", "Điểm KTĐK cuối năm",
                 "Nhận xét của giáo viên"]]
        rows += [[s["name"], s.get("year") or "", s.get("test") or "", s.get("comment") or ""]
                 for s in content["subjects"]]
        columns = PRIMARY_COLUMNS
    else:  # TT22: term and year averages (Đạt / Chưa đạt for comment-only subjects)
        rows = [["Môn học / hoạt động giáo dục", "Học kì I", "Học kì II", "Cả năm", "Nhận xét của giáo viên môn học"]]
        rows += [[s["name"], s.get("term1") or "", s.get("term2") or "", s.get("year") or "", s.get("comment") or ""]
                 for s in content["subjects"]]
        columns = SUBJECT_COLUMNS
    y = _table(canvas, y + 4, columns, rows, centered=set(range(1, len(columns) - 1)), header=True)
    y = _table(canvas, y - 12, SUMMARY_COLUMNS, [[k, str(v)] for k, v in content["summary"]])
    lines = simpleSplit(f"Nhận xét của giáo viên chủ nhiệm: {content.get('comment') or ''}", REGULAR, SIZE, WIDTH)
    y -= 16
    for line in lines:
        canvas.drawString(LEFT, y, line)
        y -= LEADING

    canvas.setStrokeColor(colors.lightgrey)
    for (bx1, by1, bx2, by2), label in ((HOMEROOM_BOX, "GIÁO VIÊN CHỦ NHIỆM"), (PRINCIPAL_BOX, "HIỆU TRƯỞNG"),
                                        (SEAL_BOX, "XÁC NHẬN CỦA NHÀ TRƯỜNG")):
        canvas.drawCentredString((bx1 + bx2) / 2, by2 + 10, label)
        canvas.rect(bx1, by1, bx2 - bx1, by2 - by1)
    canvas.showPage()
    canvas.save()
    if data is None:
        return out.getvalue()
    from core.kernel import clock
    from core.transcripts.data import FILE_NAME, MIME_TYPE
    from core.transcripts.pdfa import make_pdfa3

    return make_pdfa3(out.getvalue(), file_name=FILE_NAME, data=data, mime_type=MIME_TYPE,
                      description="Dữ liệu học bạ (JSON) / the transcript's data", title=title, author=author,
                      subject=subject, at=(at or clock.now()).replace(tzinfo=clock.VN_TZ))
