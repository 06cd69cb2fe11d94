"""Transcript issuance (``/transcripts``): students per school · grade by where their transcript
stands in the signing workflow (from the analytics store when the console has one, see
:class:`dashboards.common.Figures`), then the classes whose transcripts are not yet issued and
the step each waits on (:func:`core.transcripts.figures.blocking_steps`).

:class:`Issuance` is a Panel component over core: the school and the page of blocked classes are
parameters, the figures are methods calling core for the signed-in actor (tested without a
browser in ``tests/test_page_viewers.py``)."""
from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from core.kernel import formats
from core.school import queries as school_queries
from core.storage.db import Database
from core.transcripts import figures as transcript_figures
from dashboards.common import Figures, frame, school_options, searchable

TITLE = "Cấp học bạ"
STEPS = {"not_started": "Chưa lập", "drafts": "Bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp"}
#: Blocked classes a page.
PAGE_SIZE = 20


#: The colour of each step in the stacked bars (not started, drafts, signed by the homeroom teacher, issued).
COLOURS = {"not_started": "#c9ccd1", "drafts": "#f0b44c", "homeroom_signed": "#6aa0d8", "issued": "#3a9b5c"}
#: At most this many school · grade bars (the table below has them all).
MAX_BARS = 40
CSS = """<style>
.sh-stack{max-width:900px;margin:4px 0 10px;font-size:.86em}.sh-stack-title{font-weight:600;margin-bottom:4px}
.sh-stack-row{display:flex;align-items:center;gap:8px;margin:2px 0}
.sh-stack-name{flex:0 0 110px;text-align:right;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sh-stack-bar{flex:1;display:flex;height:18px;background:#f3f5f8;border-radius:2px;overflow:hidden;min-width:60px}
.sh-stack-bar span{display:block;height:100%}
.sh-stack-legend{display:flex;flex-wrap:wrap;gap:12px;margin-top:6px;color:#44536a}
.sh-stack-legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
</style>"""


def issuance_bars(df: pd.DataFrame) -> str:
    """Students per school · grade by where their transcript stands: a horizontal bar each, in
    segments (not started, drafts, signed by the homeroom teacher, issued) as wide as their
    share, each segment's count on hover; HTML, as the overview's bars (a city's school · grade
    rows would be thousands of canvas bars; the first :data:`MAX_BARS`, the table has them all)."""
    steps = df.assign(not_started=(df["students"] - df["drafts"] - df["homeroom_signed"] - df["issued"]).clip(lower=0))
    rows = []
    for row in steps.head(MAX_BARS).to_dict("records"):
        name = f"{row['school_code']} K{row['grade']}"
        total = max(int(row["students"]), sum(int(row[k]) for k in COLOURS), 1)
        segments = "".join(
            f'<span style="width:{100 * int(row[k]) / total:.2f}%;background:{colour}" '
            f'title="{html.escape(name)} · {STEPS[k]}: {formats.number(int(row[k]))} học sinh"></span>'
            for k, colour in COLOURS.items() if int(row[k]) > 0)
        rows.append(f'<div class="sh-stack-row"><span class="sh-stack-name">{html.escape(name)}</span>'
                    f'<span class="sh-stack-bar">{segments}</span></div>')
    legend = "".join(f'<span><i style="background:{c}"></i>{STEPS[k]}</span>' for k, c in COLOURS.items())
    more = f" (chỉ {MAX_BARS} dòng đầu của bảng)" if len(df) > MAX_BARS else ""
    return (f'{CSS}<div class="sh-stack" id="issuance-bars"><div class="sh-stack-title">Học bạ theo bước của quy '
            f'trình ký (học sinh của mỗi trường · khối){more}</div>{"".join(rows)}'
            f'<div class="sh-stack-legend">{legend}</div></div>')


class Issuance(pn.viewable.Viewer):
    """Transcript issuance for one signed-in actor (core refuses a role without the right to
    view, in the constructor)."""

    school = param.Integer(default=0, doc="the blocked classes' school filter (0: every school in scope)")
    page = param.Integer(default=0, bounds=(0, None), doc="the page of blocked classes")

    def __init__(self, db: Database, actor, *, store=None, **params):
        super().__init__(**params)
        self.db, self.actor = db, actor
        self.figures = Figures(db, store).fresh()
        self.schools = school_queries.schools_in_scope(db, actor)

    def grades(self) -> pd.DataFrame:
        """Students and transcripts per school · grade."""
        return self.figures.issuance(self.actor, "grade")

    def blocking(self) -> tuple[pd.DataFrame, int]:
        """The chosen page of classes with unissued transcripts and what each waits on, and how
        many such classes there are (a school outside the scope: core's NotFound)."""
        return transcript_figures.blocking_steps(self.db, self.actor, school_id=self.school or None, page=self.page,
                                                 page_size=PAGE_SIZE)

    @param.depends("school", "page")
    def _blocking(self):
        rows, total = self.blocking()
        pages = max(1, -(-total // PAGE_SIZE))
        note = (f"{total} lớp còn học bạ chưa cấp · trang {self.page + 1}/{pages}" if total else
                "Mọi học bạ trong phạm vi đã được cấp.")
        return pn.Column(pn.pane.Markdown(note, name="blocking-note"),
                         frame(rows, ["school_code", "class", "grade", "step", "waiting_on", "transcripts"],
                               page_size=PAGE_SIZE * 3), sizing_mode="stretch_width")

    def __panel__(self):
        df = self.grades()
        if df.empty:
            return pn.Column(pn.pane.Markdown("## Cấp học bạ số"), pn.pane.Markdown("Chưa có học bạ trong phạm vi."))
        school = searchable(pn.widgets.Select.from_param(
            self.param.school, name="Trường", width=380,
            options=school_options(self.schools, everything="(tất cả)")), what="trường", pinned=1)
        page_no = pn.widgets.IntInput.from_param(self.param.page, name="Trang (lớp)", start=0, width=120)
        return pn.Column(pn.pane.Markdown("## Cấp học bạ số theo khối"), self.figures.note(),
                         pn.pane.HTML(issuance_bars(df), sizing_mode="stretch_width"),
                         frame(df.rename(columns={"students": "Học sinh", "drafts": "Bản nháp",
                                                  "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                                                  "cancelled": "Đã hủy", "issued_rate": "Tỉ lệ cấp",
                                                  "deadline": "Hạn", "overdue": "Quá hạn", "grade": "Khối"}),
                               ["school_code", "Khối", "Học sinh", "Bản nháp", "GVCN đã ký", "Đã cấp", "Đã hủy",
                                "Tỉ lệ cấp", "Hạn", "Quá hạn"]),
                         pn.pane.Markdown("### Học bạ chưa cấp đang chờ bước nào"), pn.Row(school, page_no),
                         pn.panel(self._blocking, loading_indicator=True))
