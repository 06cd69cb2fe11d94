"""The console: sign-in (our own login handler over core.accounts: hashed passwords,
expiring sessions, logout), the overview, signing compliance, and the public verification
page. Every page resolves the signed-in user from the session cookie and passes that actor
to core, which scopes the data; nothing here filters or authorises on its own.
"""
from __future__ import annotations

import html

import holoviews as hv
import pandas as pd
import panel as pn
from tornado import web

from core import accounts
from core.errors import SohoaError
from core.services import certificates, queries, transcripts, verification
from core.services.compliance import TREND, compliance
from core.services.transcripts import verify_transcript
from core.storage.db import Database

COOKIE = "sohoa_session"
NAV = [("overview", "Tổng quan"), ("compliance", "Tuân thủ ký số"), ("missed", "Tiết không ký / ký trễ"),
       ("closing", "Chốt sổ tuần"), ("certificates", "Chứng thư số"), ("audit", "Nhật ký thao tác"),
       ("transcripts", "Cấp học bạ"), ("admin", "Quản trị"), ("verify", "Xác thực học bạ")]
SIZE = {"font_size": "30pt", "title_size": "11pt"}
hv.extension("bokeh", logo=False)
LABELS = {"scheduled": "Số tiết", "on_time": "Ký đúng hạn", "late": "Ký trễ", "missed": "Không ký",
          "on_time_rate": "Tỉ lệ đúng hạn", "hours_lost": "Giờ dạy bị mất", "weeks_open": "Tuần chưa chốt",
          "school_name": "Trường", "district_name": "Quận/huyện", "class_name": "Lớp", "teacher_name": "Giáo viên",
          "schools_without_monitor": "Trường chưa có giám sát", "day": "Ngày", "period_no": "Tiết",
          "subject": "Môn", "teacher": "Giáo viên", "status": "Tình trạng", "minutes_late": "Trễ (phút)",
          "entity": "Đối tượng", "entity_id": "Mã", "holder": "Người được cấp", "kind": "Loại",
          "serial_hex": "Số hiệu", "not_after": "Hết hạn", "lesson_title": "Tên bài", "entry_id": "Mã tiết",
          "signed_at": "Ký lúc"}

LOGIN_PAGE = """<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Đăng nhập — Sổ đầu bài số</title>
<style>body{{font-family:'DejaVu Sans',sans-serif;background:#f3f6fa;display:flex;justify-content:center;padding-top:8em}}
form{{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002;width:22em}}
input{{width:100%;margin:.4em 0 1em;padding:.5em}} button{{padding:.6em 1.4em}} .err{{color:#b00020}}</style></head>
<body><form method="post" action="/login"><h2>Sổ đầu bài số &amp; Học bạ số</h2>
<p class="err">{error}</p><label>Tên đăng nhập<input name="username" id="username" autofocus></label>
<label>Mật khẩu<input name="password" id="password" type="password"></label>
<button type="submit" id="signin">Đăng nhập</button>
<p><a href="/verify">Tra cứu, xác thực học bạ (không cần đăng nhập)</a></p></form></body></html>"""


class LoginHandler(web.RequestHandler):
    def initialize(self, db: Database):
        self.db = db

    def get(self):
        self.write(LOGIN_PAGE.format(error=""))

    def post(self):
        try:
            token = accounts.sign_in(self.db, self.get_body_argument("username", ""),
                                     self.get_body_argument("password", ""))
        except SohoaError as err:
            self.set_status(401)
            self.write(LOGIN_PAGE.format(error=html.escape(err.message_vi)))
            return
        self.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        self.redirect("/overview")


class LogoutHandler(web.RequestHandler):
    def initialize(self, db: Database):
        self.db = db

    def get(self):
        token = self.get_cookie(COOKIE)
        if token:
            accounts.sign_out(self.db, token)
        self.clear_cookie(COOKIE)
        self.redirect("/login")


def current_actor(db: Database):
    """The signed-in user of this browser session, or None."""
    token = pn.state.cookies.get(COOKIE) if pn.state.cookies else None
    if not token:
        return None
    try:
        return accounts.actor_for_token(db, token)
    except SohoaError:
        return None


def _frame(df: pd.DataFrame, columns: list[str]) -> pn.widgets.Tabulator:
    shown = df[[c for c in columns if c in df]].rename(columns=LABELS)
    return pn.widgets.Tabulator(shown, disabled=True, pagination="local", page_size=15, show_index=False,
                                sizing_mode="stretch_width")


def _page(title: str, actor, body) -> pn.template.BootstrapTemplate:
    template = pn.template.BootstrapTemplate(title=f"Sổ đầu bài số — {title}", header_background="#1d4e89")
    nav = pn.pane.HTML("<br>".join(f'<a href="/{path}">{label}</a>' for path, label in NAV)
                       + '<br><br><a href="/logout" id="logout">Đăng xuất</a>')
    who = pn.pane.Markdown(f"**{html.escape(actor.username)}** · {actor.role.value}") if actor else pn.pane.Markdown("")
    template.sidebar.extend([who, nav])
    template.main.append(body)
    return template


def _signed_out() -> pn.pane.HTML:
    return pn.pane.HTML('<p id="signed-out">Vui lòng <a href="/login">đăng nhập</a>.</p>')


def overview_page(db: Database):
    actor = current_actor(db)
    if actor is None:
        return _page("Tổng quan", None, _signed_out())
    try:
        total = compliance(db, actor, "department")
        trend = compliance(db, actor, TREND)
        schools = compliance(db, actor, "school")
    except SohoaError as err:
        return _page("Tổng quan", actor, pn.pane.Alert(err.message_vi, alert_type="danger"))
    row = total.sum(numeric_only=True)
    decided = row["scheduled"] - row["pending"]
    rate = row["on_time"] / decided if decided else 0.0
    cards = pn.Row(
        pn.indicators.Number(label="Tỉ lệ ký đúng hạn", value=round(rate * 100, 1), format="{value}%", **SIZE),
        pn.indicators.Number(label="Tiết không ký", value=int(row["missed"]), **SIZE),
        pn.indicators.Number(label="Giờ dạy bị mất", value=int(row["hours_lost"]), **SIZE),
        pn.indicators.Number(label="Tuần chưa chốt", value=int(row.get("weeks_open", 0)), **SIZE),
        pn.indicators.Number(label="Trường chưa có giám sát", value=int(row.get("schools_without_monitor", 0)), **SIZE))
    curve = hv.Curve(trend.assign(rate=trend["on_time_rate"] * 100), "week_number", "rate").opts(
        xlabel="Tuần", ylabel="Tỉ lệ đúng hạn (%)", height=280, responsive=True, tools=["hover"])
    worst = schools.sort_values("on_time_rate").head(10)
    body = pn.Column(pn.pane.Markdown("## Tổng quan ký sổ đầu bài"), cards,
                     pn.pane.Markdown("### Xu hướng theo tuần"), pn.pane.HoloViews(curve, sizing_mode="stretch_width"),
                     pn.pane.Markdown("### Các trường có tỉ lệ thấp nhất"),
                     _frame(worst, ["school_name", "district_name", "scheduled", "on_time", "late", "missed",
                                    "on_time_rate", "weeks_open"]),
                     name="overview")
    return _page("Tổng quan", actor, body)


def compliance_page(db: Database, trust=None):
    actor = current_actor(db)
    if actor is None:
        return _page("Tuân thủ ký số", None, _signed_out())
    schools = compliance(db, actor, "school")
    options = {"(tất cả)": 0, **{f"{r.school_code} — {r.school_name}": int(r.school_id)
                                     for r in schools.itertuples()}}
    school = pn.widgets.Select(label="Trường", options=options, width=420)
    level = pn.widgets.RadioButtonGroup(label="Mức", options={"Trường": "school", "Lớp": "class",
                                                              "Giáo viên": "teacher"}, value="school")

    def table(school_id, level_value):
        # The widget value goes to core as a filter; core intersects it with the user's scope.
        df = compliance(db, actor, level_value, school_id=school_id or None)
        names = {"school": "school_name", "class": "class_name", "teacher": "teacher_name"}
        return _frame(df, [names[level_value], "school_name" if level_value != "school" else "district_name",
                           "scheduled", "on_time", "late", "missed", "on_time_rate", "hours_lost"])

    def heatmap(school_id):
        df = queries.signing_heatmap(db, actor, school_id=school_id or None)
        if df.empty:
            return pn.pane.Markdown("Chưa có dữ liệu.")
        df = df.assign(rate=df["on_time_rate"] * 100, day=df["weekday"].map(lambda d: "CN" if d == 8 else f"T{d}"))
        return hv.HeatMap(df, ["day", "period_no"], "rate").opts(
            cmap="RdYlGn", colorbar=True, tools=["hover"], height=260, responsive=True, xlabel="Thứ",
            ylabel="Tiết", title="Tỉ lệ ký đúng hạn (%) theo thứ × tiết", invert_yaxis=True)

    # Drill-down to the lesson entries of one class-week and the verification of one entry.
    closing = queries.week_closing(db, actor, page_size=2000)
    class_week = pn.widgets.Select(label="Lớp - tuần", width=420, options={
        f"{r.school_name} · {r.class_name} · tuần {r.week}": (int(r.class_id), int(r.week_id))
        for r in closing.itertuples()})
    entry_id = pn.widgets.TextInput(label="Mã tiết", placeholder="Mã tiết cần xác thực", width=200)
    check = pn.widgets.Button(label="Xác thực chữ ký", button_type="primary")
    report = pn.pane.Markdown("", name="entry-report")

    def entries(value):
        if not value:
            return pn.pane.Markdown("")
        return _frame(queries.class_week_entries(db, actor, *value),
                      ["entry_id", "day", "period_no", "subject", "teacher", "lesson_title", "status", "signed_at"])

    def verify_one(_):
        try:
            typed = (entry_id.value_input or entry_id.value or "").strip()
            if not typed.isdigit():
                report.object = "**Nhập mã tiết (số)**"
                return
            result = verification.verify(db, actor, trust, entry_id=int(typed))
            lines = [f"**{result.indication}**" + (f" — {result.sub_indication}" if result.sub_indication else "")]
            lines += [f"- {s.role}: {s.verification.message} ({s.verification.signer_subject or '—'})"
                      for s in result.signatures]
            report.object = "\n".join(lines)
        except SohoaError as err:
            report.object = f"**{err.message_vi}**"

    check.on_click(verify_one)
    body = pn.Column(pn.pane.Markdown("## Tuân thủ ký số"), pn.Row(school, level),
                     pn.panel(pn.bind(table, school, level), loading_indicator=True),
                     pn.panel(pn.bind(heatmap, school), loading_indicator=True),
                     pn.pane.Markdown("### Chi tiết một lớp - tuần"), class_week,
                     pn.panel(pn.bind(entries, class_week), loading_indicator=True),
                     pn.Row(entry_id, check), report, name="compliance")
    return _page("Tuân thủ ký số", actor, body)


def _guarded(title: str, db: Database, build):
    """Render ``build(actor)`` for a signed-in user; core refuses what the role may not see."""
    actor = current_actor(db)
    if actor is None:
        return _page(title, None, _signed_out())
    try:
        return _page(title, actor, build(actor))
    except SohoaError as err:
        return _page(title, actor, pn.pane.Alert(err.message_vi, alert_type="danger"))


def missed_page(db: Database):
    def build(actor):
        late = pn.widgets.Checkbox(label="Gồm cả tiết ký trễ", value=True)
        page = pn.widgets.IntInput(label="Trang", value=0, start=0, width=100)

        def table(include_late, page_no):
            df = queries.missed_lessons(db, actor, include_late=include_late, page=page_no)
            return _frame(df, ["school_name", "class_name", "day", "period_no", "subject", "teacher", "status",
                               "minutes_late", "hours_lost"])

        def csv():
            import io
            frames, n = [], 0
            while True:  # page through the database; never one huge query
                part = queries.missed_lessons(db, actor, include_late=late.value, page=n, page_size=5000)
                frames.append(part)
                if len(part) < 5000:
                    break
                n += 1
            return io.StringIO(pd.concat(frames).to_csv(index=False))

        download = pn.widgets.FileDownload(callback=csv, filename="tiet-khong-ky.csv", label="Tải CSV")
        return pn.Column(pn.pane.Markdown("## Tiết không ký và ký trễ (mỗi tiết mất 1 giờ dạy)"),
                         pn.Row(late, page, download), pn.panel(pn.bind(table, late, page), loading_indicator=True))
    return _guarded("Tiết không ký", db, build)


def issuance_page(db: Database):
    def build(actor):
        df = transcripts.issuance_figures(db, actor, "grade")
        if df.empty:
            return pn.Column(pn.pane.Markdown("## Cấp học bạ số"), pn.pane.Markdown("Chưa có học bạ trong phạm vi."))
        bars = hv.Bars(df.assign(label=df["school_code"] + " K" + df["grade"].astype(str),
                                 rate=df["issued_rate"] * 100), "label", "rate").opts(
            height=260, responsive=True, xlabel="Trường · khối", ylabel="Đã cấp (%)", tools=["hover"])
        return pn.Column(pn.pane.Markdown("## Cấp học bạ số theo khối"), pn.pane.HoloViews(bars),
                         _frame(df.rename(columns={"students": "Học sinh", "drafts": "Bản nháp",
                                                   "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                                                   "cancelled": "Đã hủy", "issued_rate": "Tỉ lệ cấp",
                                                   "deadline": "Hạn", "overdue": "Quá hạn", "grade": "Khối"}),
                                ["school_code", "Khối", "Học sinh", "Bản nháp", "GVCN đã ký", "Đã cấp", "Đã hủy",
                                 "Tỉ lệ cấp", "Hạn", "Quá hạn"]))
    return _guarded("Cấp học bạ", db, build)


def closing_page(db: Database):
    def build(actor):
        df = queries.week_closing(db, actor)
        counts = df["state"].value_counts().rename_axis("Tình trạng").reset_index(name="Số lớp-tuần")
        return pn.Column(pn.pane.Markdown("## Chốt sổ tuần"),
                         pn.widgets.Tabulator(counts, disabled=True, show_index=False),
                         _frame(df.rename(columns={"week": "Tuần", "state": "Tình trạng"}),
                                ["school_name", "class_name", "Tuần", "Tình trạng"]))
    return _guarded("Chốt sổ tuần", db, build)


def certificates_page(db: Database):
    def build(actor):
        coverage = certificates.coverage(db, actor, "school")
        expiring = queries.certificate_list(db, actor, expiring_within_days=30)
        return pn.Column(pn.pane.Markdown("## Chứng thư số: độ phủ và hết hạn"),
                         _frame(coverage.rename(columns={"staff": "Số cán bộ", "with_valid_certificate": "Có chứng thư",
                                                         "expiring_30_days": "Hết hạn trong 30 ngày",
                                                         "coverage_rate": "Tỉ lệ"}),
                                ["school_name", "Số cán bộ", "Có chứng thư", "Hết hạn trong 30 ngày", "Tỉ lệ"]),
                         pn.pane.Markdown("### Sắp hết hạn (30 ngày)"),
                         _frame(expiring, ["school_name", "holder", "kind", "serial_hex", "not_after"]))
    return _guarded("Chứng thư số", db, build)


def audit_page(db: Database):
    def build(actor):
        trail, chain = queries.audit_trail(db, actor)
        status = ("Chuỗi băm toàn vẹn: **hợp lệ** (" + str(chain.checked) + " sự kiện)" if chain and chain.ok else
                  f"Chuỗi băm: **BỊ PHÁ VỠ** — {chain.problem}" if chain else "Kiểm tra chuỗi băm: dành cho cấp Sở")
        return pn.Column(pn.pane.Markdown("## Nhật ký thao tác"), pn.pane.Markdown(status),
                         _frame(trail.rename(columns={"at": "Thời gian", "actor_name": "Người thực hiện",
                                                      "action": "Thao tác", "reason": "Lý do"}),
                                ["Thời gian", "Người thực hiện", "Thao tác", "entity", "entity_id", "Lý do"]))
    return _guarded("Nhật ký thao tác", db, build)


def _action(title: str, widgets: list, run) -> pn.Card:
    """An admin action: its inputs, a confirmation box, a button, and the result of the core call."""
    confirm = pn.widgets.Checkbox(label="Tôi xác nhận thực hiện thao tác này")
    button = pn.widgets.Button(label="Thực hiện", button_type="primary", disabled=True)
    result = pn.pane.Alert("", alert_type="light", visible=False)
    confirm.param.watch(lambda e: setattr(button, "disabled", not e.new), "value")

    def go(_):
        try:
            message = run()
            result.object, result.alert_type = f"Đã thực hiện: {message}", "success"
        except SohoaError as err:
            result.object, result.alert_type = f"Không thực hiện được: {err.message_vi}", "danger"
        result.visible, confirm.value = True, False

    button.on_click(go)
    return pn.Card(*widgets, confirm, button, result, title=title, collapsible=False, sizing_mode="stretch_width")


def admin_page(db: Database):
    from core.services import admin
    from core.services.weekly_close import reopen_week

    def build(actor):
        cards = []
        weeks = queries.week_closing(db, actor, page_size=500)
        closed = weeks[weeks["state"].str.startswith("Đã chốt")] if not weeks.empty else weeks
        week_pick = pn.widgets.Select(label="Lớp - tuần đã chốt", options={
            f"{r.school_name} · {r.class_name} · tuần {r.week}": (int(r.class_id), int(r.week_id))
            for r in closed.itertuples()}, width=460)
        reason = pn.widgets.TextInput(label="Lý do mở lại (bắt buộc)", width=460)
        cards.append(_action("Mở lại sổ tuần đã chốt", [week_pick, reason], lambda: (
            reopen_week(db, actor, *week_pick.value, reason.value) and "mở lại sổ tuần")))
        schools = compliance(db, actor, "school")
        school_options = {f"{r.school_code} — {r.school_name}": int(r.school_id) for r in schools.itertuples()}
        remind_school = pn.widgets.Select(label="Trường", options=school_options, width=460)
        cards.append(_action("Nhắc giáo viên còn tiết chưa ký", [remind_school], lambda: (
            f"đã xếp {admin.send_reminders(db, actor, remind_school.value)} thư nhắc vào hộp thư đi")))
        try:
            monitors = queries.monitor_accounts(db, actor)
        except SohoaError:
            monitors = None
        if monitors is not None:
            who = pn.widgets.Select(label="Tài khoản giám sát", width=460,
                                    options={f"{r.username} — {r.display_name}": int(r.id)
                                             for r in monitors.itertuples()})
            where = pn.widgets.Select(label="Trường", options=school_options, width=460)
            cards.append(_action("Phân công giám sát trường", [who, where], lambda: (
                admin.assign_monitor(db, actor, who.value, where.value) and "đã phân công")))
        return pn.Column(pn.pane.Markdown("## Quản trị"), *cards)
    return _guarded("Quản trị", db, build)


def verify_page(db: Database, trust):
    code = pn.widgets.TextInput(label="Mã xác thực học bạ", placeholder="VD: K7QX2MP9AB", width=300)
    button = pn.widgets.Button(label="Kiểm tra", button_type="primary")
    result = pn.pane.Markdown("", name="verify-result")
    initial = pn.state.session_args.get("code", [b""])[0].decode() if pn.state.session_args else ""
    code.value = initial

    def check(_=None):
        if not code.value.strip():
            result.object = ""
            return
        outcome = verify_transcript(db, trust, code=code.value)
        lines = [f"**{html.escape(outcome.message)}**"]
        if outcome.report:
            for s in outcome.report.signatures:
                v = s.verification
                lines.append(f"- {s.role}: {v.indication}" + (f" ({v.sub_indication})" if v.sub_indication else ""))
        result.object = "\n".join(lines)

    button.on_click(check)
    check()
    return _page("Xác thực học bạ", current_actor(db),
                 pn.Column(pn.pane.Markdown("## Tra cứu, xác thực học bạ số"), pn.Row(code, button), result))


def serve(db: Database, trust, port: int = 5006, address: str = "127.0.0.1", show: bool = False, **kwargs):
    """Start the console (blocking unless ``threaded=True`` is passed)."""
    pages = {"overview": lambda: overview_page(db), "compliance": lambda: compliance_page(db, trust),
             "transcripts": lambda: issuance_page(db),
             "missed": lambda: missed_page(db), "closing": lambda: closing_page(db),
             "certificates": lambda: certificates_page(db), "audit": lambda: audit_page(db),
             "admin": lambda: admin_page(db),
             "verify": lambda: verify_page(db, trust)}
    return pn.serve(pages, port=port, address=address, show=show, title="Sổ đầu bài số",
                    extra_patterns=[(r"/login", LoginHandler, {"db": db}), (r"/logout", LogoutHandler, {"db": db}),
                                    (r"/", web.RedirectHandler, {"url": "/login"})],
                    websocket_origin=[f"{address}:{port}", f"localhost:{port}"], **kwargs)


def serve_in_background(db: Database, trust) -> tuple[object, str]:
    """Serve the console on a free loopback port from a thread; returns (server, base URL)
    once it answers. For tests and the screenshots script."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve(db, trust, port=port, threaded=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return server, url
