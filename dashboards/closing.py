"""Weekly closing (``/closing``): how many class-weeks are in each state (all of them, counted by
core in the database), then the class-weeks page by page; for every school in scope or one.

:class:`Closing` is a Panel component over core: the school and the page are parameters, the
counts and the rows are methods calling core for the signed-in actor (tested without a browser
in ``tests/test_page_viewers.py``)."""
from __future__ import annotations

import pandas as pd
import panel as pn
import param

from core.kernel import formats
from core.logbook import queries
from core.school import queries as school_queries
from core.storage.db import Database
from dashboards.common import frame, school_options, searchable

TITLE = "Chốt sổ tuần"
#: Class-weeks a page.
PAGE_SIZE = 50


class Closing(pn.viewable.Viewer):
    """Weekly closing for one signed-in actor (core refuses a role without the right to view,
    in the constructor)."""

    school = param.Integer(default=0, doc="the school filter (0: every school in scope)")
    page = param.Integer(default=0, bounds=(0, None), doc="the page of class-weeks")

    def __init__(self, db: Database, actor, **params):
        super().__init__(**params)
        self.db, self.actor = db, actor
        self.schools = school_queries.schools_in_scope(db, actor)
        self._counts_of: tuple[int, pd.DataFrame] | None = None  # (school, its counts): counted once a school

    def counts(self) -> pd.DataFrame:
        """Class-weeks per closing state (core intersects the school with the scope), counted once
        for a school (the counts' table and the page count share them)."""
        if self._counts_of is None or self._counts_of[0] != self.school:
            self._counts_of = (self.school, queries.week_closing_counts(self.db, self.actor,
                                                                        school_id=self.school or None))
        return self._counts_of[1].copy()

    def rows(self) -> pd.DataFrame:
        """The chosen page of class-weeks, newest first."""
        return queries.week_closing(self.db, self.actor, school_id=self.school or None, page=self.page,
                                    page_size=PAGE_SIZE)

    @param.depends("school")
    def _counts(self):
        counts = self.counts()
        total = int(counts["class_weeks"].sum())
        return pn.Column(pn.pane.Markdown(f"**{formats.number(total)}** lớp - tuần đã qua trong phạm vi",
                                          name="closing-total"),
                         frame(counts.rename(columns={"state": "Tình trạng chốt", "class_weeks": "Số lớp - tuần"}),
                               ["Tình trạng chốt", "Số lớp - tuần"]), sizing_mode="stretch_width")

    def pages(self) -> int:
        """How many pages the chosen school's class-weeks fill."""
        return max(1, -(-int(self.counts()["class_weeks"].sum()) // PAGE_SIZE))

    @param.depends("school", "page")
    def _table(self):
        return pn.Column(pn.pane.Markdown(f"Trang {self.page + 1}/{self.pages()}", name="closing-page"),
                         frame(self.rows().rename(columns={"week": "Tuần", "state": "Tình trạng chốt"}),
                               ["school_name", "class_name", "Tuần", "monday", "Tình trạng chốt"],
                               page_size=PAGE_SIZE), sizing_mode="stretch_width")

    def __panel__(self):
        school = searchable(pn.widgets.Select.from_param(
            self.param.school, name="Trường", width=380,
            options=school_options(self.schools, everything="(tất cả)")), what="trường", pinned=1)
        page_no = pn.widgets.IntInput.from_param(self.param.page, name="Trang", start=0, width=100)
        return pn.Column(pn.pane.Markdown("## Chốt sổ tuần"), school,
                         pn.panel(self._counts, loading_indicator=True),
                         page_no, pn.panel(self._table, loading_indicator=True))
