"""Transcript issuance (``/transcripts``): students per school · grade by where their transcript
stands in the signing workflow (from the analytics store when the console has one, see
:class:`dashboards.common.Figures`), then the classes whose transcripts are not yet issued and
the step each waits on (:func:`core.transcripts.figures.blocking_steps`).

:class:`Issuance` is a Panel component over core: the school and the page of blocked classes are
parameters, the figures are methods calling core for the signed-in actor (tested without a
browser in ``tests/test_page_viewers.py``)."""
from __future__ import annotations

import holoviews as hv
import pandas as pd
import panel as pn
import param

from core.school import queries as school_queries
from core.storage.db import Database
from core.transcripts import figures as transcript_figures
from dashboards.common import Figures, frame, school_options, searchable

hv.extension("bokeh", logo=False)
TITLE = "Cấp học bạ"
STEPS = {"not_started": "Chưa lập", "drafts": "Bản nháp", "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp"}
#: Blocked classes a page.
PAGE_SIZE = 20


def issuance_bars(df: pd.DataFrame):
    """Students per school · grade by where their transcript stands (stacked)."""
    steps = df.assign(label=df["school_code"] + " K" + df["grade"].astype(str),
                      not_started=(df["students"] - df["drafts"] - df["homeroom_signed"] - df["issued"]).clip(lower=0))
    long = steps.melt(id_vars="label", value_vars=list(STEPS), var_name="step", value_name="count")
    long["step"] = long["step"].map(STEPS)
    return hv.Bars(long, [hv.Dimension("label", label="Trường · khối"), hv.Dimension("step", label="Bước")],
                   hv.Dimension("count", label="Học sinh")).opts(
        stacked=True, height=280, responsive=True, tools=["hover"], ylim=(0, None), legend_position="right",
        cmap=["#c9ccd1", "#f0b44c", "#6aa0d8", "#3a9b5c"], title="Học bạ theo bước của quy trình ký")


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
                         pn.pane.HoloViews(issuance_bars(df)),
                         frame(df.rename(columns={"students": "Học sinh", "drafts": "Bản nháp",
                                                  "homeroom_signed": "GVCN đã ký", "issued": "Đã cấp",
                                                  "cancelled": "Đã hủy", "issued_rate": "Tỉ lệ cấp",
                                                  "deadline": "Hạn", "overdue": "Quá hạn", "grade": "Khối"}),
                               ["school_code", "Khối", "Học sinh", "Bản nháp", "GVCN đã ký", "Đã cấp", "Đã hủy",
                                "Tỉ lệ cấp", "Hạn", "Quá hạn"]),
                         pn.pane.Markdown("### Học bạ chưa cấp đang chờ bước nào"), pn.Row(school, page_no),
                         pn.panel(self._blocking, loading_indicator=True))
