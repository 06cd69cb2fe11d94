"""What every console page shares: the session cookie → Actor, the page frame with the
navigation, Vietnamese column labels, read-only tables, where the aggregates come from
(:class:`Figures`: the analytics store or the record store), and the admin-action card
(inputs, confirmation, button, result). Nothing here authorises: core does, on every call."""
from __future__ import annotations

import datetime as dt
import html
import logging
import unicodedata
import weakref
from typing import Callable

import pandas as pd
import panel as pn

from core.access import accounts
from core.access.admin import sends_reminders
from core.access.authz import Permission
from core.analytics import queries as analytics_queries
from core.analytics import store as analytics
from core.analytics.cache import ScopedCache
from core.kernel import formats
from core.kernel.errors import SessionEnded, SohoaError
from core.logbook import queries
from core.logbook.compliance import TREND, compliance
from core.storage.db import Database
from core.transcripts import figures as transcript_figures
from dashboards.security import COOKIE, request_cookie

log = logging.getLogger("sohoa.console")
NAV = [("overview", "Tổng quan"), ("compliance", "Tuân thủ ký số"), ("missed", "Tiết không ký / ký trễ"),
       ("closing", "Chốt sổ tuần"), ("certificates", "Chứng thư số"), ("audit", "Nhật ký thao tác"),
       ("transcripts", "Cấp học bạ"), ("admin", "Quản trị"), ("verify", "Xác thực học bạ")]
SIZE = {"font_size": "26pt", "title_size": "11pt", "margin": (5, 18)}
ROLE_VI = {"department_supervisor": "Giám sát Sở", "district_supervisor": "Giám sát Phòng",
           "school_monitor": "Giám sát trường", "principal": "Hiệu trưởng", "vice_principal": "Phó hiệu trưởng",
           "clerk": "Giáo vụ", "teacher": "Giáo viên", "analyst": "Phân tích (chỉ xem)",
           "administrator": "Quản trị hệ thống"}
LABELS = {"scheduled": "Số tiết", "on_time": "Ký đúng hạn", "late": "Ký trễ", "missed": "Không ký",
          "on_time_rate": "Tỉ lệ đúng hạn", "hours_lost": "Giờ dạy bị mất", "weeks_open": "Tuần chưa chốt",
          "school_name": "Trường", "district_name": "Quận/huyện", "class_name": "Lớp", "teacher_name": "Giáo viên",
          "schools_without_monitor": "Trường chưa có giám sát", "day": "Ngày", "period_no": "Tiết",
          "subject": "Môn", "teacher": "Giáo viên", "status": "Tình trạng", "minutes_late": "Trễ (phút)",
          "entity": "Đối tượng", "entity_id": "Mã", "holder": "Người được cấp", "kind": "Loại",
          "serial_hex": "Số hiệu", "not_after": "Hết hạn", "lesson_title": "Tên bài", "entry_id": "Mã tiết",
          "signed_at": "Ký lúc", "at": "Thời gian", "actor_name": "Người thực hiện", "action": "Thao tác",
          "reason": "Lý do", "school_code": "Mã trường", "request_id": "Mã yêu cầu", "requested_by": "Người đề nghị",
          "requested_at": "Đề nghị lúc", "applies_from": "Áp dụng từ", "changes": "Nội dung thay đổi",
          "code": "Mã xác thực", "student": "Học sinh", "version": "Lần cấp", "issued_at": "Cấp lúc",
          "transcript_id": "Mã học bạ", "class": "Lớp", "grade": "Khối", "step": "Bước đang chờ",
          "waiting_on": "Người cần thực hiện", "transcripts": "Số học bạ", "meaning": "Nội dung",
          "monday": "Từ ngày", "email": "Email", "periods": "Số tiết chưa ký", "created_at": "Tạo lúc",
          "delivery": "Tình trạng gửi"}


#: the actor each page's record store was bound to (:func:`browser_session`), and each page's
#: notice that its session has ended
_BOUND: "weakref.WeakKeyDictionary[Database, object]" = weakref.WeakKeyDictionary()
_NOTICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def browser_session(db: Database) -> Database:
    """The record store for the page being opened, bound to its sign-in: core's
    :func:`~core.access.accounts.session_check` runs first in every read and every unit of work
    the page makes — each data load, each admin action, each export — so a page left open stops
    as soon as its session ends (logout, expiry, the account deactivated) or the user's role or
    scope changes (a monitor unassigned), with a notice in both languages at the top of the
    page. Without a valid session cookie: the record store as given (the page shows the
    sign-in link and loads nothing)."""
    token = request_cookie(COOKIE)
    if not token:
        return db
    try:
        actor = accounts.actor_for_token(db, token)
    except SohoaError:
        return db
    notice = pn.pane.Alert("", alert_type="danger", visible=False, name="session-ended",
                           css_classes=["session-ended"], sizing_mode="stretch_width")
    in_core = accounts.session_check(token, actor)

    def check(session) -> None:
        try:
            in_core(session)
        except SessionEnded as err:
            notice.object, notice.visible = session_notice(err), True
            raise
    bound = db.checked(check)
    _BOUND[bound] = actor
    if pn.state.curdoc is not None:
        _NOTICES[pn.state.curdoc] = notice
    return bound


def session_notice(err: SohoaError) -> str:
    """The session-ended notice: both languages, and the way back in."""
    return (f"**{html.escape(err.message_vi)}**<br>{html.escape(err.message)}<br>"
            '<a href="/login">Đăng nhập lại (sign in again)</a>')


def current_actor(db: Database):
    """The signed-in user of this browser session, or None: the actor its record store was bound
    to, re-checked now (:func:`browser_session`), or the session cookie's."""
    if db in _BOUND:
        try:
            with db.reading():  # the session check runs here
                pass
        except SohoaError:
            return None
        return _BOUND[db]
    token = request_cookie(COOKIE)
    if not token:
        return None
    try:
        return accounts.actor_for_token(db, token)
    except SohoaError:
        return None


#: The analytics store's aggregates kept for reuse, by (caller's scope, store fingerprint,
#: minute, query, arguments): never across scopes (:mod:`core.analytics.cache`).
CACHE = ScopedCache()


class Figures:
    """Where a page's aggregates come from. With an analytics store (``serve(analytics_store=…)``)
    they are DuckDB queries over its facts (:mod:`core.analytics.queries`), the store being
    refreshed from the record store when older than five minutes (in the background: the page
    is served the last refresh's figures, their time shown under them); without one, the record
    store's services. Both are core functions taking the actor; the columns are the same."""

    def __init__(self, db: Database, store=None):
        self.db, self.store = db, store

    def fresh(self) -> "Figures":
        """Refresh the store when stale. Should the copy fail (a full disk, the record store
        unreachable through ADBC), the page is served from the record store, and it is logged.
        Figures from the store are loads like any other: the page's session is checked first."""
        with self.db.reading():  # a browser page's record store checks its session here
            pass
        if self.store is not None:
            try:  # a stale store is refreshed in the background: the page is served the last figures meanwhile
                analytics.ensure_fresh_in_background(self.db, self.store, then=analytics_queries.warm)
            except Exception:  # noqa: BLE001 - the record store can still answer
                log.exception("analytics store refresh failed; figures from the record store")
                self.store = None
        return self

    def compliance(self, actor, level: str, *, school_id: int | None = None) -> pd.DataFrame:
        store = self.fresh().store
        if store is not None:
            return CACHE.get(store, actor, "compliance_figures", lambda: analytics_queries.compliance_figures(
                store, actor, level, school_id=school_id), per="day", level=level, school_id=school_id)
        return compliance(self.db, actor, level, school_id=school_id)

    def trend(self, actor) -> pd.DataFrame:
        """On-time rate over the teaching weeks (``week_number``)."""
        store = self.fresh().store
        if store is not None:
            return CACHE.get(store, actor, "trend", lambda: analytics_queries.compliance_figures(
                store, actor, "department", by_week=True).rename(columns={"week": "week_number"}), per="day")
        return compliance(self.db, actor, TREND)

    def heatmap(self, actor, *, school_id: int | None = None) -> pd.DataFrame:
        store = self.fresh().store
        if store is not None:
            return CACHE.get(store, actor, "signing_heatmap", lambda: analytics_queries.signing_heatmap(
                store, actor, school_id=school_id), per="day", school_id=school_id)
        return queries.signing_heatmap(self.db, actor, school_id=school_id)

    def late_signing(self, actor, *, school_id: int | None = None, week_id: int | None = None,
                     bucket_minutes: int = 1) -> pd.DataFrame:
        store = self.fresh().store
        if store is not None:
            return CACHE.get(store, actor, "late_signing_distribution", lambda: (
                analytics_queries.late_signing_distribution(store, actor, school_id=school_id, week_id=week_id,
                                                            bucket_minutes=bucket_minutes)),
                per="day", school_id=school_id, week_id=week_id, bucket_minutes=bucket_minutes)
        return queries.late_signing_distribution(self.db, actor, school_id=school_id, week_id=week_id,
                                                 bucket_minutes=bucket_minutes)

    def issuance(self, actor, level: str) -> pd.DataFrame:
        store = self.fresh().store
        if store is not None:
            return CACHE.get(store, actor, "issuance_figures",
                             lambda: analytics_queries.issuance_figures(store, actor, level), per="day", level=level)
        return transcript_figures.issuance_figures(self.db, actor, level)

    def note(self) -> pn.pane.Markdown:
        """Under a page's figures: as of when (from the analytics store), or nothing."""
        at = analytics.refreshed_at(self.store) if self.store is not None else None
        text = f"*Số liệu tổng hợp từ kho phân tích, cập nhật lúc {formats.datetime(at)} (giờ Việt Nam).*" \
            if at else ""
        return pn.pane.Markdown(text, name="figures-as-of")


#: Tabulator formatters in vi-VN: counts ``3.837``, decimals ``12,5``, rates ``82,5 %`` (the
#: values stay numbers, so a column still sorts as numbers).
VI_COUNT = {"type": "money", "decimal": ",", "thousand": ".", "precision": 0}
VI_DECIMAL = {**VI_COUNT, "precision": 1}
VI_PERCENT = {**VI_DECIMAL, "symbol": " %", "symbolAfter": True}
#: Columns that are codes or ordinals, shown as they are (never "31.777" for entry 31777).
PLAIN = ("entry_id", "request_id", "transcript_id", "entity_id", "week", "week_number", "period_no", "grade",
         "version", "school_code", "serial_hex", "code", "Tuần", "Khối", "Lần cấp")


def vi_frame(df: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """A frame as people read it, with the Tabulator formatters for its numbers: rates ×100
    (``82,5 %``), counts and decimals in vi-VN, dates dd/mm/yyyy, times HH:MM dd/mm/yyyy (Vietnam),
    statuses as words, ids as plain text."""
    out, formatters = df.copy(), {}
    for col in out.columns:
        series = out[col]
        name = str(col)
        if name in PLAIN or name.endswith("_id"):
            out[col] = series.map(lambda v: "" if pd.isna(v) else str(int(v)) if isinstance(v, float) else str(v))
        elif name in ("status", "Tình trạng"):
            out[col] = series.map(formats.status)
        elif name == "kind":
            out[col] = series.map(formats.kind)
        elif pd.api.types.is_bool_dtype(series):
            out[col] = series.map({True: "Có", False: "Không"})
        elif pd.api.types.is_numeric_dtype(series):
            if name.endswith("rate") or name.startswith("Tỉ lệ"):
                out[col] = (series * 100).round(1)
                formatters[col] = VI_PERCENT
            elif pd.api.types.is_integer_dtype(series) or ((series.dropna() % 1) == 0).all():
                formatters[col] = VI_COUNT
            else:
                formatters[col] = VI_DECIMAL
        elif pd.api.types.is_datetime64_any_dtype(series):
            midnight = (series.dropna().dt.normalize() == series.dropna()).all()
            out[col] = series.map(lambda v: "" if pd.isna(v) else formats.date(v) if midnight
                                  else formats.datetime(v.to_pydatetime()))
        elif series.map(lambda v: isinstance(v, dt.datetime)).any():
            out[col] = series.map(lambda v: formats.datetime(v) if isinstance(v, dt.datetime) else
                                  "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
        elif series.map(lambda v: isinstance(v, dt.date)).any():
            out[col] = series.map(lambda v: formats.date(v) if isinstance(v, dt.date) else
                                  "" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    return out, formatters


#: Tabulator's own words (pagination) in Vietnamese.
TABULATOR_VI = {"locale": "vi-vn", "langs": {"vi-vn": {"pagination": {
    "first": "Đầu", "first_title": "Trang đầu", "last": "Cuối", "last_title": "Trang cuối", "prev": "Trước",
    "prev_title": "Trang trước", "next": "Sau", "next_title": "Trang sau", "all": "Tất cả",
    "page_size": "Số dòng", "page_title": "Trang"}, "data": {"loading": "Đang tải", "error": "Lỗi"}}}}


#: A table of more rows than this is paged by the server (Tabulator's remote pagination: the
#: browser gets one page, sorting runs in Python), not sent whole: a city's 2,002 schools or
#: 100,000 teachers at once are seconds of the browser's time for 15 rows shown.
REMOTE_ROWS = 300


def frame(df: pd.DataFrame, columns: list[str], *, page_size: int = 15, **kwargs) -> pn.widgets.Tabulator:
    """A read-only table of an already paged / aggregated frame, with Vietnamese headers and
    vi-VN figures (:func:`vi_frame`); paged by the server when long (:data:`REMOTE_ROWS`)."""
    shown, formatters = vi_frame(df[[c for c in columns if c in df]])
    formatters = {LABELS.get(c, c): f for c, f in formatters.items()}
    pagination = "remote" if len(shown) > REMOTE_ROWS else "local"
    return pn.widgets.Tabulator(shown.rename(columns=LABELS), disabled=True, pagination=pagination,
                                page_size=page_size, show_index=False, sizing_mode="stretch_width",
                                formatters={**formatters, **kwargs.pop("formatters", {})},
                                configuration={**TABULATOR_VI, **kwargs.pop("configuration", {})}, **kwargs)


def refill(table: pn.widgets.Tabulator, df: pd.DataFrame, columns: list[str]) -> None:
    """New rows in a table made by :func:`frame` (the same columns): only the data go to the
    browser, where a new table would be a new model built and sent whole."""
    shown, _ = vi_frame(df[[c for c in columns if c in df]])
    table.value = shown.rename(columns=LABELS)


#: Which menu items a role gets: each page needs one of these permissions (the verify page is
#: public; "me" is a teacher's own week). Nothing in a user's menu refuses that user.
NAV_NEEDS = {"overview": {Permission.VIEW}, "compliance": {Permission.VIEW}, "missed": {Permission.VIEW},
             "closing": {Permission.VIEW}, "certificates": {Permission.VIEW}, "audit": {Permission.VIEW_AUDIT},
             "transcripts": {Permission.VIEW},
             "admin": {Permission.REOPEN_WEEK, Permission.ASSIGN_MONITOR, Permission.DECIDE_TIMETABLE_CHANGE,
                       Permission.MANAGE_CERTIFICATES, Permission.RECORD_SUBSTITUTE, Permission.ISSUE_TRANSCRIPT,
                       Permission.CANCEL_TRANSCRIPT, Permission.SET_THRESHOLDS},
             "verify": None}
VIEWPORT = "width=device-width, initial-scale=1"
#: On a phone the menu goes above the page (a row of links) instead of beside it.
PHONE_CSS = """@media (max-width: 700px) {
  #content { flex-direction: column; flex-wrap: nowrap; height: auto; overflow: visible !important; }
  #sidebar { max-width: 100% !important; width: 100% !important; height: auto; border-right: 0;
             border-bottom: 1px solid #d8dee6; padding: 6px 10px; }
  #main { width: 100%; padding: 0 4px; }
  .app-header .title, .navbar .title, a.title { font-size: 1.15em !important; white-space: normal !important;
                                               overflow-wrap: anywhere; max-width: calc(100vw - 90px); }
}"""
#: On a phone a row of widgets wraps, and nothing set to a fixed width (a picker of 420 px, a
#: column of cards of 460 px) is wider than the screen: each part's own stylesheet, since Panel
#: draws each in its own shadow root, out of the page's CSS's reach (:func:`fit_phone`).
PHONE_ROW = ("@media (max-width: 700px) { :host { flex-wrap: wrap !important; max-width: 100% !important;"
             " min-width: 0 !important; } }")
PHONE_BOX = "@media (max-width: 700px) { :host { max-width: 100% !important; min-width: 0 !important; } }"
PHONE_BUTTONS = ("@media (max-width: 700px) { :host { max-width: 100% !important; min-width: 0 !important; }"
                 " .bk-btn-group { flex-wrap: wrap !important; } }")
PHONE_FIT = ("@media (max-width: 700px) { :host { max-width: calc(100vw - 28px) !important;"
             " min-width: 0 !important; } }")
MENU_CSS = ("<style>a.m{display:block;margin:2px 0}"
            "@media (max-width:700px){a.m{display:inline-block;margin:2px 12px 2px 0}}</style>")


def menu(actor) -> list[tuple[str, str]]:
    """The menu of a signed-in user: the pages their role can use (a teacher: their own week)."""
    if actor is None:
        return []
    if not actor.may(Permission.VIEW):
        return [("me", "Tuần của tôi"), ("verify", "Xác thực học bạ")]
    items = [(path, label) for path, label in NAV
             if NAV_NEEDS.get(path) is None or any(actor.may(p) for p in NAV_NEEDS[path])]
    if sends_reminders(actor):  # the reminders card is on the admin page
        items = [(p, label) for p, label in NAV if (p, label) in items or p == "admin"]
    return items


def fit_phone(body) -> None:
    """Give a page's rows, boxes, button groups and fixed-width parts the phone rules
    (:data:`PHONE_ROW`, :data:`PHONE_BOX`, :data:`PHONE_BUTTONS`, :data:`PHONE_FIT`): below
    700 px a row and a group of buttons wrap and no part is wider than the screen."""
    if not isinstance(body, pn.viewable.Viewable):
        return
    for part in body.select(pn.viewable.Viewable):
        rule = (PHONE_ROW if isinstance(part, pn.Row) else PHONE_FIT if getattr(part, "width", None) else
                PHONE_BUTTONS if isinstance(part, pn.widgets.RadioButtonGroup | pn.widgets.CheckButtonGroup) else
                PHONE_BOX if isinstance(part, pn.layout.ListPanel) else None)
        if rule and "stylesheets" in part.param and rule not in part.stylesheets:
            part.stylesheets = [*part.stylesheets, rule]


def page(title: str, actor, body) -> pn.template.BootstrapTemplate:
    template = pn.template.BootstrapTemplate(title=f"Sổ đầu bài số — {title}", header_background="#1d4e89",
                                             meta_viewport=VIEWPORT)
    template.config.raw_css = [*template.config.raw_css, PHONE_CSS]
    items = menu(actor)
    links = "".join(f'<a class="m" href="/{path}">{label}</a>' for path, label in items)
    nav = pn.pane.HTML(MENU_CSS + ((links + '<a class="m" href="/logout" id="logout">Đăng xuất</a>') if actor else
                                   '<a class="m" href="/login">Đăng nhập</a>'), name="menu",
                       sizing_mode="stretch_width")
    who = (pn.pane.Markdown(f"**{html.escape(actor.username)}** · {ROLE_VI.get(actor.role.value, actor.role.value)}")
           if actor else pn.pane.Markdown(""))
    template.sidebar.extend([who, nav])
    notice = _NOTICES.get(pn.state.curdoc) if pn.state.curdoc is not None else None
    if notice is not None:
        template.main.append(notice)
    fit_phone(body)
    template.main.append(body)
    return template


def signed_out() -> pn.pane.HTML:
    return pn.pane.HTML('<p id="signed-out">Vui lòng <a href="/login">đăng nhập</a>.</p>')


def refusal_text(err: SohoaError) -> str:
    """The console's one mapping of core's errors: the Vietnamese message, escaped as text (a
    message may quote what a user typed); an ended session says it in English too."""
    if isinstance(err, SessionEnded):
        return html.escape(f"{err.message_vi} ({err.message})")
    return html.escape(err.message_vi)


def refusal(err: SohoaError) -> pn.pane.Alert:
    """Core's refusal as an alert on a page."""
    return pn.pane.Alert(refusal_text(err), alert_type="danger")


def guarded(title: str, db: Database, build):
    """Render ``build(actor)`` for a signed-in user; core refuses what the role may not see."""
    actor = current_actor(db)
    if actor is None:
        return page(title, None, signed_out())
    try:
        return page(title, actor, build(actor))
    except SohoaError as err:
        return page(title, actor, refusal(err))


def school_options(schools: pd.DataFrame, *, everything: str | None = None) -> dict:
    """Select options from a ``schools_in_scope`` frame (optionally led by an 'all' entry = 0)."""
    options = {everything: 0} if everything else {}
    options.update({f"{r.school_code} — {r.school_name}": int(r.school_id) for r in schools.itertuples()})
    return options


def action_card(title: str, widgets: list, run: Callable[[], str], *, after: Callable[[], None] | None = None,
                check: Callable[[], str | None] | None = None, label: str = "Thực hiện") -> pn.Card:
    """An admin action: its inputs, a confirmation box, a button, and the result of the core
    call. ``check`` may return a message that stops the action before core is called (an empty
    field); ``after`` refreshes the card's choices after a success."""
    confirm = pn.widgets.Checkbox(label="Tôi xác nhận thực hiện thao tác này")
    button = pn.widgets.Button(label=label, color="primary", disabled=True)
    result = pn.pane.Alert("", alert_type="light", visible=False)
    confirm.param.watch(lambda e: setattr(button, "disabled", not e.new), "value")

    def go(_):
        problem = check() if check else None
        if problem:
            result.object, result.alert_type = f"Chưa thực hiện: {html.escape(problem)}", "warning"
        else:
            try:
                message = run()
                result.object, result.alert_type = f"Đã thực hiện: {html.escape(message)}", "success"
                for widget in widgets:  # the reason (and any typed text) belongs to this action only
                    if isinstance(widget, pn.widgets.TextInput | pn.widgets.TextAreaInput
                                  | pn.widgets.PasswordInput):
                        widget.value = ""
                        if "value_input" in widget.param:
                            widget.value_input = ""
                if after:
                    after()
            except SohoaError as err:
                result.object, result.alert_type = f"Không thực hiện được: {refusal_text(err)}", "danger"
            except Exception:  # noqa: BLE001 - an unexpected failure: logged, and the user is told
                log.exception("admin action %r failed", title)
                result.object, result.alert_type = "Không thực hiện được: lỗi hệ thống (đã ghi nhật ký máy chủ)", \
                    "danger"
        result.visible, confirm.value = True, False

    button.on_click(go)
    return pn.Card(*widgets, confirm, button, result, title=title, collapsible=False, sizing_mode="stretch_width")


def chosen(select) -> str:
    """The text of a Select's chosen option (``Select.label`` is the widget's own label)."""
    options = select.options if isinstance(select.options, dict) else {str(o): o for o in select.options}
    return next((text for text, value in options.items() if value == select.value), str(select.value))


SIGNER_ROLE_VI = {"homeroom": "Giáo viên chủ nhiệm", "principal": "Hiệu trưởng", "seal": "Con dấu nhà trường",
                  "teacher": "Giáo viên dạy tiết", "unknown": "Chữ ký khác",
                  "receipt": "Biên nhận đã niêm phong của máy chủ",
                  "homeroom_summary": "Giáo viên chủ nhiệm (bảng tóm tắt tuần)",
                  "principal_summary": "Hiệu trưởng (bảng tóm tắt tuần)"}
INDICATION_VI = {"PASSED": "hợp lệ", "FAILED": "không hợp lệ", "INDETERMINATE": "chưa xác định"}


def indication(value: str, sub: str | None = None) -> str:
    """An ETSI EN 319 102-1 result in Vietnamese with the standard's code: 'hợp lệ (PASSED)'."""
    return f"{INDICATION_VI.get(value, value)} ({value}" + (f" — {sub})" if sub else ")")


PICK = "— chọn —"
#: A picker shows at most this many choices at once; one over more (a city's 2,002 schools, its
#: monitors, its class-weeks) gets a search box that narrows them (:func:`searchable`): a browser
#: is sent 50 labels, not thousands, and Bokeh does not walk thousands of options on every page.
PICK_LIMIT = 50


def fold(text: str) -> str:
    """Text as a search compares it: without accents or case ("Trường" finds "truong")."""
    text = unicodedata.normalize("NFD", str(text)).replace("đ", "d").replace("Đ", "d")
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def searchable(select, *, what: str, pinned: int = 0):
    """``select`` with a search box above it when it has more than :data:`PICK_LIMIT` options:
    the box's words (accents and case ignored) narrow the options to the first matches; the
    chosen one and the first ``pinned`` options (an "every school" entry) are always offered.
    :func:`set_options` refills such a picker through its search. Returns what to lay out."""
    options = dict(select.options)
    if len(options) <= PICK_LIMIT:
        return select
    search = pn.widgets.TextInput(label=f"Tìm {what}", width=select.width or 300,
                                  placeholder=f"vài chữ của mã hoặc tên ({formats.number(len(options) - pinned)} {what})")
    select._search, select._pinned, select._all = search, pinned, options

    def narrow(*_):
        shown = _narrowed(select, select._all, select.value)
        select.options = {PICK: None, **shown} if select.value is None and PICK in select.options else shown
    search.param.watch(narrow, ["value", "value_input"])
    narrow()
    return pn.Column(search, select, margin=0)


def _narrowed(select, options: dict, chosen) -> dict:
    """The options a searchable picker shows: the pinned ones, the matches of its search (at
    most :data:`PICK_LIMIT`), and the chosen one."""
    search = getattr(select, "_search", None)
    if search is None:
        return options
    words = fold(search.value_input or search.value or "").split()
    items = list(options.items())
    shown = dict(items[:select._pinned])
    for label, value in items[select._pinned:]:
        if len(shown) >= PICK_LIMIT + select._pinned:
            break
        if all(word in fold(label) for word in words):
            shown[label] = value
    for label, value in items:
        if value == chosen and value is not None:
            shown.setdefault(label, value)
    return shown


def set_options(select, options: dict) -> None:
    """Replace a Select's options, keeping its value when still offered. A value that is gone
    (the item an action just used) gives an explicit "— chọn —" (nothing chosen) rather than the
    next item, so that a second click never acts on someone else; a first fill picks the first
    one (Panel keeps a stale value otherwise and the box shows blank). A :func:`searchable`
    picker keeps all of them and shows those its search finds."""
    values = list(options.values())
    if getattr(select, "_search", None) is not None:
        select._all = dict(options)
    if select.value in values:
        select.options = _narrowed(select, options, select.value)
    elif select.value is not None and values:
        select.options = {PICK: None, **_narrowed(select, options, None)}
        select.value = None
    else:
        select.options = _narrowed(select, options, values[0] if values else None)
        select.value = values[0] if values else None


#: What each audited action means, for the audit page (the action code stays beside it).
AUDIT_ACTION_VI = {
    "account.locked": "Khóa tạm do nhập sai nhiều lần", "account.set_password": "Đặt mật khẩu",
    "account.sign_in": "Đăng nhập", "account.deactivate": "Vô hiệu hóa tài khoản",
    "account.sign_out": "Đăng xuất", "account.revoke_token": "Thu hồi mã truy cập",
    "account.link_identity": "Liên kết tài khoản nhà cung cấp định danh",
    "certificate.register": "Đăng ký chứng thư số", "certificate.revoke": "Thu hồi chứng thư số",
    "entry.fill": "Ghi sổ đầu bài", "entry.sign": "Ký tiết học", "entry.substitute": "Ghi nhận dạy thay",
    "gradebook.confirm": "Giáo viên bộ môn xác nhận điểm", "gradebook.enter": "Nhập điểm",
    "gradebook.evaluate": "Nhập đánh giá của GVCN", "logbook.generate_week": "Tạo sổ tuần",
    "logbook.mark_missed": "Đánh dấu tiết không ký", "monitor.assign": "Phân công giám sát",
    "monitor.unassign": "Thôi phân công giám sát", "reminders.queue": "Gửi nhắc nhở",
    "staff.handover": "Bàn giao công việc", "synthetic.organisation": "Dữ liệu mô phỏng (đơn vị)",
    "synthetic.school": "Dữ liệu mô phỏng (trường)", "timetable.decide_change": "Quyết định đổi thời khóa biểu",
    "timetable.publish": "Ban hành thời khóa biểu", "timetable.request_change": "Đề nghị đổi thời khóa biểu",
    "transcript.cancel": "Hủy và cấp lại học bạ", "transcript.homeroom_sign": "GVCN ký học bạ",
    "transcript.issue": "Hiệu trưởng ký, đóng dấu, cấp học bạ", "transcript.prepare": "Lập học bạ",
    "week.close": "Chốt sổ tuần", "week.homeroom_sign": "GVCN ký sổ tuần", "week.reopen": "Mở lại sổ tuần",
    "gradebook.summer_retest": "Nhập kết quả kiểm tra lại trong hè",
    "gradebook.summer_conduct": "Nhập kết quả rèn luyện trong hè", "gradebook.decision": "Ghi quyết định của hiệu trưởng",
    "transcript.withdraw": "Rút bản nháp học bạ để lập lại", "delegation.register": "Ghi nhận ủy quyền ký",
    "delegation.revoke": "Thu hồi ủy quyền ký",
    "export.missed_lessons": "Tải danh sách tiết không ký / ký trễ (CSV, Excel)",
    "department.thresholds": "Đặt ngưỡng cảnh báo của Sở", "digest.send": "Gửi bản tin tuần",
    "alerts.send": "Gửi cảnh báo trường dưới ngưỡng",
}


def audit_action_vi(action: str) -> str:
    if action.startswith("package."):
        return "Gói hồ sơ học bạ (chuyển trường / thành phố)"
    return AUDIT_ACTION_VI.get(action, "")
