"""The Monday digest and the threshold alerts (bản tin thứ Hai, cảnh báo dưới ngưỡng), sent
through a :class:`core.access.channels.Channel`. Both are plain functions a periodic job calls
(``sohoa digest``, ``sohoa alerts``; the scheduler registers them).

- :func:`weekly_digest`: for one reader's scope and a week, the week's figures beside last week
  and the term (:func:`core.logbook.this_week.week_figures`), who is behind, as text, with a chart
  (PNG: the on-time rate over the term's weeks) and an Excel workbook of the same lists;
- :func:`send_digests`: every principal (to their staff e-mail) and every reader named with an
  address (district supervisors have no staff record) gets their own scope's digest; one
  ``digest.send`` audit event records who got it and who did not, and why;
- :func:`threshold_alerts`: every school below the department's school threshold for the week
  gets an alert to its principal, through the channel; audited as ``alerts.send``.
"""
from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from sqlalchemy import select

from core.access import audit
from core.access.authz import SYSTEM, Actor, actor_for
from core.access.channels import Attachment, Channel, Delivery, Message
from core.kernel import formats
from core.kernel.vocabulary import Role
from core.logbook import this_week
from core.logbook.compliance import TREND, compliance
from core.storage.db import Database
from core.storage.models import SchoolWeek, Staff, UserAccount

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LABELS = {"on_time_rate": "Tỉ lệ ký đúng hạn", "missed": "Tiết không ký", "late": "Tiết ký trễ",
          "hours_lost": "Giờ dạy bị mất", "scheduled": "Số tiết"}


def _value(name: str, value, *, change: bool = False) -> str:
    if name == "on_time_rate":
        return formats.points(value) if change else formats.percent(value)
    return formats.signed(value, 1 if value == value and value % 1 else 0) if change else \
        formats.number(value, 1 if value == value and value % 1 else 0)


def _chart(trend: pd.DataFrame, number: int) -> bytes:
    """The on-time rate over the weeks as a PNG (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
    weeks, rates = trend["week_number"].tolist(), (trend["on_time_rate"] * 100).tolist()
    ax.bar(weeks, rates, color=["#1d4e89" if w == number else "#9db4d3" for w in weeks])
    ax.set_xlabel("Tuần")
    ax.set_ylabel("Tỉ lệ ký đúng hạn (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Tỉ lệ ký đúng hạn theo tuần")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def _workbook(fig: pd.DataFrame, teachers: pd.DataFrame, schools: pd.DataFrame) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Tuần"
    sheet.append(["Chỉ số", "Tuần này", "Tuần trước", "Học kỳ (trung bình tuần)", "So với tuần trước",
                  "So với học kỳ"])
    for name, row in fig.iterrows():
        sheet.append([LABELS[name], *[None if v != v else float(v) for v in
                                      row[["this_week", "last_week", "term", "vs_last_week", "vs_term"]]]])
    slow = book.create_sheet("Giáo viên chậm ký")
    slow.append(["Giáo viên", "Trường", "Số tiết", "Không ký", "Ký trễ", "Tỉ lệ đúng hạn"])
    for r in teachers.itertuples():
        slow.append([r.teacher_name, r.school_name, int(r.scheduled), int(r.missed), int(r.late),
                     None if r.on_time_rate != r.on_time_rate else float(r.on_time_rate)])
    low = book.create_sheet("Trường dưới ngưỡng")
    low.append(["Trường", "Quận/huyện", "Số tiết", "Không ký", "Ký trễ", "Tỉ lệ đúng hạn"])
    for r in schools.itertuples():
        low.append([r.school_name, r.district_name, int(r.scheduled), int(r.missed), int(r.late),
                    float(r.on_time_rate)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def weekly_digest(db: Database, actor: Actor, week_id: int, *, to: str = "",
                  as_of: dt.datetime | None = None) -> Message:
    """The digest of ``actor``'s scope for the week, as a message to ``to``."""
    fig = this_week.week_figures(db, actor, week_id, as_of=as_of)
    teachers, schools, limits = this_week.behind_this_week(db, actor, week_id, as_of=as_of, limit=10)
    number = fig.attrs["number"]
    lines = [f"Bản tin ký sổ đầu bài — tuần {number} (từ {formats.date(fig.attrs['monday'])}), "
             f"học kỳ {fig.attrs['term_number']}", ""]
    for name, row in fig.iterrows():
        lines.append(f"- {LABELS[name]}: {_value(name, row['this_week'])} "
                     f"(so với tuần trước: {_value(name, row['vs_last_week'], change=True)}; "
                     f"so với học kỳ: {_value(name, row['vs_term'], change=True)})")
    lines += ["", f"Giáo viên chậm ký (dưới {limits.teacher_min_rate} % hoặc quá {limits.teacher_max_unsigned} "
                  f"tiết không ký / ký trễ): {formats.number(len(teachers))}"]
    lines += [f"  {i}. {r.teacher_name} — {r.school_name}: {formats.percent(r.on_time_rate)}, "
              f"{formats.number(r.unsigned)} tiết không ký / ký trễ" for i, r in enumerate(teachers.itertuples(), 1)]
    lines += ["", f"Trường dưới ngưỡng {limits.school_min_rate} %: {formats.number(len(schools))}"]
    lines += [f"  {i}. {r.school_name} ({r.district_name}): {formats.percent(r.on_time_rate)}"
              for i, r in enumerate(schools.itertuples(), 1)]
    lines += ["", "Biểu đồ và bảng Excel đính kèm. Xem chi tiết trên bảng điều khiển: Tổng quan."]
    with db.reading() as session:
        year = session.get(SchoolWeek, week_id).school_year_id
    trend = compliance(db, actor, TREND, school_year_id=year, as_of=as_of)
    trend = trend[trend["week_number"] <= number]
    return Message(to=to, subject=f"[Sổ đầu bài số] Bản tin tuần {number}: "
                                  f"{formats.percent(fig.loc['on_time_rate', 'this_week'])} ký đúng hạn",
                   body="\n".join(lines),
                   attachments=(Attachment(f"ty-le-ky-tuan-{number}.png", _chart(trend, number), "image/png"),
                                Attachment(f"ban-tin-tuan-{number}.xlsx", _workbook(fig, teachers, schools), XLSX)))


def digest_readers(db: Database, extra: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """(user id, address) of who gets a digest: every active principal with a staff e-mail, and
    the accounts named in ``extra`` (username → address)."""
    with db.reading() as session:
        readers = [(uid, email) for uid, email in session.execute(
            select(UserAccount.id, Staff.email).join(Staff, Staff.id == UserAccount.staff_id)
            .where(UserAccount.role == Role.PRINCIPAL, UserAccount.active.is_(True)).order_by(UserAccount.id))]
        for username, address in sorted((extra or {}).items()):
            uid = session.scalar(select(UserAccount.id).where(UserAccount.username == username,
                                                              UserAccount.active.is_(True)))
            if uid is not None:
                readers.append((uid, address))
    return readers


def _week_of(db: Database, actor: Actor, week_number: int | None, as_of: dt.datetime | None = None) -> int | None:
    from core.logbook.queries import weeks_in_scope

    weeks = weeks_in_scope(db, actor)
    if week_number is not None:
        weeks = weeks[weeks["number"] == week_number]
        return int(weeks["week_id"].iloc[-1]) if not weeks.empty else None
    return this_week.current_week(db, actor, as_of.date() if as_of else None)


def send_digests(db: Database, channel: Channel, *, week_number: int | None = None,
                 extra: dict[str, str] | None = None, as_of: dt.datetime | None = None) -> list[Delivery]:
    """Send each reader (:func:`digest_readers`) the digest of their own scope for the week
    numbered ``week_number`` (default: the current week of their scope). A reader without an
    address or with no periods that week is recorded as not sent, with the reason."""
    deliveries = []
    for user_id, address in digest_readers(db, extra):
        with db.reading() as session:
            reader = actor_for(session, user_id)
        week_id = _week_of(db, reader, week_number, as_of)
        if week_id is None:
            deliveries.append(Delivery(address or "", False, f"{reader.username}: không có tuần này trong phạm vi"))
            continue
        if not address:
            deliveries.append(Delivery("", False, f"{reader.username}: không có địa chỉ email"))
            continue
        deliveries.append(channel.send(weekly_digest(db, reader, week_id, to=address, as_of=as_of)))
    with db.transaction() as session:
        audit.record(session, SYSTEM, "digest.send", "digest", None,
                     after={"channel": channel.name, "week": week_number, "sent": sum(d.ok for d in deliveries),
                            "not_sent": [f"{d.to}: {d.detail}" for d in deliveries if not d.ok]})
    return deliveries


def threshold_alerts(db: Database, channel: Channel, *, week_number: int | None = None,
                     as_of: dt.datetime | None = None) -> list[Delivery]:
    """Alert the principal of every school below the department's school threshold in the week
    (default: the current one): one message per school, through ``channel``."""
    deliveries = []
    week_id = _week_of(db, SYSTEM, week_number, as_of)
    if week_id is None:
        return deliveries
    _, schools, limits = this_week.behind_this_week(db, SYSTEM, week_id, as_of=as_of, limit=10_000)
    if schools.empty:
        return deliveries
    with db.reading() as session:
        number = session.get(SchoolWeek, week_id).number
        principals = session.execute(
            select(UserAccount.school_id, UserAccount.username, Staff.email)
            .join(Staff, Staff.id == UserAccount.staff_id)
            .where(UserAccount.role == Role.PRINCIPAL, UserAccount.active.is_(True),
                   UserAccount.school_id.in_([int(s) for s in schools["school_id"]]))).all()
    by_school: dict[int, list[str]] = {}
    for school_id, _, email in principals:
        by_school.setdefault(school_id, []).append(email or "")
    for r in schools.itertuples():
        body = (f"Tuần {number}, tỉ lệ ký sổ đầu bài đúng hạn của {r.school_name} là "
                f"{formats.percent(r.on_time_rate)}, dưới ngưỡng {limits.school_min_rate} % của Sở "
                f"({formats.number(r.missed)} tiết không ký, {formats.number(r.late)} tiết ký trễ). "
                "Xem danh sách giáo viên trên bảng điều khiển: Tổng quan.")
        for address in by_school.get(int(r.school_id), [""]):
            deliveries.append(channel.send(Message(address, f"[Sổ đầu bài số] Cảnh báo: {r.school_name} dưới "
                                                            f"ngưỡng ký đúng hạn tuần {number}", body)))
    with db.transaction() as session:
        audit.record(session, SYSTEM, "alerts.send", "alert", None,
                     after={"channel": channel.name, "week": number, "schools": int(len(schools)),
                            "sent": sum(d.ok for d in deliveries),
                            "not_sent": [f"{d.to}: {d.detail}" for d in deliveries if not d.ok]})
    return deliveries
