"""The Monday digest and the threshold alerts (core.logbook.digest) through the e-mail channel
(core.access.channels.EmailChannel) to a local SMTP server (aiosmtpd), on the worked weeks of
tests/services/test_this_week.py."""
import io

from sqlalchemy import update

from core.access import queries as access_queries
from core.access.channels import EmailChannel, Message
from core.logbook import digest
from core.storage.models import Staff
from tests.services.test_admin import smtp_server  # noqa: F401 - the fixture
from tests.services.test_compliance import signed  # noqa: F401 - the fixture
from tests.services.test_this_week import AFTER7, two_weeks  # noqa: F401 - the fixture


def _emails(w):
    with w.db.transaction() as s:
        s.execute(update(Staff).where(Staff.id == w.ids["binh"]).values(email="binh@a01.edu.vn"))


def test_the_monday_digest_by_mail_with_a_chart_and_a_workbook(two_weeks, smtp_server):  # noqa: F811
    from openpyxl import load_workbook

    inbox, port = smtp_server
    w = two_weeks
    _emails(w)
    sent = digest.send_digests(w.db, EmailChannel("127.0.0.1", port), week_number=7, extra={"q1": "q1@pgd.vn"},
                               as_of=AFTER7)
    # binh (A01's principal) and the Q1 supervisor get theirs; dung (B01) has no address
    assert [(d.to, d.ok) for d in sent] == [("binh@a01.edu.vn", True), ("", False), ("q1@pgd.vn", True)]
    assert "không có địa chỉ email" in sent[1].detail
    by_rcpt = {tuple(r): m for r, m in inbox.messages}
    mail = by_rcpt[("binh@a01.edu.vn",)]
    assert mail["Subject"] == "[Sổ đầu bài số] Bản tin tuần 7: 100,0 % ký đúng hạn"  # A01 signed all of week 7
    text = mail.get_body(("plain",)).get_content()
    assert "Tỉ lệ ký đúng hạn: 100,0 % (so với tuần trước: +40,0 điểm %" in text  # week 6: 6/10
    parts = {p.get_filename(): p for p in mail.iter_attachments()}
    assert set(parts) == {"ty-le-ky-tuan-7.png", "ban-tin-tuan-7.xlsx"}
    assert parts["ty-le-ky-tuan-7.png"].get_content().startswith(b"\x89PNG")
    book = load_workbook(io.BytesIO(parts["ban-tin-tuan-7.xlsx"].get_content()))
    assert book.sheetnames == ["Tuần", "Giáo viên chậm ký", "Trường dưới ngưỡng"]
    assert [c.value for c in book["Tuần"][2]][:3] == ["Tỉ lệ ký đúng hạn", 1.0, 0.6]
    q1 = by_rcpt[("q1@pgd.vn",)].get_body(("plain",)).get_content()
    assert "Tiết không ký: 0" in q1 and "B01" not in q1  # Q1's scope is school A only
    trail, _ = access_queries.audit_trail(w.db, w.actor("admin"), action="digest.", check_chain=False)
    assert len(trail) == 1


def test_a_school_below_the_threshold_alerts_its_principal(two_weeks, smtp_server):  # noqa: F811
    inbox, port = smtp_server
    w = two_weeks
    _emails(w)
    with w.db.transaction() as s:
        s.execute(update(Staff).where(Staff.id == w.ids["dung"]).values(email="dung@b01.edu.vn"))
    sent = digest.threshold_alerts(w.db, EmailChannel("127.0.0.1", port), week_number=7, as_of=AFTER7)
    assert [(d.to, d.ok) for d in sent] == [("dung@b01.edu.vn", True)]  # B01 at 0 %; A01 at 100 %
    (rcpt, mail), = inbox.messages
    assert "dưới ngưỡng 85 % của Sở" in mail.get_content() and "0,0 %" in mail.get_content()


def test_the_email_channel_reports_what_it_could_not_do(monkeypatch):
    monkeypatch.delenv("SOHOA_SMTP_HOST", raising=False)
    unset = EmailChannel().send(Message("a@b.vn", "s", "b"))
    assert not unset.ok and "SOHOA_SMTP_HOST" in unset.detail
    down = EmailChannel("127.0.0.1", 1).send(Message("a@b.vn", "s", "b"))
    assert not down.ok and "máy chủ thư không nhận" in down.detail
    assert EmailChannel("127.0.0.1", 1).send(Message("", "s", "b")).detail == "không có địa chỉ email"


def test_reminders_show_their_recipients_before_and_their_delivery_after(world, smtp_server):  # noqa: F811
    import datetime as dt

    from core.access import admin
    from core.access.authz import SYSTEM
    from core.logbook.entries import generate_week
    from tests.world import MONDAY

    inbox, port = smtp_server
    w, at = world, dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(12))
    generate_week(w.db, SYSTEM, w.ids["A"], w.ids["week1"])
    with w.db.transaction() as s:
        s.execute(update(Staff).where(Staff.id == w.ids["lan"]).values(email="lan@tvo.edu.vn"))
    before = admin.reminder_recipients(w.db, w.actor("mon_a"), w.ids["A"], as_of=at)
    assert before[["teacher", "email", "periods"]].values.tolist() == [
        ["Nguyễn Thị Lan", "lan@tvo.edu.vn", 4], ["Trần Văn Minh", "", 4], ["Lê Thu Hà", "", 2]]
    assert admin.reminder_status(w.db, w.actor("mon_a"), w.ids["A"]).empty  # nothing sent yet
    admin.send_reminders(w.db, w.actor("mon_a"), w.ids["A"], as_of=at)
    waiting = admin.reminder_status(w.db, w.actor("mon_a"), w.ids["A"])
    assert set(waiting["delivery"]) == {"Chờ gửi (hộp thư đi)"}
    admin.deliver_outbox(w.db, host="127.0.0.1", port=port)
    after = admin.reminder_status(w.db, w.actor("mon_a"), w.ids["A"]).set_index("teacher")["delivery"]
    assert after["Nguyễn Thị Lan"].startswith("Đã gửi lúc ")
    assert after["Trần Văn Minh"] == after["Lê Thu Hà"] == "Không gửi được: không có địa chỉ email"
    assert len(inbox.messages) == 1


def test_the_scheduler_sends_the_alerts_through_the_settings_mail_server(two_weeks, smtp_server):  # noqa: F811
    """The periodic job ``alerts`` (core.operations.jobs) on the Friday evening of week 7: the
    mail server is the installation's setting, the week the one that has begun by then."""
    from core.kernel import settings
    from core.operations import jobs

    inbox, port = smtp_server
    w = two_weeks
    with w.db.transaction() as s:
        s.execute(update(Staff).where(Staff.id == w.ids["dung"]).values(email="dung@b01.edu.vn"))
    context = jobs.JobContext(db=w.db, settings=settings.Settings(smtp_host="127.0.0.1", smtp_port=port,
                                                                  mail_from="sohoa@so.edu.vn"),
                              now=lambda: AFTER7)
    assert jobs.run_job("alerts", context) == "1 alerts sent, 0 not sent"
    (rcpt, mail), = inbox.messages
    assert rcpt == ["dung@b01.edu.vn"] and mail["From"] == "sohoa@so.edu.vn"
    assert "dưới ngưỡng 85 % của Sở" in mail.get_content()
    assert {"digests", "alerts"} <= set(jobs.REGISTRY)
