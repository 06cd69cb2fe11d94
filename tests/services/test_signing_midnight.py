"""A period that ends near midnight is signed in its grace minutes after 00:00, through the
signing API's batch (:func:`core.logbook.submissions.submit_signatures`), on both databases:
the receipt at 00:02 finds yesterday's 23:58 period (on PostgreSQL in its partition of the day
before), signs it on time and counts it as teaching hours; from 00:03:01 it is missed."""
import datetime as dt

import pytest
from sqlalchemy import update

from core.access.authz import SYSTEM
from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus
from core.logbook.entries import entry_bytes, generate_week, teaching_hours
from core.logbook.submissions import Receipt, SignatureSubmission, submit_signatures
from core.storage.models import LogbookEntry
from tests.world import MONDAY

TUESDAY = MONDAY + dt.timedelta(days=1)
LATE_START = dt.datetime.combine(MONDAY, dt.time(23, 13))
LATE_END = dt.datetime.combine(MONDAY, dt.time(23, 58))


@pytest.fixture
def late_period(world):
    """Monday's period 2 of 6A1 (Minh's) moved to 23:13–23:58, as a school with an evening
    session would ring it (a constructed example)."""
    w = world
    generate_week(w.db, SYSTEM, w.ids["A"], w.ids["week1"])
    w.trust = w.pki.trust_store()
    entry = w.entry("6A1", MONDAY, 2)
    with w.db.transaction() as s:
        s.execute(update(LogbookEntry).where(LogbookEntry.id == entry)
                  .values(period_start=LATE_START, period_end=LATE_END))
    with w.db.reading() as s:
        data = entry_bytes(s, s.get(LogbookEntry, entry))
    return w, entry, w.signer("minh").sign_detached(data, LATE_END)


def _state(w, entry):
    with w.db.reading() as s:
        row = s.get(LogbookEntry, entry)
        return row.status, row.signed_at


def test_signed_at_0002_the_next_day_is_on_time_and_counted(late_period):
    w, entry, signature = late_period
    at = dt.datetime.combine(TUESDAY, dt.time(0, 2))
    [answer] = submit_signatures(w.db, w.trust, [SignatureSubmission(w.actor("minh"), entry, signature, "n1")], at=at)
    assert isinstance(answer, Receipt), answer
    assert answer.status == EntryStatus.ON_TIME and answer.counts_as_teaching_hours
    assert _state(w, entry) == (EntryStatus.ON_TIME, at)
    assert teaching_hours(w.db, w.actor("minh"), w.ids["minh"], MONDAY, MONDAY)["counted"] == 1


def test_the_last_second_of_the_grace_past_midnight(late_period):
    w, entry, signature = late_period
    at = dt.datetime.combine(TUESDAY, dt.time(0, 3, 0))
    [answer] = submit_signatures(w.db, w.trust, [SignatureSubmission(w.actor("minh"), entry, signature, "n2")], at=at)
    assert isinstance(answer, Receipt) and answer.status == EntryStatus.ON_TIME


def test_after_the_grace_past_midnight_it_is_missed_and_nothing_changes(late_period):
    w, entry, signature = late_period
    at = dt.datetime.combine(TUESDAY, dt.time(0, 3, 1))
    [answer] = submit_signatures(w.db, w.trust, [SignatureSubmission(w.actor("minh"), entry, signature, "n3")], at=at)
    assert isinstance(answer, RuleViolation) and "missed" in answer.message and answer.message_vi
    assert _state(w, entry) == (EntryStatus.PENDING, None)
