"""The overview a supervisor opens on Monday: this week first, then a drill-down by clicking.

- A week picker (default: the current week, :func:`core.logbook.this_week.current_week`); each
  figure of the week beside last week's and the term's (:func:`~core.logbook.this_week.week_figures`);
  the teachers and schools behind this week by the department's thresholds
  (:func:`~core.logbook.this_week.behind_this_week`); today's unsigned periods so far.
- The drill-down: department → district → school → class or teacher → the week's periods →
  one period's verification report, each step a click on a row or on its bar (the on-time
  rates of the districts, schools, classes and teachers as bars, :func:`rate_bars`),
  with breadcrumbs. The state
  lives in the URL (``?week=…&district=…&school=…&class=…&teacher=…&entry=…``), so a view can
  be bookmarked and shared and the back button works (every step is a history entry). The steps
  come in place, in the page's session (:data:`GO`, :meth:`Overview.navigate`): only the content
  under the week picker is built again, not the page.

Every figure comes from core for the signed-in actor; nothing here filters or authorises.
"""
from __future__ import annotations

import html
from urllib.parse import parse_qs, urlencode, urlsplit

import holoviews as hv
import pandas as pd
import panel as pn
import param

from core.access.authz import Permission
from core.analytics import queries as analytics_queries
from core.kernel import clock, formats
from core.kernel.errors import SohoaError
from core.logbook import queries, this_week, verification
from core.signatures import certificates
from core.storage.db import Database
from dashboards.common import CACHE, SIGNER_ROLE_VI, Figures, current_actor, indication, log, page, refusal, signed_out

hv.extension("bokeh", logo=False)
TITLE = "Tổng quan"
CSS = """<style>
.sh-cards{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0 12px}
.sh-card{flex:1 1 150px;max-width:240px;min-width:140px;background:#fff;border:1px solid #d8dee6;border-radius:8px;
 padding:8px 12px;box-sizing:border-box}
.sh-label{font-size:.85em;color:#44536a}.sh-value{font-size:1.7em;font-weight:600;color:#1d4e89}
.sh-delta{font-size:.8em;color:#555}.sh-good{color:#1e7b34}.sh-bad{color:#b00020}
.sh-wrap{max-width:100%;overflow-x:auto}
table.sh{border-collapse:collapse;width:100%;font-size:.92em}
table.sh th{background:#eef2f7;text-align:left;padding:5px 8px;white-space:nowrap}
table.sh td{border-top:1px solid #e3e8ee;padding:5px 8px}
table.sh td.n,table.sh th.n{text-align:right;white-space:nowrap}
table.sh tr[data-href]{cursor:pointer} table.sh tr[data-href]:hover{background:#f3f7fc}
.sh-crumbs{font-size:.95em;margin:4px 0 8px}.sh-crumbs a{text-decoration:none}
.sh-weeks a{margin-right:1em}
.sh-bars{display:flex;flex-direction:column;gap:3px;margin:2px 0 10px;max-width:900px}
a.sh-bar,.sh-bar-axis{display:flex;align-items:center;gap:8px;text-decoration:none;color:#1b2a3a;font-size:.86em}
a.sh-bar{cursor:pointer}a.sh-bar:hover .sh-bar-track{outline:1px solid #1d4e89}
.sh-bar-name{flex:0 0 40%;max-width:280px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;text-align:right}
.sh-bar-track{flex:1;height:18px;background:#e8edf3;border-radius:2px;display:block;min-width:60px}
.sh-bar-fill{display:block;height:100%;background:#1d4e89;border-radius:2px}
.sh-bar-axis{color:#44536a;font-size:.78em}.sh-bar-ticks{flex:1;display:flex;justify-content:space-between}
</style>"""
#: The figures of the week's cards: (figure, label, formatter, whether a rise is good).
CARDS = [("on_time_rate", "Tỉ lệ ký đúng hạn", formats.percent, True),
         ("missed", "Tiết không ký", formats.number, False),
         ("late", "Tiết ký trễ", formats.number, False),
         ("hours_lost", "Giờ dạy bị mất", formats.number, False),
         ("scheduled", "Số tiết theo thời khóa biểu", formats.number, None)]
KEYS = ("week", "district", "school", "class", "teacher", "entry")
#: The text of a step in place as a page load shows it: the parts a callback adds get the
#: template's Bootstrap rules (headings of 28 px, other margins and link colours), the parts
#: of a page load do not, so the same view looked different after a click and after a reload.
SAME_LOOK = ("h2{font-size:1.5em!important;font-weight:700!important;margin:.42em 0!important;line-height:1.43}"
             "h3{font-size:1.17em!important;font-weight:700!important;margin:.5em 0!important;line-height:1.43}"
             "p{margin:1em 0!important}a{color:#0000ee}")
#: The class of the overview's two in-place parts: the hidden navigator (a text input whose value
#: is the URL to show) and the drill-down's content (hidden from the click until the next view).
NAVIGATOR, CONTENT = "sh-navigator", "sh-content"
#: Go to an overview URL in place, in the same session (a function of the URL): the URL pushed
#: to the history (so bookmarks, new tabs and the back button still work; back comes in place
#: too), the content hidden, the URL given to the navigator, whose change the server answers
#: with the new content only. The template, the menu, the week picker and the browser's session
#: stay; without a navigator (another page) the URL is loaded as a page.
STEP = ("(function(url){"
        "const find=c=>{for(const d of (window.Bokeh&&Bokeh.documents)||[])for(const m of d._all_models.values())"
        "if(m.css_classes&&m.css_classes.includes(c))return m;return null};"
        f"const nav=find('{NAVIGATOR}'),box=find('{CONTENT}');"
        "if(!nav||!box||!window.history.pushState){window.location.href=url;return}"
        "const show=u=>{box.visible=false;nav.value=u};"
        "if(!window.shPopstate){window.shPopstate=true;window.addEventListener('popstate',"
        "()=>{const n=find('" + NAVIGATOR + "'),b=find('" + CONTENT + "');"
        "if(n&&b){b.visible=false;n.value=window.location.pathname+window.location.search}"
        "else window.location.reload()})}"
        "window.history.pushState({},'',url);show(url)})")
#: A click on a link of the overview's tables or breadcrumbs (one handler a table): the next
#: view in place (:data:`STEP`); with a modifier key (a new tab) the link is followed as a link.
GO = ("(function(e){const a=e.target.closest('a[href],tr[data-href]');"
      "if(!a||e.ctrlKey||e.metaKey||e.shiftKey||e.altKey||e.button)return;"
      "e.preventDefault();" + STEP + "(a.getAttribute('href')||a.dataset.href)})(event)")
#: At most this many bars in one chart (the table's first rows: the lowest rates, where it is so ordered).
MAX_BARS = 40


def url_args(query: dict | None = None) -> dict[str, int]:
    """The view's state from the URL query (the session's, or ``query`` as
    :func:`urllib.parse.parse_qs` gives it; integers only, anything else is ignored)."""
    query = (pn.state.session_args or {}) if query is None else query
    found = {}
    for key in KEYS:
        raw = query.get(key)
        if raw:
            text = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
            if text.isdigit():
                found[key] = int(text)
    return found


def href(**state) -> str:
    """A link to the overview in that state (``None`` values left out)."""
    query = urlencode({k: v for k, v in state.items() if v is not None})
    return f"/overview?{query}" if query else "/overview"


def _delta(value, better_when_up: bool | None, rate: bool) -> str:
    text = formats.points(value) if rate else formats.signed(value, 1 if value == value and value % 1 else 0)
    if better_when_up is None or value != value or value == 0:
        return html.escape(text)
    good = (value > 0) == better_when_up
    return f'<span class="{"sh-good" if good else "sh-bad"}">{html.escape(text)}</span>'


def week_cards(fig: pd.DataFrame, unsigned_today: int) -> str:
    """The week's figures as cards, each with its change against last week and the term."""
    cards = []
    for name, label, fmt, up in CARDS:
        row = fig.loc[name]
        rate = name == "on_time_rate"
        cards.append(f'<div class="sh-card" data-figure="{name}"><div class="sh-label">{label}</div>'
                     f'<div class="sh-value">{html.escape(fmt(row["this_week"]))}</div>'
                     f'<div class="sh-delta">so với tuần trước: {_delta(row["vs_last_week"], up, rate)}</div>'
                     f'<div class="sh-delta">so với học kỳ: {_delta(row["vs_term"], up, rate)}</div></div>')
    cards.append(f'<div class="sh-card" data-figure="unsigned_today"><div class="sh-label">Tiết chưa ký hôm nay</div>'
                 f'<div class="sh-value">{formats.number(unsigned_today)}</div>'
                 f'<div class="sh-delta">đã hết giờ ký đúng hạn, vẫn chưa ký</div></div>')
    return '<div class="sh-cards">' + "".join(cards) + "</div>"


def _cell(value, column: str) -> tuple[str, bool]:
    """(text, is a number) of one cell in vi-VN."""
    if column.endswith("rate"):
        return formats.percent(value), True
    if column == "status":
        return formats.status(value), False
    if column == "day":
        return formats.date(value), False
    if column in ("signed_at", "period_end"):
        return ("" if pd.isna(value) else formats.datetime(pd.Timestamp(value).to_pydatetime())), False
    if column.endswith("_id") or column in ("period_no", "week"):
        return ("" if pd.isna(value) else str(int(value))), False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return formats.number(value), True
    return ("" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)), False


def link_table(df: pd.DataFrame, columns: dict[str, str], link, *, name: str, empty: str) -> pn.pane.HTML:
    """An HTML table in vi-VN whose rows are links (``link(row) -> URL``; the first cell holds
    the anchor, and a click anywhere on the row follows it)."""
    if df.empty:
        return pn.pane.HTML(f"<p>{html.escape(empty)}</p>", name=name, sizing_mode="stretch_width")
    first = df.iloc[0].to_dict()
    head = "".join(f'<th{" class=n" if _cell(first.get(column), column)[1] else ""}>{html.escape(label)}</th>'
                   for column, label in columns.items())
    rows = []
    for row in df.to_dict("records"):
        target = link(row) if link else None
        cells = []
        for i, column in enumerate(columns):
            text, numeric = _cell(row.get(column), column)
            text = html.escape(text)
            if i == 0 and target:
                text = f'<a href="{html.escape(target)}">{text}</a>'
            cells.append(f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>")
        attrs = f' data-href="{html.escape(target)}"' if target else ""
        rows.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    click = f' onclick="{html.escape(GO)}"' if link else ""
    return pn.pane.HTML(f'{CSS}<div class="sh-wrap"><table class="sh" id="{name}"{click}><thead><tr>{head}</tr>'
                        f'</thead><tbody>{"".join(rows)}</tbody></table></div>', name=name, sizing_mode="stretch_width")


def breadcrumbs(path: dict, week: int | None) -> pn.pane.HTML:
    """Toàn bộ phạm vi › district › school › class or teacher › period."""
    steps = [("Toàn bộ phạm vi", href(week=week))]
    if "district" in path:
        steps.append((path["district"][1], href(week=week, district=path["district"][0])))
    if "school" in path:
        steps.append((path["school"][1], href(week=week, school=path["school"][0])))
    if "class" in path:
        steps.append((path["class"][1], href(week=week, **{"class": path["class"][0]})))
    if "teacher" in path:
        steps.append((path["teacher"][1], href(week=week, teacher=path["teacher"][0])))
    if "entry" in path:
        steps.append((path["entry"][1], href(week=week, entry=path["entry"][0])))
    links = [f'<a href="{html.escape(u)}">{html.escape(t)}</a>' for t, u in steps[:-1]]
    links.append(f"<strong>{html.escape(steps[-1][0])}</strong>")
    return pn.pane.HTML(f'{CSS}<nav class="sh-crumbs" id="breadcrumbs" onclick="{html.escape(GO)}">'
                        + " › ".join(links) + "</nav>",
                        name="breadcrumbs", sizing_mode="stretch_width")


def rate_bars(df: pd.DataFrame, label: str, link, *, name: str, title: str) -> list:
    """The week's on-time rate of each row as a horizontal bar, named with its rate in vi-VN
    (``Quận 3 · 82,5 %``), in the table's order, top down; a click anywhere on a bar (its light
    track runs to 100 %, so a 0 % row is clicked too) goes where a click on its row goes
    (``link(row) -> URL``; in place, :data:`GO`). Plain HTML, like the tables: a city district's
    91 bars are drawn by the browser at once, where a chart's canvas took most of a step. Rows with
    nothing decided yet have no rate and no bar (their row is still in the table)."""
    rated = df[df["on_time_rate"].notna()].head(MAX_BARS) if not df.empty else df
    if rated.empty:
        return []
    bars = []
    for row in rated.to_dict("records"):
        text, target = f"{row[label]} · {formats.percent(row['on_time_rate'])}", link(row)
        bars.append(f'<a class="sh-bar" href="{html.escape(target)}" title="{html.escape(text)}">'
                    f'<span class="sh-bar-name">{html.escape(text)}</span><span class="sh-bar-track">'
                    f'<span class="sh-bar-fill" style="width:{float(row["on_time_rate"]) * 100:.1f}%"></span>'
                    "</span></a>")
    note = f" (chỉ {MAX_BARS} dòng đầu của bảng)" if len(df) > MAX_BARS else ""
    axis = "".join(f"<span>{tick}</span>" for tick in ("0", "25", "50", "75", "100 %"))
    return [pn.pane.Markdown(f"*Bấm vào một thanh để đi sâu, như bấm vào dòng{note}.*", name=f"{name}-note",
                             margin=(0, 10)),
            pn.pane.HTML(f'{CSS}<div class="sh-bars" id="{name}" aria-label="{html.escape(title)}: tỉ lệ đúng hạn '
                         f'trong tuần (%)" onclick="{html.escape(GO)}">{"".join(bars)}'
                         f'<div class="sh-bar-axis"><span class="sh-bar-name">Đúng hạn trong tuần (%)</span>'
                         f'<span class="sh-bar-ticks">{axis}</span></div></div>',
                         name=name, sizing_mode="stretch_width", css_classes=[name])]


RATE_COLUMNS = {"scheduled": "Số tiết", "on_time": "Đúng hạn", "late": "Trễ", "missed": "Không ký",
                "on_time_rate": "Tỉ lệ đúng hạn"}


def drill(view: "Overview", args: dict) -> list:
    """The drill-down at the view's place: its breadcrumbs, then its rows (each a link one step down)."""
    db, actor, week, level = view.db, view.actor, view.week, view.level()
    path = view.path()
    parts: list = [breadcrumbs(path, week)]
    if level == "entry":
        return parts + entry_report(db, actor, view.trust, view.entry)
    rows = view.rows()
    if level in ("class", "teacher"):
        who = path["class" if level == "class" else "teacher"][1]
        columns = {"entry_id": "Mã tiết", "day": "Ngày", "period_no": "Tiết",
                   **({"subject": "Môn", "teacher": "Giáo viên"} if level == "class" else
                      {"class_name": "Lớp", "subject": "Môn"}),
                   "status": "Tình trạng", "signed_at": "Ký lúc"}
        return parts + [pn.pane.Markdown(f"### {html.escape(who)} — các tiết trong tuần"),
                        link_table(rows, columns, lambda r: href(week=week, entry=r["entry_id"]), name="drill-table",
                                   empty="Không có tiết nào trong tuần này.")]
    if level == "school":
        to_class = lambda r: href(week=week, **{"class": r["class_id"]})  # noqa: E731
        to_teacher = lambda r: href(week=week, teacher=r["teacher_id"])  # noqa: E731
        teachers = view.teachers()
        return parts + [pn.pane.Markdown("### Các lớp"),
                        *rate_bars(rows, "class_name", to_class, name="drill-bars", title="Lớp"),
                        link_table(rows, {"class_name": "Lớp", **RATE_COLUMNS}, to_class, name="drill-table",
                                   empty="Không có lớp nào có tiết trong tuần này."),
                        pn.pane.Markdown("### Các giáo viên"),
                        *rate_bars(teachers, "teacher_name", to_teacher, name="teacher-bars", title="Giáo viên"),
                        link_table(teachers, {"teacher_name": "Giáo viên", **RATE_COLUMNS}, to_teacher,
                                   name="drill-teachers", empty="Không có giáo viên nào có tiết trong tuần này.")]
    if level == "district":
        to_school = lambda r: href(week=week, school=r["school_id"])  # noqa: E731
        return parts + [pn.pane.Markdown("### Các trường"),
                        *rate_bars(rows, "school_name", to_school, name="drill-bars", title="Trường"),
                        link_table(rows, {"school_name": "Trường", **RATE_COLUMNS}, to_school, name="drill-table",
                                   empty="Không có trường nào có tiết trong tuần này.")]
    to_district = lambda r: href(week=week, district=r["district_id"])  # noqa: E731
    return parts + [pn.pane.Markdown("### Theo quận/huyện"),
                    *rate_bars(rows, "district_name", to_district, name="drill-bars", title="Quận/huyện"),
                    link_table(rows, {"district_name": "Quận/huyện", **RATE_COLUMNS}, to_district,
                               name="drill-table", empty="Không có tiết nào trong tuần này.")]


def entry_report(db: Database, actor, trust, entry_id: int) -> list:
    """One period's verification report (the drill-down's last step)."""
    try:
        result = verification.verify(db, actor, trust, entry_id=entry_id)
    except SohoaError as err:
        return [refusal(err)]
    lines = [f"### Báo cáo xác thực chữ ký số của tiết {entry_id}",
             f"**Kết quả: {indication(result.indication, result.sub_indication)}**"]
    lines += [f"- {SIGNER_ROLE_VI.get(s.role, s.role)}: "
              f"{indication(s.verification.indication, s.verification.sub_indication)} — "
              f"{html.escape(s.verification.message or '')} "
              f"({html.escape(s.verification.signer_subject or '—')})" for s in result.signatures]
    if not result.signatures:
        lines.append("- Tiết chưa có chữ ký số.")
    return [pn.pane.Markdown("\n".join(lines), name="entry-report", sizing_mode="stretch_width")]


def week_picker(weeks: pd.DataFrame, week: int, args: dict) -> list:
    """The week picker (a change navigates, so the week is in the URL) with last / next week links."""
    options = {f"Tuần {int(r.number)} (từ {formats.date(r.monday)})": str(int(r.week_id))
               for r in weeks.itertuples()}
    picker = pn.widgets.Select(label="Tuần", options=options, value=str(week), width=260)
    # (a week the URL already shows, as after an in-place step to another week, loads nothing)
    picker.jscallback(value="const p = new URLSearchParams(window.location.search);"
                            " if (p.get('week') === cb_obj.value) return; p.set('week', cb_obj.value);"
                            " p.delete('entry'); window.location.search = p.toString();")
    return [picker, pn.pane.HTML(around_weeks(weeks, week, args), margin=(28, 10, 0, 10))]


def around_weeks(weeks: pd.DataFrame, week: int, args: dict) -> str:
    """The last / next week links, at the same place of the drill-down."""
    ids = [int(w) for w in weeks["week_id"]]
    at = ids.index(week) if week in ids else -1
    keep = {k: v for k, v in args.items() if k not in ("week", "entry")}
    around = []
    if at > 0:
        around.append(f'<a id="previous-week" href="{html.escape(href(week=ids[at - 1], **keep))}">‹ Tuần trước</a>')
    if 0 <= at < len(ids) - 1:
        around.append(f'<a id="next-week" href="{html.escape(href(week=ids[at + 1], **keep))}">Tuần sau ›</a>')
    return f'{CSS}<div class="sh-weeks">{"".join(around)}</div>'


def this_week_section(view: "Overview", args: dict) -> list:
    """The week's cards, who is behind, today's unsigned periods."""
    week = view.week
    fig = view.figures()
    today = this_week.unsigned_today(view.db, view.actor)
    teachers, schools, limits = view.behind()
    monday = fig.attrs["monday"]
    return [
        pn.pane.Markdown(f"### Tuần {fig.attrs['number']} (từ {formats.date(monday)}), "
                         f"học kỳ {fig.attrs['term_number']}", name="week-title"),
        pn.pane.HTML(CSS + week_cards(fig, len(today)), name="week-cards", sizing_mode="stretch_width"),
        pn.pane.Markdown(f"### Giáo viên chậm ký tuần này\nNgưỡng của Sở: tỉ lệ đúng hạn dưới "
                         f"**{limits.teacher_min_rate} %** hoặc quá **{limits.teacher_max_unsigned}** tiết "
                         f"không ký / ký trễ.", name="behind-note"),
        link_table(teachers, {"teacher_name": "Giáo viên", "school_name": "Trường", "unsigned": "Không ký + trễ",
                              "on_time_rate": "Tỉ lệ đúng hạn"},
                   lambda r: href(week=week, teacher=r["teacher_id"]), name="behind-teachers",
                   empty="Không có giáo viên nào dưới ngưỡng tuần này."),
        pn.pane.Markdown(f"### Trường dưới ngưỡng tuần này\nNgưỡng của Sở: tỉ lệ đúng hạn dưới "
                         f"**{limits.school_min_rate} %**."),
        link_table(schools, {"school_name": "Trường", "district_name": "Quận/huyện", "missed": "Không ký",
                             "late": "Trễ", "on_time_rate": "Tỉ lệ đúng hạn"},
                   lambda r: href(week=week, school=r["school_id"]), name="behind-schools",
                   empty="Không có trường nào dưới ngưỡng tuần này."),
        pn.pane.Markdown("### Tiết chưa ký hôm nay (đến giờ này)"),
        link_table(today.head(50), {"teacher": "Giáo viên", "school_name": "Trường", "class_name": "Lớp",
                                    "period_no": "Tiết", "subject": "Môn", "period_end": "Hết tiết lúc"},
                   lambda r: href(week=int(r["week_id"]), teacher=r["teacher_id"]), name="unsigned-today",
                   empty="Không có tiết nào quá hạn ký hôm nay."),
    ]


def term_section(db: Database, actor, store) -> list:
    """The term as before: the whole-term figures, the trend over the weeks, the lowest schools."""
    figures = Figures(db, store).fresh()
    trend = figures.trend(actor)
    schools = figures.compliance(actor, "school")
    total = schools.sum(numeric_only=True) if not schools.empty else pd.Series(dtype=float)
    issuance = figures.issuance(actor, "district").sum(numeric_only=True)
    coverage = lambda: certificates.coverage(db, actor, "district")  # noqa: E731
    # on every department view: kept by (scope, store fingerprint, minute) as the other aggregates
    cover = (CACHE.get(figures.store, actor, "certificate_coverage", coverage, level="district")
             if figures.store is not None else coverage()).sum(numeric_only=True)
    decided = total.get("scheduled", 0) - total.get("pending", 0)
    rate = total.get("on_time", 0) / decided if decided else float("nan")
    cards = [("Tỉ lệ ký đúng hạn (cả học kỳ)", formats.percent(rate)),
             ("Tiết không ký", formats.number(total.get("missed", 0))),
             ("Giờ dạy bị mất", formats.number(total.get("hours_lost", 0))),
             ("Tuần chưa chốt", formats.number(total.get("weeks_open", 0))),
             ("Trường chưa có giám sát", formats.number(total.get("schools_without_monitor", 0))),
             ("Học bạ đã cấp / cần cấp", f"{formats.number(issuance.get('issued', 0))}/"
                                         f"{formats.number(issuance.get('students', 0))}"),
             ("Cán bộ có chứng thư số", formats.percent(cover["with_valid_certificate"] / cover["staff"])
              if cover.get("staff") else "—")]
    html_cards = '<div class="sh-cards" id="term-cards">' + "".join(
        f'<div class="sh-card"><div class="sh-label">{html.escape(label)}</div>'
        f'<div class="sh-value">{html.escape(value)}</div></div>' for label, value in cards) + "</div>"
    parts = [pn.pane.Markdown("## Cả học kỳ"), pn.pane.HTML(CSS + html_cards, name="term-cards",
                                                             sizing_mode="stretch_width")]
    if not trend.empty:
        curve = hv.Curve(trend.assign(rate=trend["on_time_rate"] * 100), hv.Dimension("week_number", label="Tuần"),
                         hv.Dimension("rate", label="Tỉ lệ đúng hạn (%)")).opts(
            xlabel="Tuần", ylabel="Tỉ lệ đúng hạn (%)", height=260, responsive=True, tools=["hover"],
            ylim=(0, 100), yformatter="%d %%")
        parts += [pn.pane.Markdown("### Xu hướng theo tuần"), pn.pane.HoloViews(curve, sizing_mode="stretch_width")]
    worst = schools.sort_values("on_time_rate").head(10) if not schools.empty else schools
    parts += [pn.pane.Markdown("### Các trường có tỉ lệ thấp nhất (cả học kỳ)"),
              link_table(worst, {"school_name": "Trường", "district_name": "Quận/huyện", "scheduled": "Số tiết",
                                 "missed": "Không ký", "on_time_rate": "Tỉ lệ đúng hạn",
                                 "weeks_open": "Tuần chưa chốt"},
                         lambda r: href(school=r["school_id"]), name="worst-schools",
                         empty="Chưa có dữ liệu."), figures.note()]
    return parts


class Overview(pn.viewable.Viewer):
    """The overview as a Panel component over core: its state (the week and the place of the
    drill-down, as in the URL) is parameters, its data are methods, so both are tested without a
    browser (``tests/test_console_views.py``); ``__panel__`` lays them out."""

    week = param.Integer(default=None, allow_None=True, doc="the school week shown (default: the current one)")
    district = param.Integer(default=None, allow_None=True)
    school = param.Integer(default=None, allow_None=True)
    klass = param.Integer(default=None, allow_None=True, doc="the class (``class`` in the URL)")
    teacher = param.Integer(default=None, allow_None=True)
    entry = param.Integer(default=None, allow_None=True)

    def __init__(self, db: Database, actor, *, store=None, trust=None, **params):
        super().__init__(**params)
        self.db, self.actor, self.store, self.trust = db, actor, store, trust
        # with an analytics store the week's aggregates run on DuckDB (the same figures as the record store's)
        fresh = Figures(db, store).fresh().store if store is not None else None
        if fresh is not None:  # kept by (scope, store fingerprint, minute, level, filters): never across scopes
            on_store = analytics_queries.compliance_source(db, fresh, actor)
            self.source = lambda level, **filters: CACHE.get(
                fresh, actor, "compliance_source", lambda: on_store(level, **filters), level=level, **filters)
        else:
            self.source = this_week.record_store(db, actor)
        self._kept: dict = {}
        self._picker = self._around = self._content = None
        self.weeks = queries.weeks_in_scope(db, actor)
        known = {int(w) for w in self.weeks["week_id"]}
        if self.week not in known:
            self.week = this_week.current_week(db, actor) if known else None

    @classmethod
    def from_url(cls, db: Database, actor, args: dict, **kwargs) -> "Overview":
        places = {("klass" if k == "class" else k): v for k, v in args.items()}
        return cls(db, actor, **places, **kwargs)

    def state(self) -> dict:
        """The URL's state (``class`` for the class)."""
        return {k: v for k, v in (("week", self.week), ("district", self.district), ("school", self.school),
                                  ("class", self.klass), ("teacher", self.teacher), ("entry", self.entry))
                if v is not None}

    def level(self) -> str:
        """How deep the drill-down stands."""
        for name, value in (("entry", self.entry), ("class", self.klass), ("teacher", self.teacher),
                            ("school", self.school), ("district", self.district)):
            if value is not None:
                return name
        return "department"

    def path(self) -> dict:
        return this_week.drill_path(self.db, self.actor, district_id=self.district, school_id=self.school,
                                    class_id=self.klass, teacher_id=self.teacher, entry_id=self.entry)

    def rows(self) -> pd.DataFrame:
        """The rows one click leads down from: districts, a district's schools, a school's classes
        (its teachers: :meth:`teachers`), a class's or a teacher's periods of the week."""
        level, week = self.level(), self.week
        if level == "class":
            return queries.class_week_entries(self.db, self.actor, self.klass, week)
        if level == "teacher":
            return this_week.teacher_week_entries(self.db, self.actor, self.teacher, week)
        if level == "school":
            return self.source("class", week_id=week, school_id=self.school)
        if level == "district":
            return self.source("school", week_id=week, district_id=self.district).sort_values("on_time_rate")
        if level == "department":
            return self.source("district", week_id=week).sort_values("on_time_rate")
        return pd.DataFrame()

    def teachers(self) -> pd.DataFrame:
        return self.source("teacher", week_id=self.week, school_id=self.school).sort_values("on_time_rate")

    def figures(self) -> pd.DataFrame:
        return this_week.week_figures(self.db, self.actor, self.week, source=self.source)

    def behind(self):
        return this_week.behind_this_week(self.db, self.actor, self.week, limit=10, source=self.source)

    def content(self) -> list:
        """The parts under the week picker at the view's place (the department's, the costliest
        and where back leads, are kept a minute for this view's session)."""
        args = self.state()
        if self.level() != "department":
            return drill(self, args)
        key = (self.week, clock.now().replace(second=0, microsecond=0))
        if key not in self._kept:
            self._kept = {key: [*this_week_section(self, args), pn.pane.Markdown("## Đi sâu: chọn một dòng hoặc một thanh"),
                                *drill(self, args), *term_section(self.db, self.actor, self.store)]}
        return list(self._kept[key])

    def navigate(self, url: str) -> None:
        """Go in place to the view of an overview URL (a click on a row or a breadcrumb, or the
        back button): the view a page load of that URL would show (the places it names, the
        others cleared; the week it names, else the current one). Only the content is built
        again; core scopes and refuses as on a page load."""
        parts = urlsplit(url)
        if parts.path.rstrip("/") != "/overview":
            return
        args = url_args(parse_qs(parts.query))
        known = {int(w) for w in self.weeks["week_id"]}
        try:  # the week as a page load of that URL would choose it (none named: the current one)
            if self.store is not None:  # refreshed when stale, as a page load would (then a new fingerprint)
                Figures(self.db, self.store).fresh()
            week = args["week"] if args.get("week") in known else this_week.current_week(self.db, self.actor)
            self.param.update(week=week, **{("klass" if k == "class" else k): args.get(k) for k in KEYS if k != "week"})
            parts_now = self.content()
        except SohoaError as err:
            parts_now = [refusal(err)]
        except Exception:  # noqa: BLE001 - logged; the page must not stay hidden
            log.exception("overview: the step to %s failed", url)
            parts_now = [pn.pane.Alert("Không hiển thị được trang này; vui lòng tải lại trang.", alert_type="danger")]
        if self._picker is not None and self._picker.value != str(self.week):
            self._picker.value = str(self.week)
        if self._around is not None:
            self._around.object = around_weeks(self.weeks, self.week, self.state())
        for part in pn.Column(*parts_now).select(pn.pane.markup.HTMLBasePane):  # HTML and Markdown
            if SAME_LOOK not in part.stylesheets:
                part.stylesheets = [*part.stylesheets, SAME_LOOK]
        self._content.objects = parts_now
        self._content.visible = False  # (the browser hid it with the click: shown again in any case)
        self._content.visible = True

    def __panel__(self):
        if self.week is None:
            return pn.Column(pn.pane.Markdown("## Tổng quan ký sổ đầu bài"),
                             pn.pane.Markdown("Chưa có tiết nào trong phạm vi của bạn."))
        self._picker, self._around = week_picker(self.weeks, self.week, self.state())
        self._content = pn.Column(*self.content(), css_classes=[CONTENT], sizing_mode="stretch_width",
                                  margin=0)
        navigator = pn.widgets.TextInput(value=href(**self.state()), visible=False, css_classes=[NAVIGATOR])
        navigator.param.watch(lambda event: self.navigate(event.new), "value")
        return pn.Column(pn.pane.Markdown("## Tổng quan ký sổ đầu bài"), pn.Row(self._picker, self._around),
                         self._content, navigator, name="overview", sizing_mode="stretch_width")


def overview_page(db: Database, store=None, trust=None):
    """The overview: this week first, the drill-down at the URL's place, then the term."""
    actor = current_actor(db)
    if actor is None:
        return page(TITLE, None, signed_out())
    if not actor.may(Permission.VIEW):
        from dashboards.teacher import TeacherWeek

        return page("Tuần của tôi", actor, TeacherWeek(db, actor).__panel__())
    try:
        view = Overview.from_url(db, actor, url_args(), store=store, trust=trust)
        return page(TITLE, actor, view.__panel__())
    except SohoaError as err:
        return page(TITLE, actor, refusal(err))
