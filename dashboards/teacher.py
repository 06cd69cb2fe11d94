"""A teacher's own page (tuần của tôi): their periods this week with each one's state, the
unsigned and late ones first, and their teaching hours this week and this term
(:func:`core.logbook.this_week.my_week`). An account that is neither a supervisor nor a
teacher is told plainly that the console is not for it."""
from __future__ import annotations

import html

import panel as pn

from core.kernel import formats
from core.kernel.errors import SohoaError
from core.logbook import this_week
from core.storage.db import Database
from dashboards.common import current_actor, page, signed_out
from dashboards.overview import CSS, link_table

NOT_FOR_YOU = ("Bảng điều khiển này dành cho cán bộ quản lý và giám sát. Giáo viên ký sổ đầu bài trên ứng dụng "
               "của mình; trang này chỉ cho xem tuần của bạn.")


def teacher_body(db: Database, actor) -> pn.Column:
    """The teacher's week, or a clear message when the account has no week of its own."""
    try:
        periods, hours = this_week.my_week(db, actor)
    except SohoaError as err:
        return pn.Column(pn.pane.Markdown("## Tuần của tôi"),
                         pn.pane.Alert(f"{html.escape(err.message_vi)}. {NOT_FOR_YOU}", alert_type="info"),
                         name="teacher")
    behind = periods[periods["status"].isin(["missed", "late", "overdue"])]
    cards = []
    for key, label in (("week", "Tuần"), ("term", "Học kỳ")):
        h = hours[key]
        cards.append(f'<div class="sh-card"><div class="sh-label">{label}: giờ dạy được tính</div>'
                     f'<div class="sh-value">{formats.number(h["counted"])}</div>'
                     f'<div class="sh-delta">{formats.number(h["periods"])} tiết · mất {formats.number(h["lost"])}'
                     f' giờ (trễ hoặc không ký)</div></div>')
    columns = {"day": "Ngày", "period_no": "Tiết", "class_name": "Lớp", "subject": "Môn", "status": "Tình trạng",
               "lesson_title": "Tên bài"}
    return pn.Column(
        pn.pane.Markdown("## Tuần của tôi"),
        pn.pane.Markdown(NOT_FOR_YOU),
        pn.pane.HTML(CSS + '<div class="sh-cards" id="my-hours">' + "".join(cards) + "</div>", name="my-hours",
                     sizing_mode="stretch_width"),
        pn.pane.Markdown(f"### Tiết chưa ký hoặc ký trễ ({formats.number(len(behind))})"),
        link_table(behind, columns, None, name="my-behind", empty="Không có tiết nào chưa ký hay ký trễ tuần này."),
        pn.pane.Markdown(f"### Các tiết của tôi trong tuần từ {formats.date(periods.attrs.get('monday'))}"),
        link_table(periods, columns, None, name="my-week", empty="Tuần này bạn không có tiết nào."),
        name="teacher", sizing_mode="stretch_width")


def teacher_page(db: Database):
    actor = current_actor(db)
    if actor is None:
        return page("Tuần của tôi", None, signed_out())
    return page("Tuần của tôi", actor, teacher_body(db, actor))
