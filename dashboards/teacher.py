"""A teacher's own page (``/me``, tuần của tôi): their periods this week with each one's state,
the unsigned and late ones first, and their teaching hours this week and this term
(:func:`core.logbook.this_week.my_week`). An account that is neither a supervisor nor a
teacher is told plainly that the console is not for it.

:class:`TeacherWeek` is a Panel component over core: the moment the week is seen from is a
parameter (default: now), the periods and hours are a method calling core for the signed-in
actor (tested without a browser in ``tests/test_page_viewers.py``)."""
from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param

from core.kernel import formats
from core.kernel.errors import SohoaError
from core.logbook import this_week
from core.storage.db import Database
from dashboards.overview import CSS, link_table

TITLE = "Tuần của tôi"
NOT_FOR_YOU = ("Bảng điều khiển này dành cho cán bộ quản lý và giám sát. Giáo viên ký sổ đầu bài trên ứng dụng "
               "của mình; trang này chỉ cho xem tuần của bạn.")
#: The periods that need the teacher: not signed, or signed late.
BEHIND = ("missed", "late", "overdue")
COLUMNS = {"day": "Ngày", "period_no": "Tiết", "class_name": "Lớp", "subject": "Môn", "status": "Tình trạng",
           "lesson_title": "Tên bài"}


class TeacherWeek(pn.viewable.Viewer):
    """A teacher's week for one signed-in actor; an account with no week of its own (core
    refuses it) gets the message that the console is not for it."""

    as_of = param.Date(default=None, allow_None=True, doc="the moment the week is seen from (default: now)")

    def __init__(self, db: Database, actor, **params):
        super().__init__(**params)
        self.db, self.actor = db, actor

    def week(self) -> tuple[pd.DataFrame, dict]:
        """The teacher's periods of the week (its Monday in ``attrs["monday"]``) and their
        teaching hours this week and term (core refuses an account that is not a member of staff)."""
        return this_week.my_week(self.db, self.actor, as_of=self.as_of)

    def behind(self, periods: pd.DataFrame) -> pd.DataFrame:
        """Of the week's periods, those not signed or signed late."""
        return periods[periods["status"].isin(BEHIND)]

    @param.depends("as_of")
    def _body(self):
        try:
            periods, hours = self.week()
        except SohoaError as err:
            return pn.pane.Alert(f"{html.escape(err.message_vi)}. {NOT_FOR_YOU}", alert_type="info")
        behind = self.behind(periods)
        cards = []
        for key, label in (("week", "Tuần"), ("term", "Học kỳ")):
            h = hours[key]
            cards.append(f'<div class="sh-card"><div class="sh-label">{label}: giờ dạy được tính</div>'
                         f'<div class="sh-value">{formats.number(h["counted"])}</div>'
                         f'<div class="sh-delta">{formats.number(h["periods"])} tiết · mất '
                         f'{formats.number(h["lost"])} giờ (trễ hoặc không ký)</div></div>')
        return pn.Column(
            pn.pane.Markdown(NOT_FOR_YOU),
            pn.pane.HTML(CSS + '<div class="sh-cards" id="my-hours">' + "".join(cards) + "</div>", name="my-hours",
                         sizing_mode="stretch_width"),
            pn.pane.Markdown(f"### Tiết chưa ký hoặc ký trễ ({formats.number(len(behind))})"),
            link_table(behind, COLUMNS, None, name="my-behind",
                       empty="Không có tiết nào chưa ký hay ký trễ tuần này."),
            pn.pane.Markdown(f"### Các tiết của tôi trong tuần từ {formats.date(periods.attrs.get('monday'))}"),
            link_table(periods, COLUMNS, None, name="my-week", empty="Tuần này bạn không có tiết nào."),
            sizing_mode="stretch_width", margin=0)

    def __panel__(self):
        return pn.Column(pn.pane.Markdown("## Tuần của tôi"), pn.panel(self._body), name="teacher",
                         sizing_mode="stretch_width")
