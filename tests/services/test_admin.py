"""Admin actions: monitor assignment (scoped, audited) and reminders through the outbox,
delivered to a real SMTP server on 127.0.0.1."""
import datetime as dt
import socket

import pytest
from sqlalchemy import select, update

from core.access.admin import assign_monitor, deliver_outbox, send_reminders, unassign_monitor
from core.access.authz import SYSTEM
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.logbook.entries import generate_week
from core.storage.models import AuditEvent, Notification, Staff
from tests.world import MONDAY


def test_assign_and_unassign_a_monitor(world):
    ids = world.ids
    with pytest.raises(PermissionDenied):
        assign_monitor(world.db, world.actor("mon_a"), ids["user:mon_b"], ids["A"])
    with pytest.raises(PermissionDenied):  # a district supervisor of Q1 cannot act on a Q3 school
        assign_monitor(world.db, world.actor("q1"), ids["user:mon_a"], ids["B"])
    assign_monitor(world.db, world.actor("q1"), ids["user:mon_b"], ids["A"])
    assert ids["A"] in world.actor("mon_b").school_ids
    with pytest.raises(RuleViolation, match="already"):
        assign_monitor(world.db, world.actor("so"), ids["user:mon_b"], ids["A"])
    with pytest.raises(NotFound):
        assign_monitor(world.db, world.actor("so"), ids["user:lan"], ids["A"])  # not a monitor account
    unassign_monitor(world.db, world.actor("so"), ids["user:mon_b"], ids["A"], "Chuyển công tác")
    assert ids["A"] not in world.actor("mon_b").school_ids
    with world.db.reading() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("monitor.%"))))
    assert actions == ["monitor.assign", "monitor.unassign"]


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            from email import message_from_bytes, policy
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_reminders_are_queued_and_delivered(world, smtp_server):
    inbox, port = smtp_server
    ids = world.ids
    generate_week(world.db, SYSTEM, ids["A"], ids["week1"])
    with world.db.transaction() as s:
        s.execute(update(Staff).where(Staff.id == ids["lan"]).values(email="lan@tvo.edu.vn"))
    with pytest.raises(PermissionDenied):
        send_reminders(world.db, world.actor("mon_b"), ids["A"])
    count = send_reminders(world.db, world.actor("mon_a"), ids["A"],
                           as_of=dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(12)))
    assert count == 3  # Lan, Minh and Hà have unsigned periods this week
    assert deliver_outbox(world.db, host="127.0.0.1", port=port) == 1  # only Lan has an address
    rcpt, message = inbox.messages[0]
    assert rcpt == ["lan@tvo.edu.vn"] and message["Subject"] == "[A01] Nhắc ký sổ đầu bài: 4 tiết chưa ký"
    assert "chậm nhất 5 phút" in message.get_content()
    with world.db.reading() as s:
        errors = sorted(e for e in s.scalars(select(Notification.error)) if e)
    assert errors == ["no e-mail address", "no e-mail address"]
