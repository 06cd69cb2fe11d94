"""Missed and late lessons (``/missed``): the periods not signed (and, by choice, signed late),
page by page, and the same list as a CSV or Excel file written and audited by core
(:func:`core.logbook.exports.missed_lessons_file`).

:class:`MissedLessons` is a Panel component over core: the school, whether late periods count
and the page are parameters, the rows and the files are methods calling core for the signed-in
actor (tested without a browser in ``tests/test_page_viewers.py``)."""
from __future__ import annotations

import io

import pandas as pd
import panel as pn
import param

from core.logbook import exports, queries
from core.school import queries as school_queries
from core.storage.db import Database
from dashboards.common import frame, school_options, searchable

TITLE = "Tiết không ký"
SHOWN = ["school_name", "class_name", "day", "period_no", "subject", "teacher", "status", "minutes_late",
         "hours_lost"]


class MissedLessons(pn.viewable.Viewer):
    """The missed lessons of one signed-in actor's scope (a role without the right to view is
    refused by core in the constructor)."""

    school = param.Integer(default=0, doc="the school filter (0: every school in scope)")
    include_late = param.Boolean(default=True, doc="late-signed periods too")
    page = param.Integer(default=0, bounds=(0, None), doc="the page of rows (core pages them)")

    def __init__(self, db: Database, actor, **params):
        super().__init__(**params)
        self.db, self.actor = db, actor
        self.schools = school_queries.schools_in_scope(db, actor)

    def rows(self) -> pd.DataFrame:
        """The page of missed (and late) periods for the current choices."""
        return queries.missed_lessons(self.db, self.actor, school_id=self.school or None,
                                      include_late=self.include_late, page=self.page)

    def file(self, kind: str) -> bytes:
        """The whole list for the current choices as a ``csv`` or ``xlsx`` file (Vietnamese
        headers, the same columns in both; core records the export in the audit trail)."""
        return exports.missed_lessons_file(self.db, self.actor, kind, school_id=self.school or None,
                                           include_late=self.include_late)

    @param.depends("school", "include_late", "page")
    def _table(self):
        return frame(self.rows(), SHOWN)

    def __panel__(self):
        school = searchable(pn.widgets.Select.from_param(
            self.param.school, name="Trường", width=380,
            options=school_options(self.schools, everything="(tất cả)")), what="trường", pinned=1)
        late = pn.widgets.Checkbox.from_param(self.param.include_late, name="Gồm cả tiết ký trễ")
        page_no = pn.widgets.IntInput.from_param(self.param.page, name="Trang", start=0, width=100)
        downloads = pn.Row(
            pn.widgets.FileDownload(callback=lambda: io.BytesIO(self.file("csv")), filename="tiet-khong-ky.csv",
                                    label="Tải CSV"),
            pn.widgets.FileDownload(callback=lambda: io.BytesIO(self.file("xlsx")), filename="tiet-khong-ky.xlsx",
                                    label="Tải Excel"))
        return pn.Column(pn.pane.Markdown("## Tiết không ký và ký trễ (mỗi tiết mất 1 giờ dạy)"),
                         pn.Row(school, late, page_no), downloads,
                         pn.panel(self._table, loading_indicator=True))
