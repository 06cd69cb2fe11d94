"""Signing compliance (``/compliance``): the table per school / class / teacher, the weekday ×
period heatmap and the late-signing distribution (from the analytics store when the console has
one, see :class:`dashboards.common.Figures`), then the drill-down to one class-week's periods and
one period's verification (always the record store).

:class:`Compliance` is a Panel component over core: the user's choices (the school, the level,
the week and bucket of the distribution, the class-week, the period) are parameters, the data
are methods of them calling core for the signed-in actor, so both are tested without a browser
(``tests/test_page_viewers.py``). Nothing here filters or authorises: a school id sent over the
websocket goes to core, which intersects it with the actor's scope."""
from __future__ import annotations

import asyncio
import html

import numpy as np
import pandas as pd
import panel as pn
import param

from core.kernel import formats
from core.kernel.errors import SohoaError
from core.logbook import queries, verification
from core.school import queries as school_queries
from core.storage.db import Database
from dashboards.common import (
    SIGNER_ROLE_VI,
    Figures,
    frame,
    indication,
    refill,
    refusal_text,
    school_options,
    searchable,
    set_options,
)

TITLE = "Tuân thủ ký số"
LEVELS = {"Trường": "school", "Lớp": "class", "Giáo viên": "teacher"}
BUCKETS = {"1 phút": 1, "5 phút": 5, "15 phút": 15}
#: The table's first columns at each level (then the figures).
NAMES = {"school": "school_name", "class": "class_name", "teacher": "teacher_name"}


#: The page's two figures drawn as HTML (a grid of coloured cells, a row of bars): the browser lays
#: them out at once, where two Bokeh canvases were half the page's time in the browser.
CSS = """<style>
.sh-heat{border-collapse:separate;border-spacing:2px;font-size:.82em;margin:2px 0}
.sh-heat th{font-weight:600;color:#44536a;padding:2px 6px;text-align:center}
.sh-heat td{min-width:48px;padding:4px 6px;text-align:center;border-radius:2px}
.sh-legend{display:flex;align-items:center;gap:8px;font-size:.8em;color:#44536a;margin:4px 0 10px}
.sh-legend span.g{display:inline-block;width:160px;height:10px;border-radius:2px}
.sh-hist{max-width:900px;margin:4px 0 10px}.sh-hist-title{font-weight:600;font-size:.92em;margin-bottom:4px}
.sh-hist-bars{display:flex;align-items:flex-end;gap:1px;height:180px;border-bottom:1px solid #8a96a8}
.sh-hist-col{flex:1;height:100%;display:flex;align-items:flex-end}.sh-hist-col:hover{background:#f3f7fc}
.sh-hist-bar{width:100%;background:#d9822b;min-height:1px}
.sh-hist-axis{display:flex;justify-content:space-between;font-size:.78em;color:#44536a}
</style>"""


def _colour(fraction: float) -> tuple[str, str]:
    """(background, text colour) of a cell on the red-yellow-green scale (matplotlib's RdYlGn)."""
    from matplotlib import colormaps, colors

    background = colors.to_hex(colormaps["RdYlGn"](fraction))
    return background, "#ffffff" if fraction < 0.15 or fraction > 0.85 else "#1b2a3a"


def heatmap_html(df: pd.DataFrame) -> str:
    """The on-time rate by weekday × period as a grid: a row per period, a column per weekday
    (T2 … CN), each cell coloured on red-yellow-green from the lowest rate shown to the highest,
    its rate written in it and, on hover, its number of periods."""
    low, high = float(df["on_time_rate"].min()), float(df["on_time_rate"].max())
    days = sorted(int(d) for d in df["weekday"].unique())
    cells = {(int(r.weekday), int(r.period_no)): r for r in df.itertuples()}
    names = {d: "CN" if d == 8 else f"T{d}" for d in days}
    rows = []
    for period in sorted(int(p) for p in df["period_no"].unique()):
        tds = []
        for day in days:
            row = cells.get((day, period))
            if row is None:
                tds.append("<td></td>")
                continue
            background, ink = _colour(0.5 if high == low else (float(row.on_time_rate) - low) / (high - low))
            tip = (f"{names[day]}, tiết {period}: {formats.percent(row.on_time_rate)} đúng hạn "
                   f"({formats.number(int(row.periods))} tiết)")
            tds.append(f'<td style="background:{background};color:{ink}" title="{html.escape(tip)}">'
                       f"{formats.percent(row.on_time_rate, 0)}</td>")
        rows.append(f"<tr><th>Tiết {period}</th>{''.join(tds)}</tr>")
    head = "".join(f"<th>{names[d]}</th>" for d in days)
    gradient = ",".join(_colour(f)[0] for f in (0, 0.25, 0.5, 0.75, 1))
    return (f'{CSS}<div class="sh-hist-title">Tỉ lệ ký đúng hạn (%) theo thứ × tiết</div>'
            f'<table class="sh-heat" id="signing-heatmap"><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
            f'<div class="sh-legend">thấp nhất {formats.percent(low)} <span class="g" style="background:'
            f'linear-gradient(to right,{gradient})"></span> cao nhất {formats.percent(high)}</div>')


def late_histogram(df: pd.DataFrame, width: int) -> str:
    """The late-signing distribution as a histogram over contiguous buckets of ``width`` minutes
    (empty ones as 0): a bar per bucket, its count and minutes on hover, the axis in minutes."""
    lo, hi = int(df["minutes_after_end"].min()), int(df["minutes_after_end"].max())
    edges = np.arange(lo, hi + 2 * width, width)
    counts = df.set_index("minutes_after_end")["entries"].reindex(edges[:-1], fill_value=0).to_numpy()
    top = max(int(counts.max()), 1)
    bars = "".join(
        f'<div class="sh-hist-col" title="{formats.number(int(a))}–{formats.number(int(b))} phút: '
        f'{formats.number(int(n))} tiết"><div class="sh-hist-bar" style="height:{100 * int(n) / top:.1f}%"></div></div>'
        for a, b, n in zip(edges[:-1], edges[1:], counts, strict=True))
    ticks = np.linspace(edges[0], edges[-1], 5).round().astype(int)
    axis = "".join(f"<span>{formats.number(int(t))}</span>" for t in ticks)
    return (f'{CSS}<div class="sh-hist" id="late-histogram"><div class="sh-hist-title">Phân bố thời điểm ký trễ '
            f"(số tiết theo phút sau khi hết tiết; cao nhất {formats.number(top)} tiết)</div>"
            f'<div class="sh-hist-bars">{bars}</div><div class="sh-hist-axis">{axis}</div>'
            '<div class="sh-hist-axis"><span></span><span>Phút sau khi hết tiết</span><span></span></div></div>')


def late_summary(df: pd.DataFrame, bucket: int) -> str:
    """The distribution in one line: how many, the median delay, the share within 15 minutes."""
    n = int(df["entries"].sum())
    cumulative = df["entries"].cumsum()
    median = int(df["minutes_after_end"][cumulative >= n / 2].iloc[0])
    within = int(df.loc[df["minutes_after_end"] < 15, "entries"].sum())
    return (f"**{formats.number(n)}** tiết ký trễ · một nửa được ký trong khoảng "
            f"**{formats.number(median + bucket)} phút** sau khi hết tiết"
            f" · {formats.percent(within / n, 0)} trong 15 phút đầu")


def verification_report(entry_id: int, result) -> str:
    """One period's verification in Vietnamese: the overall result, then each signature."""
    lines = [f"**Tiết {entry_id}: {indication(result.indication, result.sub_indication)}**"]
    lines += [f"- {SIGNER_ROLE_VI.get(s.role, s.role)}: "
              f"{indication(s.verification.indication, s.verification.sub_indication)} — "
              f"{html.escape(s.verification.message or '')} "
              f"({html.escape(s.verification.signer_subject or '—')})" for s in result.signatures]
    return "\n".join(lines)


class Compliance(pn.viewable.Viewer):
    """The compliance page for one signed-in actor (core refuses, in the constructor, a role
    without the right to view: the page shows that refusal)."""

    school = param.Integer(default=0, doc="the school filter (0: every school in scope)")
    level = param.Selector(objects=list(LEVELS.values()), default="school", doc="the table's level")
    week = param.Integer(default=0, doc="the late-signing distribution's week id (0: the whole term)")
    bucket = param.Selector(objects=list(BUCKETS.values()), default=5, doc="its bars' width, in minutes")
    class_week = param.Tuple(default=None, allow_None=True, length=2,
                             doc="(class id, week id) of the drill-down (default: the school's newest)")
    entry = param.Integer(default=None, allow_None=True, doc="the period whose signatures are verified")

    def __init__(self, db: Database, actor, *, store=None, trust=None, **params):
        super().__init__(**params)
        self.db, self.actor, self.trust = db, actor, trust
        self._class_week_picker = None
        self._class_weeks: tuple[int, dict] | None = None  # (school, its class-weeks): read once a school
        self.schools = school_queries.schools_in_scope(db, actor)
        self.weeks = queries.weeks_in_scope(db, actor)
        self.figures = Figures(db, store).fresh()
        if self.class_week is None:
            self.class_week = next(iter(self.class_weeks().values()), None)

    # -- the data: core's answers for the current choices ------------------------------------
    def rows(self) -> pd.DataFrame:
        """The compliance figures at the chosen level (core intersects the school with the scope)."""
        return self.figures.compliance(self.actor, self.level, school_id=self.school or None)

    def heatmap_rows(self) -> pd.DataFrame:
        """On-time rate per weekday × period for the chosen school."""
        return self.figures.heatmap(self.actor, school_id=self.school or None)

    def late_rows(self) -> pd.DataFrame:
        """Late-signed periods by minutes after the period's end, in the chosen buckets."""
        return self.figures.late_signing(self.actor, school_id=self.school or None, week_id=self.week or None,
                                         bucket_minutes=self.bucket)

    def class_weeks(self) -> dict:
        """The chosen school's class-weeks offered to the drill-down, newest first (core pages
        them; the newest 500): label → (class id, week id). Read once for a school (the page's
        constructor and its picker share them)."""
        if self._class_weeks is None or self._class_weeks[0] != self.school:
            closing = queries.finished_class_weeks(self.db, self.actor, school_id=self.school or None, limit=500)
            self._class_weeks = (self.school, {
                f"{r.school_name} · {r.class_name} · tuần {r.week}": (int(r.class_id), int(r.week_id))
                for r in closing.itertuples()})
        return dict(self._class_weeks[1])

    def entries(self) -> pd.DataFrame:
        """The periods of the chosen class-week."""
        if not self.class_week:
            return pd.DataFrame()
        return queries.class_week_entries(self.db, self.actor, *self.class_week)

    def verification(self):
        """The chosen period's verification (:func:`core.logbook.verification.verify`)."""
        return verification.verify(self.db, self.actor, self.trust, entry_id=self.entry)

    # -- the layout ------------------------------------------------------------------------------
    @param.depends("school", "level")
    def _table(self):
        level = self.level
        return frame(self.rows(), [NAMES[level], "school_name" if level != "school" else "district_name",
                                   "scheduled", "on_time", "late", "missed", "on_time_rate", "hours_lost"])

    @param.depends("school")
    def _heatmap(self):
        df = self.heatmap_rows()
        if df.empty:
            return pn.pane.Markdown("Chưa có dữ liệu.")
        return pn.pane.HTML(heatmap_html(df), name="signing-heatmap", sizing_mode="stretch_width")

    @param.depends("school", "week", "bucket")
    def _late(self):
        df = self.late_rows()
        if df.empty:
            return pn.pane.Markdown("Không có tiết ký trễ trong phạm vi đã chọn.", name="late-distribution")
        return pn.Column(pn.pane.Markdown(late_summary(df, self.bucket), name="late-summary"),
                         pn.pane.HTML(late_histogram(df, self.bucket), sizing_mode="stretch_width"),
                         name="late-distribution", sizing_mode="stretch_width")

    @param.depends("school", watch=True)
    def _offer_class_weeks(self):
        """Another school: its class-weeks in the drill-down's picker (the chosen one kept when
        still offered, see :func:`dashboards.common.set_options`)."""
        if self._class_week_picker is not None:
            set_options(self._class_week_picker, self.class_weeks())

    def __panel__(self):
        school = searchable(pn.widgets.Select.from_param(
            self.param.school, name="Trường", width=420,
            options=school_options(self.schools, everything="(tất cả)")), what="trường", pinned=1)
        level = pn.widgets.RadioButtonGroup.from_param(self.param.level, name="Mức", options=LEVELS)
        week = pn.widgets.Select.from_param(self.param.week, name="Tuần", width=200, options={"(cả học kỳ)": 0, **{
            f"Tuần {r.number} ({r.monday:%d/%m})": int(r.week_id) for r in self.weeks.itertuples()}})
        bucket = pn.widgets.RadioButtonGroup.from_param(self.param.bucket, name="Độ rộng cột", options=BUCKETS)
        self._class_week_picker = pn.widgets.Select.from_param(self.param.class_week, name="Lớp - tuần", width=420,
                                                               options=self.class_weeks())
        entry_id = pn.widgets.TextInput(label="Mã tiết", placeholder="Mã tiết cần xác thực", width=200)
        check = pn.widgets.Button(label="Xác thực chữ ký", color="primary")
        report = pn.pane.Markdown("", name="entry-report")

        async def verify_one(_):
            typed = (entry_id.value_input or entry_id.value or "").strip().replace(".", "").replace(",", "")
            if not typed.isdigit():
                report.object = "**Nhập mã tiết (số)**"
                return
            report.object = "Đang xác thực…"
            self.entry = int(typed)
            try:  # off the server's event loop: verification may validate PDFs (pyHanko runs its own loop)
                result = await asyncio.to_thread(self.verification)
            except SohoaError as err:
                report.object = f"**{refusal_text(err)}**"
                return
            report.object = verification_report(self.entry, result)

        columns = ["entry_id", "day", "period_no", "subject", "teacher", "lesson_title", "status", "signed_at"]
        shown = {"rows": self.entries()}
        table = frame(shown["rows"], columns, visible=bool(self.class_week))

        async def clicked(event):  # a click on a period verifies it: no id to retype
            rows = shown["rows"]
            if event.row is not None and 0 <= event.row < len(rows):
                entry_id.value = entry_id.value_input = str(int(rows.iloc[event.row]["entry_id"]))
                await verify_one(None)
        table.on_click(clicked)

        def other_class_week(event):  # the new class-week's rows into the same table (a step, not a new table)
            shown["rows"] = self.entries()
            refill(table, shown["rows"], columns)
            table.visible = bool(event.new)
        self.param.watch(other_class_week, "class_week")

        check.on_click(verify_one)
        return pn.Column(pn.pane.Markdown("## Tuân thủ ký số"), self.figures.note(), pn.Row(school, level),
                         pn.panel(self._table, loading_indicator=True),
                         pn.panel(self._heatmap, loading_indicator=True),
                         pn.pane.Markdown("### Ký trễ: bao lâu sau khi hết tiết"), pn.Row(week, bucket),
                         pn.panel(self._late, loading_indicator=True),
                         pn.pane.Markdown("### Chi tiết một lớp - tuần (bấm vào một tiết để xác thực chữ ký; "
                                          "đi nhanh hơn từ [Tổng quan](/overview))"),
                         searchable(self._class_week_picker, what="lớp - tuần"),
                         table,
                         pn.Row(entry_id, check), report, name="compliance")
