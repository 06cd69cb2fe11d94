"""The console: sign-in (our own login handler over core.access.accounts: hashed passwords,
expiring sessions, logout), the overview, signing compliance (drill-down, heatmap, late-signing
distribution), missed lessons (CSV / Excel), weekly closing, certificates, the audit trail,
transcript issuance, the admin actions (``dashboards/admin.py``); the public verification page
is plain HTTP (``dashboards/public.py``). Every page resolves the signed-in user from the
session cookie and passes that actor to core, which scopes the data; nothing here filters or
authorises on its own.
"""
from __future__ import annotations

import asyncio
import html
import io
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
from tornado import web

from core.access import queries as access_queries
from core.kernel import formats
from core.kernel.errors import SohoaError
from core.logbook import exports, queries, verification
from core.school import queries as school_queries
from core.signatures import certificates
from core.storage.db import Database
from core.transcripts import figures as transcript_figures
from dashboards.common import (  # noqa: F401 - COOKIE, NAV and current_actor are part of this module's API
    COOKIE,
    LABELS,
    NAV,
    SIGNER_ROLE_VI,
    SIZE,
    Figures,
    audit_action_vi,
    browser_session,
    current_actor,
    frame,
    guarded,
    indication,
    page,
    refusal,
    refusal_text,
    school_options,
    set_options,
    signed_out,
)
from dashboards.oidc import oidc_handlers
from dashboards.public import public_handlers
from dashboards.security import LoginHandler, LogoutHandler, header_transform  # noqa: F401 - part of this API

hv.extension("bokeh", logo=False)



def late_histogram(df: pd.DataFrame, width: int):
    """The late-signing distribution as a histogram over contiguous buckets (empty ones as 0)."""
    lo, hi = int(df["minutes_after_end"].min()), int(df["minutes_after_end"].max())
    edges = np.arange(lo, hi + 2 * width, width)
    counts = df.set_index("minutes_after_end")["entries"].reindex(edges[:-1], fill_value=0).to_numpy()
    return hv.Histogram((edges, counts), kdims=[hv.Dimension("minutes", label="Phút sau khi hết tiết")],
                        vdims=[hv.Dimension("entries", label="Số tiết ký trễ")]).opts(
        height=260, responsive=True, tools=["hover"], color="#d9822b", line_color="white",
        title="Phân bố thời điểm ký trễ (phút sau khi hết tiết)")


def compliance_page(db: Database, trust=None, store=None):
    """Signing compliance: the table per school / class / teacher, the weekday × period
    heatmap and the late-signing distribution (from the analytics store when the console has
    one, see :class:`dashboards.common.Figures`), and the drill-down to one class-week's entries
    and one entry's verification (always the record store)."""
    actor = current_actor(db)
    if actor is None:
        return page("Tuân thủ ký số", None, signed_out())
    try:
        schools = school_queries.schools_in_scope(db, actor)
        weeks = queries.weeks_in_scope(db, actor)
    except SohoaError as err:
        return page("Tuân thủ ký số", actor, refusal(err))
    figures = Figures(db, store).fresh()
    school = pn.widgets.Select(label="Trường", options=school_options(schools, everything="(tất cả)"), width=420)
    level = pn.widgets.RadioButtonGroup(label="Mức", options={"Trường": "school", "Lớp": "class",
                                                              "Giáo viên": "teacher"}, value="school")

    def table(school_id, level_value):
        # The widget value goes to core as a filter; core intersects it with the user's scope.
        df = figures.compliance(actor, level_value, school_id=school_id or None)
        names = {"school": "school_name", "class": "class_name", "teacher": "teacher_name"}
        return frame(df, [names[level_value], "school_name" if level_value != "school" else "district_name",
                          "scheduled", "on_time", "late", "missed", "on_time_rate", "hours_lost"])

    def heatmap(school_id):
        df = figures.heatmap(actor, school_id=school_id or None)
        if df.empty:
            return pn.pane.Markdown("Chưa có dữ liệu.")
        df = df.assign(rate=df["on_time_rate"] * 100, day=df["weekday"].map(lambda d: "CN" if d == 8 else f"T{d}"))
        return hv.HeatMap(df, [hv.Dimension("day", label="Thứ"), hv.Dimension("period_no", label="Tiết")],
                          hv.Dimension("rate", label="Đúng hạn (%)")).opts(clabel="Đúng hạn (%)",
            cmap="RdYlGn", colorbar=True, tools=["hover"], height=260, responsive=True, xlabel="Thứ",
            ylabel="Tiết", title="Tỉ lệ ký đúng hạn (%) theo thứ × tiết", invert_yaxis=True)

    week = pn.widgets.Select(label="Tuần", width=200, options={"(cả học kỳ)": 0, **{
        f"Tuần {r.number} ({r.monday:%d/%m})": int(r.week_id) for r in weeks.itertuples()}})
    width = pn.widgets.RadioButtonGroup(label="Độ rộng cột", options={"1 phút": 1, "5 phút": 5, "15 phút": 15},
                                        value=5)

    def late_distribution(school_id, week_id, bucket):
        df = figures.late_signing(actor, school_id=school_id or None, week_id=week_id or None, bucket_minutes=bucket)
        if df.empty:
            return pn.pane.Markdown("Không có tiết ký trễ trong phạm vi đã chọn.", name="late-distribution")
        n = int(df["entries"].sum())
        cumulative = df["entries"].cumsum()
        median = int(df["minutes_after_end"][cumulative >= n / 2].iloc[0])
        within = int(df.loc[df["minutes_after_end"] < 15, "entries"].sum())
        summary = (f"**{formats.number(n)}** tiết ký trễ · một nửa được ký trong khoảng "
                   f"**{formats.number(median + bucket)} phút** sau khi hết tiết"
                   f" · {formats.percent(within / n, 0)} trong 15 phút đầu")
        return pn.Column(pn.pane.Markdown(summary, name="late-summary"),
                         pn.pane.HoloViews(late_histogram(df, bucket), sizing_mode="stretch_width"),
                         name="late-distribution", sizing_mode="stretch_width")

    # Drill-down to the lesson entries of one class-week and the verification of one entry.
    def class_weeks(school_id) -> dict:
        # the chosen school's class-weeks only (core pages them; the newest 500 are offered)
        closing = queries.week_closing(db, actor, school_id=school_id or None, page_size=500)
        return {f"{r.school_name} · {r.class_name} · tuần {r.week}": (int(r.class_id), int(r.week_id))
                for r in closing.itertuples()}

    class_week = pn.widgets.Select(label="Lớp - tuần", width=420, options=class_weeks(school.value))
    school.param.watch(lambda e: set_options(class_week, class_weeks(e.new)), "value")
    entry_id = pn.widgets.TextInput(label="Mã tiết", placeholder="Mã tiết cần xác thực", width=200)
    check = pn.widgets.Button(label="Xác thực chữ ký", color="primary")
    report = pn.pane.Markdown("", name="entry-report")

    def entries(value):
        if not value:
            return pn.pane.Markdown("")
        rows = queries.class_week_entries(db, actor, *value)
        table = frame(rows, ["entry_id", "day", "period_no", "subject", "teacher", "lesson_title", "status",
                             "signed_at"])

        async def clicked(event):  # a click on a period verifies it: no id to retype
            if event.row is not None and 0 <= event.row < len(rows):
                entry_id.value = entry_id.value_input = str(int(rows.iloc[event.row]["entry_id"]))
                await verify_one(None)
        table.on_click(clicked)
        return table

    async def verify_one(_):
        typed = (entry_id.value_input or entry_id.value or "").strip().replace(".", "").replace(",", "")
        if not typed.isdigit():
            report.object = "**Nhập mã tiết (số)**"
            return
        report.object = "Đang xác thực…"
        try:  # off the server's event loop: verification may validate PDFs (pyHanko runs its own loop)
            result = await asyncio.to_thread(verification.verify, db, actor, trust, entry_id=int(typed))
        except SohoaError as err:
            report.object = f"**{refusal_text(err)}**"
            return
        lines = [f"**Tiết {typed}: {indication(result.indication, result.sub_indication)}**"]
        lines += [f"- {SIGNER_ROLE_VI.get(s.role, s.role)}: "
                  f"{indication(s.verification.indication, s.verification.sub_indication)} — "
                  f"{html.escape(s.verification.message or '')} "
                  f"({html.escape(s.verification.signer_subject or '—')})" for s in result.signatures]
        report.object = "\n".join(lines)

    check.on_click(verify_one)
    body = pn.Column(pn.pane.Markdown("## Tuân thủ ký số"), figures.note(), pn.Row(school, level),
                     pn.panel(pn.bind(table, school, level), loading_indicator=True),
                     pn.panel(pn.bind(heatmap, school), loading_indicator=True),
                     pn.pane.Markdown("### Ký trễ: bao lâu sau khi hết tiết"), pn.Row(week, width),
                     pn.panel(pn.bind(late_distribution, school, week, width), loading_indicator=True),
                     pn.pane.Markdown("### Chi tiết một lớp - tuần (bấm vào một tiết để xác thực chữ ký; "
                                      "đi nhanh hơn từ [Tổng quan](/overview))"), class_week,
                     pn.panel(pn.bind(entries, class_week), loading_indicator=True),
                     pn.Row(entry_id, check), report, name="compliance")
    return page("Tuân thủ ký số", actor, body)


MISSED_SHOWN = ["school_name", "class_name", "day", "period_no", "subject", "teacher", "status", "minutes_late",
                "hours_lost"]


def missed_page(db: Database):
    def build(actor):
        schools = school_queries.schools_in_scope(db, actor)
        school = pn.widgets.Select(label="Trường", options=school_options(schools, everything="(tất cả)"), width=380)
        late = pn.widgets.Checkbox(label="Gồm cả tiết ký trễ", value=True)
        page_no = pn.widgets.IntInput(label="Trang", value=0, start=0, width=100)

        def table(school_id, include_late, n):
            df = queries.missed_lessons(db, actor, school_id=school_id or None, include_late=include_late, page=n)
            return frame(df, MISSED_SHOWN)

        def download(kind):
            # core writes the file (Vietnamese headers, the same columns in both) and audits the export
            return io.BytesIO(exports.missed_lessons_file(db, actor, kind, school_id=school.value or None,
                                                          include_late=late.value))

        downloads = pn.Row(
            pn.widgets.FileDownload(callback=lambda: download("csv"), filename="tiet-khong-ky.csv", label="Tải CSV"),
            pn.widgets.FileDownload(callback=lambda: download("xlsx"), filename="tiet-khong-ky.xlsx",
                                    label="Tải Excel"))
        return pn.Column(pn.pane.Markdown("## Tiết không ký và ký trễ (mỗi tiết mất 1 giờ dạy)"),
                         pn.Row(school, late, page_no), downloads,
                         pn.panel(pn.bind(table, school, late, page_no), loading_indicator=True))
    return guarded("Tiết không ký", db, build)


ISSUANCE_STEPS = {"not_started": "Chưa lập", "drafts": "Bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp"}


def issuance_bars(df: pd.DataFrame):
    """Students per school · grade by where their transcript stands (stacked)."""
    steps = df.assign(label=df["school_code"] + " K" + df["grade"].astype(str),
                      not_started=(df["students"] - df["drafts"] - df["homeroom_signed"] - df["issued"]).clip(lower=0))
    long = steps.melt(id_vars="label", value_vars=list(ISSUANCE_STEPS), var_name="step", value_name="count")
    long["step"] = long["step"].map(ISSUANCE_STEPS)
    return hv.Bars(long, [hv.Dimension("label", label="Trường · khối"), hv.Dimension("step", label="Bước")],
                   hv.Dimension("count", label="Học sinh")).opts(
        stacked=True, height=280, responsive=True, tools=["hover"], ylim=(0, None), legend_position="right",
        cmap=["#c9ccd1", "#f0b44c", "#6aa0d8", "#3a9b5c"], title="Học bạ theo bước của quy trình ký")


def issuance_page(db: Database, store=None):
    figures = Figures(db, store)

    def build(actor):
        df = figures.fresh().issuance(actor, "grade")
        if df.empty:
            return pn.Column(pn.pane.Markdown("## Cấp học bạ số"), pn.pane.Markdown("Chưa có học bạ trong phạm vi."))
        bars = issuance_bars(df)
        schools = school_queries.schools_in_scope(db, actor)
        school = pn.widgets.Select(label="Trường", options=school_options(schools, everything="(tất cả)"), width=380)
        page_no = pn.widgets.IntInput(label="Trang (lớp)", value=0, start=0, width=120)
        size = 20

        def blocking(school_id, n):
            rows, total = transcript_figures.blocking_steps(db, actor, school_id=school_id or None, page=n, page_size=size)
            pages = max(1, -(-total // size))
            note = (f"{total} lớp còn học bạ chưa cấp · trang {n + 1}/{pages}" if total else
                    "Mọi học bạ trong phạm vi đã được cấp.")
            return pn.Column(pn.pane.Markdown(note, name="blocking-note"),
                             frame(rows, ["school_code", "class", "grade", "step", "waiting_on", "transcripts"],
                                   page_size=size * 3), sizing_mode="stretch_width")

        return pn.Column(pn.pane.Markdown("## Cấp học bạ số theo khối"), figures.note(), pn.pane.HoloViews(bars),
                         frame(df.rename(columns={"students": "Học sinh", "drafts": "Bản nháp",
                                                  "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                                                  "cancelled": "Đã hủy", "issued_rate": "Tỉ lệ cấp",
                                                  "deadline": "Hạn", "overdue": "Quá hạn", "grade": "Khối"}),
                               ["school_code", "Khối", "Học sinh", "Bản nháp", "GVCN đã ký", "Đã cấp", "Đã hủy",
                                "Tỉ lệ cấp", "Hạn", "Quá hạn"]),
                         pn.pane.Markdown("### Học bạ chưa cấp đang chờ bước nào"), pn.Row(school, page_no),
                         pn.panel(pn.bind(blocking, school, page_no), loading_indicator=True))
    return guarded("Cấp học bạ", db, build)


CLOSING_PAGE = 50


def closing_page(db: Database):
    """Weekly closing: how many class-weeks are in each state (all of them, counted by core in
    the database), then the class-weeks page by page."""
    def build(actor):
        counts = queries.week_closing_counts(db, actor)
        total = int(counts["class_weeks"].sum())
        page_no = pn.widgets.IntInput(label="Trang", value=0, start=0, width=100)

        def table(n):
            df = queries.week_closing(db, actor, page=n, page_size=CLOSING_PAGE)
            pages = max(1, -(-total // CLOSING_PAGE))
            return pn.Column(pn.pane.Markdown(f"Trang {n + 1}/{pages}", name="closing-page"),
                             frame(df.rename(columns={"week": "Tuần", "state": "Tình trạng chốt"}),
                                   ["school_name", "class_name", "Tuần", "monday", "Tình trạng chốt"],
                                   page_size=CLOSING_PAGE), sizing_mode="stretch_width")

        return pn.Column(pn.pane.Markdown("## Chốt sổ tuần"),
                         pn.pane.Markdown(f"**{formats.number(total)}** lớp - tuần đã qua trong phạm vi",
                                          name="closing-total"),
                         frame(counts.rename(columns={"state": "Tình trạng chốt", "class_weeks": "Số lớp - tuần"}),
                               ["Tình trạng chốt", "Số lớp - tuần"]),
                         page_no, pn.panel(pn.bind(table, page_no), loading_indicator=True))
    return guarded("Chốt sổ tuần", db, build)


def certificates_page(db: Database):
    def build(actor):
        coverage = certificates.coverage(db, actor, "school")
        expiring = certificates.certificate_list(db, actor, expiring_within_days=30)
        return pn.Column(pn.pane.Markdown("## Chứng thư số: độ phủ và hết hạn"),
                         frame(coverage.rename(columns={"staff": "Số cán bộ", "with_valid_certificate": "Có chứng thư",
                                                        "expiring_30_days": "Hết hạn trong 30 ngày",
                                                        "coverage_rate": "Tỉ lệ"}),
                               ["school_name", "Số cán bộ", "Có chứng thư", "Hết hạn trong 30 ngày", "Tỉ lệ"]),
                         pn.pane.Markdown("### Sắp hết hạn (30 ngày)"),
                         frame(expiring, ["school_name", "holder", "kind", "serial_hex", "not_after"]))
    return guarded("Chứng thư số", db, build)


AUDIT_PAGE_SIZE = 25


def audit_page(db: Database):
    def build(actor):
        _, chain = access_queries.audit_trail(db, actor, page_size=1)
        status = ("Chuỗi băm toàn vẹn: **hợp lệ** (" + str(chain.checked) + " sự kiện)" if chain and chain.ok else
                  f"Chuỗi băm: **BỊ PHÁ VỠ** — {chain.problem}" if chain else "Kiểm tra chuỗi băm: dành cho cấp Sở")
        action = pn.widgets.Select(label="Thao tác", width=300, options={
            "(tất cả)": "", **{f"{a} — {audit_action_vi(a)}" if audit_action_vi(a) else a: a
                              for a in access_queries.audit_actions(db, actor)}})
        user = pn.widgets.TextInput(label="Người thực hiện", placeholder="tên đăng nhập", width=180)
        try:
            schools = school_options(school_queries.schools_in_scope(db, actor), everything="(tất cả)")
        except SohoaError:
            schools = {"(tất cả)": 0}
        school = pn.widgets.Select(label="Trường", options=schools, width=300)
        date_from = pn.widgets.DatePicker(label="Từ ngày", width=150)
        date_to = pn.widgets.DatePicker(label="Đến ngày", width=150)
        page_no = pn.widgets.IntInput(label="Trang", value=0, start=0, width=90)

        def table(action_value, user_value, school_id, start, end, n):
            trail, _ = access_queries.audit_trail(db, actor, action=action_value or None, user=user_value or None,
                                           school_id=school_id or None, date_from=start, date_to=end, page=n,
                                           page_size=AUDIT_PAGE_SIZE, check_chain=False)
            more = "" if len(trail) < AUDIT_PAGE_SIZE else " · còn trang sau (tăng số trang)"
            trail["meaning"] = trail["action"].map(audit_action_vi)
            return pn.Column(pn.pane.Markdown(f"Trang {n + 1}: {len(trail)} sự kiện{more}", name="audit-count"),
                             frame(trail, ["at", "actor_name", "action", "meaning", "entity", "entity_id", "reason"],
                                   page_size=AUDIT_PAGE_SIZE), sizing_mode="stretch_width")

        return pn.Column(pn.pane.Markdown("## Nhật ký thao tác"), pn.pane.Markdown(status),
                         pn.Row(action, user, school), pn.Row(date_from, date_to, page_no),
                         pn.panel(pn.bind(table, action, user, school, date_from, date_to, page_no),
                                  loading_indicator=True))
    return guarded("Nhật ký thao tác", db, build)


def serve(db: Database, trust, port: int = 5006, address: str = "127.0.0.1", show: bool = False, *,
          pki_dir: Path | None = None, analytics_store=None, https: bool | None = None, oidc=None, **kwargs):
    """Start the console (blocking unless ``threaded=True`` is passed). ``pki_dir`` is the
    demo PKI's directory: its key store lets a principal unlock their key (PIN) for batch
    signing. ``analytics_store`` (:class:`core.analytics.store.AnalyticsStore`): where the overview's,
    the compliance page's and the transcript issuance page's aggregates run (DuckDB), refreshed
    from the record store when stale; without one they run on the record store. ``https``: the
    console is reached over HTTPS (directly or behind a proxy): Secure cookies and HSTS (default:
    the settings' ``https``). ``oidc`` (:class:`dashboards.oidc.OidcProvider`): sign-in through the
    department's identity provider beside the passwords (default: the settings' ``oidc_issuer``,
    ``oidc_client_id``, ``oidc_client_secret``, ``oidc_scopes`` when an issuer is set).

    Every page is opened on a record store bound to its sign-in
    (:func:`dashboards.common.browser_session`): each load and action re-checks the session in
    core. No cookie and no Cookie header is written into a page (its Bokeh session token), and
    every answer carries the security headers of :mod:`dashboards.security`."""
    from core.kernel import settings
    from core.operations.observability import configure_logging, watch_record_store
    from dashboards.admin import admin_page
    from dashboards.oidc import OidcProvider
    from dashboards.overview import overview_page
    from dashboards.teacher import teacher_page

    configured = settings.current()
    configure_logging(configured)
    watch_record_store(db)
    https = configured.https if https is None else https
    if oidc is None and configured.oidc_issuer:
        oidc = OidcProvider(issuer=configured.oidc_issuer, client_id=configured.oidc_client_id,
                            client_secret=configured.oidc_client_secret or None,
                            scopes=" ".join(configured.oidc_scopes))
    builders = {"overview": lambda db: overview_page(db, analytics_store, trust), "me": teacher_page,
                "compliance": lambda db: compliance_page(db, trust, analytics_store),
                "transcripts": lambda db: issuance_page(db, analytics_store),
                "missed": missed_page, "closing": closing_page, "certificates": certificates_page,
                "audit": audit_page, "admin": lambda db: admin_page(db, pki_dir, trust)}
    pages = {name: (lambda build=build: build(browser_session(db))) for name, build in builders.items()}
    sso, link = oidc_handlers(db, oidc, https=https)
    # the public check is plain HTTP rendered here, not a Panel page (dashboards/public.py)
    # behind the reverse proxy (deploy/nginx-sohoa.conf): its host in the websocket's allowed
    # origins (settings allowed_hosts, public_url), X-Forwarded-For/-Proto believed when trusted_proxies
    origins = [f"{address}:{port}", f"localhost:{port}", *configured.allowed_hosts]
    if configured.public_url:
        origins.append(configured.public_url.split("://", 1)[-1].split("/", 1)[0])
    kwargs.setdefault("use_xheaders", configured.trusted_proxies > 0)
    kwargs.setdefault("log_function", _log_request)
    return pn.serve(pages, port=port, address=address, show=show, title="Sổ đầu bài số",
                    extra_patterns=[(r"/login", LoginHandler, {"db": db, "https": https, "providers": link}), *sso,
                                    (r"/logout", LogoutHandler, {"db": db, "https": https}),
                                    (r"/metrics", MetricsHandler),
                                    (r"/", web.RedirectHandler, {"url": "/login"}), *public_handlers(db, trust),
                                    *kwargs.pop("extra_patterns", [])],
                    include_cookies=[], exclude_headers=["Cookie"],
                    transforms=[header_transform(https)], websocket_origin=kwargs.pop("websocket_origin", origins),
                    **kwargs)


class MetricsHandler(web.RequestHandler):
    """``GET /metrics``: Prometheus text (core/operations/observability.py); the reverse proxy
    serves it to the monitoring network only."""

    def get(self):
        from core.operations.observability import CONTENT_TYPE, metrics_text

        self.set_header("Content-Type", CONTENT_TYPE)
        self.write(metrics_text())


def _log_request(handler) -> None:
    """Tornado's log function: each answer in the metrics; errors and slow answers (everything at
    debug level) as a JSON line with the proxy's request id."""
    import logging

    from core.operations.observability import new_request_id, observe

    access = logging.getLogger("sohoa.console.access")
    request = handler.request
    status, seconds = handler.get_status(), request.request_time()
    observe("console", request.method, request.path, status, seconds)
    level = (logging.WARNING if status >= 500 else logging.INFO if status >= 400 or seconds > 1.0
             else logging.DEBUG)
    if access.isEnabledFor(level):
        access.log(level, "request", extra={"request_id": new_request_id(request.headers.get("X-Request-ID")),
                                             "method": request.method, "path": request.path[:200], "status": status,
                                             "seconds": round(seconds, 4), "client": request.remote_ip})


def serve_in_background(db: Database, trust, *, pki_dir: Path | None = None,
                        analytics_store=None, **kwargs) -> tuple[object, str]:
    """Serve the console on a free loopback port from a thread; returns (server, base URL)
    once it answers. For tests, the screenshots script and the benchmark."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = serve(db, trust, port=port, threaded=True, pki_dir=pki_dir, analytics_store=analytics_store, **kwargs)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{url}/login", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    return server, url


__all__ = ["serve", "serve_in_background", "current_actor", "COOKIE", "NAV"]
