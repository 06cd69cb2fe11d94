"""Certificates (``/certificates``): the share of staff with a valid personal certificate per
school (and those expiring within 30 days), then the certificates that expire soon.

:class:`Certificates` is a Panel component over core: the school and the horizon of the expiring
list are parameters, the coverage and the list are methods calling core for the signed-in actor
(tested without a browser in ``tests/test_page_viewers.py``)."""
from __future__ import annotations

import pandas as pd
import panel as pn
import param

from core.school import queries as school_queries
from core.signatures import certificates
from core.storage.db import Database
from dashboards.common import frame, school_options, searchable

TITLE = "Chứng thư số"


class Certificates(pn.viewable.Viewer):
    """Certificate coverage and expiry for one signed-in actor (core refuses a role without the
    right to view, in the constructor)."""

    school = param.Integer(default=0, doc="the expiring list's school filter (0: every school in scope)")
    within_days = param.Integer(default=30, bounds=(1, 3660), doc="the expiring list's horizon, in days")

    def __init__(self, db: Database, actor, **params):
        super().__init__(**params)
        self.db, self.actor = db, actor
        self.schools = school_queries.schools_in_scope(db, actor)

    def coverage(self) -> pd.DataFrame:
        """Staff, those with a valid certificate and those expiring within 30 days, per school."""
        return certificates.coverage(self.db, self.actor, "school")

    def expiring(self) -> pd.DataFrame:
        """Certificates expiring within the chosen days, soonest first (core intersects the
        school with the scope)."""
        return certificates.certificate_list(self.db, self.actor, expiring_within_days=self.within_days,
                                             school_id=self.school or None)

    @param.depends("school", "within_days")
    def _expiring(self):
        return frame(self.expiring(), ["school_name", "holder", "kind", "serial_hex", "not_after"])

    def __panel__(self):
        school = searchable(pn.widgets.Select.from_param(
            self.param.school, name="Trường", width=380,
            options=school_options(self.schools, everything="(tất cả)")), what="trường", pinned=1)
        days = pn.widgets.IntInput.from_param(self.param.within_days, name="Hết hạn trong (ngày)", start=1,
                                              end=3660, width=160)
        return pn.Column(pn.pane.Markdown("## Chứng thư số: độ phủ và hết hạn"),
                         frame(self.coverage().rename(columns={
                             "staff": "Số cán bộ", "with_valid_certificate": "Có chứng thư",
                             "expiring_30_days": "Hết hạn trong 30 ngày", "coverage_rate": "Tỉ lệ"}),
                               ["school_name", "Số cán bộ", "Có chứng thư", "Hết hạn trong 30 ngày", "Tỉ lệ"]),
                         pn.pane.Markdown("### Sắp hết hạn"), pn.Row(school, days),
                         pn.panel(self._expiring, loading_indicator=True))
