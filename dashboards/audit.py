"""The audit trail (``/audit``): the hash chain's check (department level), then the events,
filtered by action, user, school and dates, page by page.

:class:`AuditTrail` is a Panel component over core: the filters and the page are parameters,
the chain check and the events are methods calling core for the signed-in actor
(:func:`core.access.queries.audit_trail`, which scopes them; tested without a browser in
``tests/test_page_viewers.py``)."""
from __future__ import annotations

import pandas as pd
import panel as pn
import param

from core.access import queries as access_queries
from core.kernel.errors import SohoaError
from core.school import queries as school_queries
from core.storage.db import Database
from dashboards.common import audit_action_vi, frame, school_options, searchable

TITLE = "Nhật ký thao tác"
#: Events a page.
PAGE_SIZE = 25


class AuditTrail(pn.viewable.Viewer):
    """The audit trail for one signed-in actor (core refuses a role without the right to see
    it, in the constructor)."""

    action = param.String(default="", doc="the action filter ('': every action)")
    user = param.String(default="", doc="the acting user's name ('': everyone)")
    school = param.Integer(default=0, doc="the school filter (0: every school in scope)")
    date_from = param.Date(default=None, allow_None=True, doc="the first day (inclusive)")
    date_to = param.Date(default=None, allow_None=True, doc="the last day (inclusive)")
    page = param.Integer(default=0, bounds=(0, None), doc="the page of events")

    def __init__(self, db: Database, actor, **params):
        super().__init__(**params)
        self.db, self.actor = db, actor
        self._chain = self.chain()
        self.actions = access_queries.audit_actions(db, actor)
        try:
            self.schools = school_queries.schools_in_scope(db, actor)
        except SohoaError:  # a role that sees the trail but no school list: no school filter to offer
            self.schools = pd.DataFrame(columns=["school_id", "school_code", "school_name"])

    def chain(self):
        """The hash chain's check (``None`` below the department level)."""
        return access_queries.audit_trail(self.db, self.actor, page_size=1)[1]

    def rows(self) -> pd.DataFrame:
        """The chosen page of events for the filters, each action's meaning beside it."""
        trail, _ = access_queries.audit_trail(self.db, self.actor, action=self.action or None,
                                              user=self.user or None, school_id=self.school or None,
                                              date_from=self.date_from, date_to=self.date_to, page=self.page,
                                              page_size=PAGE_SIZE, check_chain=False)
        trail["meaning"] = trail["action"].map(audit_action_vi)
        return trail

    def status(self) -> str:
        chain = self._chain
        return ("Chuỗi băm toàn vẹn: **hợp lệ** (" + str(chain.checked) + " sự kiện)" if chain and chain.ok else
                f"Chuỗi băm: **BỊ PHÁ VỠ** — {chain.problem}" if chain else "Kiểm tra chuỗi băm: dành cho cấp Sở")

    @param.depends("action", "user", "school", "date_from", "date_to", "page")
    def _table(self):
        trail = self.rows()
        more = "" if len(trail) < PAGE_SIZE else " · còn trang sau (tăng số trang)"
        return pn.Column(pn.pane.Markdown(f"Trang {self.page + 1}: {len(trail)} sự kiện{more}", name="audit-count"),
                         frame(trail, ["at", "actor_name", "action", "meaning", "entity", "entity_id", "reason"],
                               page_size=PAGE_SIZE), sizing_mode="stretch_width")

    def __panel__(self):
        action = pn.widgets.Select.from_param(self.param.action, name="Thao tác", width=300, options={
            "(tất cả)": "", **{f"{a} — {audit_action_vi(a)}" if audit_action_vi(a) else a: a for a in self.actions}})
        user = pn.widgets.TextInput.from_param(self.param.user, name="Người thực hiện", placeholder="tên đăng nhập",
                                               width=180)
        school = searchable(pn.widgets.Select.from_param(
            self.param.school, name="Trường", width=300,
            options=school_options(self.schools, everything="(tất cả)")), what="trường", pinned=1)
        date_from = pn.widgets.DatePicker.from_param(self.param.date_from, name="Từ ngày", width=150)
        date_to = pn.widgets.DatePicker.from_param(self.param.date_to, name="Đến ngày", width=150)
        page_no = pn.widgets.IntInput.from_param(self.param.page, name="Trang", start=0, width=90)
        return pn.Column(pn.pane.Markdown("## Nhật ký thao tác"), pn.pane.Markdown(self.status()),
                         pn.Row(action, user, school), pn.Row(date_from, date_to, page_no),
                         pn.panel(self._table, loading_indicator=True))

