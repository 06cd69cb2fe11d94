"""The public check of a transcript (tra cứu, xác thực học bạ), for anyone shown one — a phone
that scanned the QR code, a university's clerk, a court: plain Tornado handlers rendered on the
server (no Panel session, no websocket, no script), so that a check by code costs one cached
lookup and one indexed read (:class:`core.transcripts.verification.VerificationCache`).

- ``GET /verify?code=…`` — the page, with what was issued under the code and its status now;
- ``POST /verify`` — the same page for an uploaded PDF (``multipart/form-data``, field ``pdf``);
- ``GET /verify.json?code=…`` and ``POST /verify.json`` (the PDF as the body) — the same answer
  as JSON, for machines.

Inputs are bounded before any work: a code longer than
:data:`core.transcripts.rules.public_view.CODE_INPUT_MAX` or outside the alphabet is refused
without a lookup; an upload larger than :data:`core.transcripts.verification.MAX_PDF_BYTES`
is refused from its ``Content-Length`` (or cut off while streaming) without being read. A
cache miss and the verification of a PDF that is not an issued document run in worker
threads, at most two verifications at once, so the server keeps answering.
"""
from __future__ import annotations

import hashlib
import html
import json
from concurrent.futures import ThreadPoolExecutor

from tornado import httputil, web
from tornado.ioloop import IOLoop

from core.kernel.errors import SohoaError
from core.transcripts.rules.public_view import CODE_INPUT_MAX, normal_code
from core.transcripts.verification import MAX_PDF_BYTES, VERDICTS, TranscriptCheck, VerificationCache

#: The largest request body read (the PDF and the form's own bytes)
MAX_BODY = MAX_PDF_BYTES + 64 * 1024
#: A body up to this size that is too large is received and dropped unread, so the sender's
#: browser gets the page saying why; a larger one is answered before it is sent
DISCARD_LIMIT = 16 * 1024 * 1024
TOO_BIG = f"Tệp lớn hơn {MAX_PDF_BYTES // 2**20} MB, không phải một học bạ; hãy tải lên tệp PDF học bạ"
ROLE_VI = {"homeroom": "Giáo viên chủ nhiệm", "principal": "Hiệu trưởng", "seal": "Con dấu của nhà trường",
           "unknown": "Chữ ký khác"}
INDICATION_VI = {"PASSED": "hợp lệ", "FAILED": "không hợp lệ", "INDETERMINATE": "chưa xác định được"}
#: Each verdict's look: an icon and a border that differ without colour, and a colour
LOOKS = {"valid": ("✔", "solid", "#1b6e35", "#e8f5ec"), "altered": ("✖", "double", "#a4001d", "#fdecee"),
         "unknown": ("?", "dashed", "#4a4a4a", "#f1f1f1"), "cancelled": ("⊘", "dotted", "#8a4b00", "#fff3e0"),
         "invalid": ("!", "double", "#a4001d", "#fdecee"), "not_issued": ("…", "dashed", "#1d4e89", "#eaf1fa")}
EXPLAIN = {
    "valid": "Học bạ được cấp và đang có hiệu lực. Hãy so sánh các thông tin dưới đây với bản bạn đang cầm.",
    "altered": "Mã xác thực có thật, nhưng tệp này khác với học bạ đã cấp theo mã đó: đừng tin nội dung của tệp. "
               "Thông tin dưới đây là của học bạ đã cấp thật.",
    "unknown": "Hệ thống không cấp học bạ nào có mã hoặc nội dung này.",
    "cancelled": "Học bạ này đã bị nhà trường hủy và không còn giá trị; hãy dùng học bạ thay thế.",
    "invalid": "Chữ ký trên học bạ này không còn hợp lệ (chứng thư số bị thu hồi hoặc người ký không đúng vai trò).",
    "not_issued": "Học bạ với mã này chưa được ký và cấp.",
}

STYLE = """*{box-sizing:border-box}body{font-family:'DejaVu Sans',system-ui,sans-serif;margin:0;background:#f3f6fa;
color:#1a1a1a;font-size:16px;line-height:1.45}header{background:#1d4e89;color:#fff;padding:.8em 1em}
header h1{font-size:1.2em;margin:0}main{max-width:42rem;margin:0 auto;padding:1em}
form{background:#fff;border-radius:8px;padding:1em;margin:0 0 1em;box-shadow:0 1px 3px #0002}
label{display:block;font-weight:bold;margin-bottom:.4em}input[type=text],input[type=file]{width:100%;padding:.6em;
font-size:1em;border:1px solid #999;border-radius:4px}button{margin-top:.6em;padding:.6em 1.4em;font-size:1em;
background:#1d4e89;color:#fff;border:0;border-radius:4px}.verdict{border-width:4px;border-radius:8px;padding:1em;
margin:0 0 1em}.verdict .word{font-size:1.6em;font-weight:bold;letter-spacing:.03em}.verdict .icon{font-size:1.6em;
margin-right:.3em}dl{background:#fff;border-radius:8px;padding:1em;margin:0 0 1em;box-shadow:0 1px 3px #0002}
dt{font-weight:bold;margin-top:.5em}dd{margin:0;overflow-wrap:anywhere}code{overflow-wrap:anywhere;font-size:.9em}
ul{background:#fff;border-radius:8px;padding:1em 1em 1em 2em;box-shadow:0 1px 3px #0002}
.err{color:#a4001d;font-weight:bold}footer{max-width:42rem;margin:0 auto;padding:0 1em 2em;font-size:.9em}"""

PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tra cứu, xác thực học bạ số</title><style>{style}</style></head><body>
<header><h1>Tra cứu, xác thực học bạ số</h1></header><main>
<form method="get" action="/verify" id="by-code"><label for="code">Mã xác thực (in dưới mã QR của học bạ)</label>
<input type="text" id="code" name="code" value="{code}" maxlength="{maxlength}" autocomplete="off"
 autocapitalize="characters" spellcheck="false" placeholder="VD: K7QX2MP9AB"><button type="submit">Kiểm tra</button></form>
{result}
<form method="post" action="/verify" enctype="multipart/form-data" id="by-file">
<label for="pdf">Hoặc tải lên tệp PDF học bạ (tối đa {max_mb} MB)</label>
<input type="file" id="pdf" name="pdf" accept="application/pdf,.pdf"><button type="submit">Kiểm tra tệp</button></form>
</main><footer>Trang công khai, không cần đăng nhập. So sánh mã băm SHA-256: <code>sha256sum tệp.pdf</code>.
<a href="/login">Đăng nhập hệ thống</a></footer></body></html>"""


def _date(value) -> str:
    return value.strftime("%d/%m/%Y") if value else "—"


def render_result(check: TranscriptCheck, *, upload_sha256: str | None = None, link: str = "/verify?code=") -> str:
    """The answer as HTML: the verdict (word, icon, border, colour), what was issued, the
    signatures; every value escaped. ``link`` leads to the check of a replacement's code."""
    e = html.escape
    icon, border, colour, background = LOOKS[check.verdict]
    parts = [f'<section class="verdict verdict-{check.verdict}" id="verdict" data-verdict="{check.verdict}" '
             f'role="status" style="border-style:{border};border-color:{colour};background:{background};'
             f'color:{colour}"><span class="icon" aria-hidden="true">{icon}</span>'
             f'<span class="word">{e(VERDICTS[check.verdict].upper())}</span>'
             f'<p id="message">{e(check.message)}</p><p>{e(EXPLAIN[check.verdict])}</p></section>']
    rows = []
    if check.facts is not None:
        f = check.facts
        rows += [("Mã xác thực", f.code), ("Trường", f.school), ("Lớp", f.class_name), ("Năm học", f.school_year),
                 ("Học sinh", f.student), ("Bản số", str(f.version)), ("Ngày cấp", _date(f.issued_on)),
                 ("Mã băm SHA-256 của tệp học bạ đã cấp", f.fingerprint)]
    if check.cancelled_on:
        rows.append(("Ngày hủy", _date(check.cancelled_on)))
    if check.replaced_by_code:
        rows.append(("Thay thế bằng học bạ", check.replaced_by_code))
    if upload_sha256:
        rows.append(("Mã băm SHA-256 của tệp bạn tải lên", upload_sha256))
    if rows:
        items = []
        for label, value in rows:
            shown = e(value)
            if label == "Thay thế bằng học bạ":
                shown = f'<a href="{e(link)}{e(value)}" id="replacement">{shown}</a>'
            elif label.startswith("Mã băm"):
                shown = f"<code>{shown}</code>"
            items.append(f"<dt>{e(label)}</dt><dd>{shown}</dd>")
        parts.append('<dl id="facts">' + "".join(items) + "</dl>")
    if check.report is not None and check.report.signatures:
        lines = []
        for s in check.report.signatures:
            v = s.verification
            why = v.message_vi or ("" if v.valid else v.message)
            lines.append(f"<li>{e(ROLE_VI.get(s.role, s.role))}: {e(INDICATION_VI.get(v.indication, v.indication))} "
                         f"({e(v.indication)}{' — ' + e(v.sub_indication) if v.sub_indication else ''})"
                         f"{' — ' + e(why) if why else ''}</li>")
        parts.append('<h2>Chữ ký số</h2><ul id="signatures">' + "".join(lines) + "</ul>")
    return "\n".join(parts)


def as_json(check: TranscriptCheck, *, upload_sha256: str | None = None) -> dict:
    """The answer for machines: the same facts as the page."""
    f = check.facts
    return {"verdict": check.verdict, "verdict_vi": VERDICTS[check.verdict], "message": check.message,
            "status": check.status, "current": check.current, "matches": check.matches,
            "replaced_by": check.replaced_by_code, "cancelled_on": check.cancelled_on.isoformat()
            if check.cancelled_on else None, "upload_sha256": upload_sha256,
            "issued": None if f is None else {
                "code": f.code, "school": f.school, "class": f.class_name, "school_year": f.school_year,
                "student": f.student, "version": f.version,
                "issued_on": f.issued_on.isoformat() if f.issued_on else None, "sha256": f.fingerprint},
            "signatures": [] if check.report is None else [
                {"role": s.role, "indication": s.verification.indication,
                 "sub_indication": s.verification.sub_indication, "message_vi": s.verification.message_vi}
                for s in check.report.signatures]}


@web.stream_request_body
class VerifyHandler(web.RequestHandler):
    """``/verify`` (the page) and ``/verify.json`` (``json=True``)."""

    def initialize(self, cache: VerificationCache, executor: ThreadPoolExecutor, json: bool = False):
        self.cache, self.executor, self.json = cache, executor, json
        self._body = bytearray()
        self._too_big = False

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-cache")  # a cancellation shows at the next look
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
        self.set_header("Referrer-Policy", "no-referrer")

    def prepare(self):
        if self.request.method == "POST":
            length = self.request.headers.get("Content-Length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                self._too_big = True
                if length.isdigit() and int(length) <= DISCARD_LIMIT:
                    # a file somewhat too large: let it arrive, unread, so the browser shows the answer
                    self.request.connection.set_max_body_size(DISCARD_LIMIT)
                    return
                self._answer_error(413, TOO_BIG)  # far too large: answered at once, the connection closed
                return
            self.request.connection.set_max_body_size(MAX_BODY)

    def data_received(self, chunk: bytes):
        if not self._too_big:
            self._body += chunk

    async def get(self):
        typed = self.get_query_argument("code", "")
        if not typed:
            return self._answer(None)
        if len(typed) > CODE_INPUT_MAX:
            return self._answer_error(400, "Mã xác thực quá dài: mã gồm 10 chữ cái và chữ số in dưới mã QR")
        code = normal_code(typed)
        if code is None:
            return self._answer_error(400, "Mã xác thực không hợp lệ: mã gồm 10 chữ cái và chữ số in dưới mã QR",
                                      code=typed)
        if self.cache.cached(code):
            check = self.cache.check(code)
        else:
            check = await IOLoop.current().run_in_executor(self.executor, self.cache.check, code)
        self._answer(check, code=code)

    async def post(self):
        if self._too_big:
            return self._answer_error(413, TOO_BIG)
        body = bytes(self._body)
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            args, files = {}, {}
            httputil.parse_body_arguments(content_type, body, args, files)
            uploads = files.get("pdf") or []
            body = uploads[0].body if uploads else b""
        if not body:
            return self._answer_error(400, "Chưa chọn tệp PDF học bạ để tải lên")
        digest = hashlib.sha256(body).hexdigest()
        try:
            if self.cache.matches_cached(body, digest):
                check = self.cache.check_pdf(body)
            else:
                check = await IOLoop.current().run_in_executor(self.executor, self.cache.check_pdf, body)
        except SohoaError as err:
            return self._answer_error(err.status, err.message_vi)
        self._answer(check, upload_sha256=digest)

    def _answer(self, check: TranscriptCheck | None, *, code: str = "", upload_sha256: str | None = None):
        if self.json:
            if check is None:
                return self._answer_error(400, "Thiếu mã xác thực (?code=…) hoặc tệp PDF")
            self.set_header("Content-Type", "application/json; charset=utf-8")
            return self.finish(json.dumps(as_json(check, upload_sha256=upload_sha256), ensure_ascii=False))
        result = "" if check is None else render_result(check, upload_sha256=upload_sha256)
        self.finish(PAGE.format(style=STYLE, code=html.escape(code), maxlength=CODE_INPUT_MAX, result=result,
                                max_mb=MAX_PDF_BYTES // 2**20))

    def _answer_error(self, status: int, message_vi: str, *, code: str = ""):
        self.set_status(status)
        if self.json:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            return self.finish(json.dumps({"error": message_vi}, ensure_ascii=False))
        result = f'<p class="err" id="error" role="alert">{html.escape(message_vi)}</p>'
        self.finish(PAGE.format(style=STYLE, code=html.escape(code[:CODE_INPUT_MAX]), maxlength=CODE_INPUT_MAX,
                                result=result, max_mb=MAX_PDF_BYTES // 2**20))


def public_handlers(db, trust, *, cache: VerificationCache | None = None) -> list[tuple]:
    """The routes of the public check, for a Tornado application (the console adds them to its
    own, :func:`dashboards.app.serve`)."""
    cache = cache or VerificationCache(db, trust)
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="verify")
    shared = {"cache": cache, "executor": executor}
    return [(r"/verify", VerifyHandler, shared), (r"/verify\.json", VerifyHandler, {**shared, "json": True})]


def make_app(db, trust, *, cache: VerificationCache | None = None) -> web.Application:
    """The public check alone, as a Tornado application (tests; a server of its own)."""
    return web.Application(public_handlers(db, trust, cache=cache))


NATIONAL_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tra cứu, xác thực học bạ số toàn quốc</title><style>{style}</style></head><body>
<header><h1>Tra cứu, xác thực học bạ số toàn quốc</h1></header><main>
<form method="get" action="/national/verify" id="by-code"><label for="code">Mã học bạ (mã tỉnh, dấu gạch và mã
xác thực in dưới mã QR)</label>
<input type="text" id="code" name="code" value="{code}" maxlength="{maxlength}" autocomplete="off"
 autocapitalize="characters" spellcheck="false" placeholder="VD: 79-K7QX2MP9AB"><button type="submit">Kiểm tra</button>
</form>
{result}
</main><footer>Trang công khai, không cần đăng nhập. Mỗi mã được kiểm tra tại hệ thống học bạ của tỉnh, thành phố
đã cấp (hai chữ số đầu của mã); nếu hệ thống của một tỉnh tạm ngừng, chỉ học bạ của tỉnh đó chưa tra cứu được.
</footer></body></html>"""


class NationalVerifyHandler(web.RequestHandler):
    """``/national/verify?code=79-XXXXXXXXXX`` (the page, in Vietnamese, for a phone) and
    ``/national/verify.json`` (``json=True``): the public check for the whole country, a code
    routed by its province prefix to that province's record store
    (:class:`core.analytics.federation.FederatedVerifier`); the page names the province that
    answered. A province that does not answer gives 503 with a message in Vietnamese and
    English for its codes only."""

    def initialize(self, verifier, executor: ThreadPoolExecutor, json: bool = True):
        self.verifier, self.executor, self.json = verifier, executor, json

    def set_default_headers(self):
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; "
                                                   "form-action 'self'; frame-ancestors 'none'")
        self.set_header("Referrer-Policy", "no-referrer")

    async def get(self):
        typed = self.get_query_argument("code", "")
        if not typed and not self.json:
            return self._page("")
        try:
            province, _ = self.verifier.directory.route(typed)  # refused here: a malformed or unknown prefix
            check = await IOLoop.current().run_in_executor(self.executor, self.verifier.check, typed)
        except SohoaError as err:
            self.set_status(err.status)
            if self.json:
                self.set_header("Content-Type", "application/json; charset=utf-8")
                return self.finish(json.dumps({"error": err.message_vi, "error_en": err.message}, ensure_ascii=False))
            e = html.escape
            return self._page(typed, f'<p class="err" id="error" role="alert">{e(err.message_vi)}</p>'
                                     f'<p lang="en" id="error-en">{e(err.message)}</p>')
        if self.json:
            self.set_header("Content-Type", "application/json; charset=utf-8")
            return self.finish(json.dumps(as_json(check), ensure_ascii=False))
        where = (f'<p id="province">Trả lời từ hệ thống học bạ của <strong>{html.escape(province.name)}</strong> '
                 f"(mã tỉnh {html.escape(province.code)}).</p>")
        self._page(typed, where + render_result(check, link=f"/national/verify?code={province.code}-"))

    def _page(self, code: str, result: str = ""):
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(NATIONAL_PAGE.format(style=STYLE, code=html.escape(code[:CODE_INPUT_MAX + 3]),
                                         maxlength=CODE_INPUT_MAX + 3, result=result))


def national_handlers(verifier) -> list[tuple]:
    """The national public check's routes, the page and the JSON (a
    :class:`~core.analytics.federation.FederatedVerifier`)."""
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="verify-national")
    shared = {"verifier": verifier, "executor": executor}
    return [(r"/national/verify", NationalVerifyHandler, {**shared, "json": False}),
            (r"/national/verify\.json", NationalVerifyHandler, {**shared, "json": True})]
