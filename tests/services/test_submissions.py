"""Signatures submitted from teachers' apps: client-side CMS over the entry's canonical bytes,
the server's receipt time decides, idempotency keys answer retries without signing or counting
twice, and every bad submission is refused without touching anything."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from core.access.authz import SYSTEM
from core.kernel.errors import BadSignature, Conflict, NotFound, PermissionDenied, RuleViolation
from core.kernel.vocabulary import EntryStatus
from core.logbook.entries import entry_bytes, generate_week, teaching_hours
from core.logbook.submissions import Receipt, SignatureSubmission, submit_signatures
from core.storage.models import LogbookEntry, Submission
from tests.world import MONDAY

P2_END = dt.datetime.combine(MONDAY, dt.time(8, 35))  # Monday period 2 of 6A1 is Minh's


@pytest.fixture
def week(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    generate_week(world.db, SYSTEM, world.ids["B"], world.ids["week1"])
    return world


def signed_by(w, who, entry_id, *, claimed=None, data=None):
    """What the teacher's app sends: a detached CMS over the entry's canonical bytes."""
    if data is None:
        with w.db.reading() as s:
            data = entry_bytes(s, s.get(LogbookEntry, entry_id))
    return w.signer(who).sign_detached(data, claimed or P2_END)


def submit(w, who, entry_id, signature, key, at):
    return submit_signatures(w.db, w.trust, [SignatureSubmission(w.actor(who), entry_id, signature, key)], at=at)[0]


def state(w, entry_id):
    with w.db.reading() as s:
        e = s.get(LogbookEntry, entry_id)
        return e.status, e.signed_at, s.scalar(select(func.count()).select_from(Submission))


def test_on_time_late_by_the_servers_clock_not_the_clients(week):
    w = week
    w.trust = w.pki.trust_store()
    entry = w.entry("6A1", MONDAY, 2)
    # the phone's clock says 2030; the server received it 5 minutes after the period's end
    receipt = submit(w, "minh", entry, signed_by(w, "minh", entry, claimed=dt.datetime(2030, 1, 1)), "k1",
                     P2_END + dt.timedelta(minutes=5))
    assert isinstance(receipt, Receipt) and receipt.status == EntryStatus.ON_TIME and receipt.counts_as_teaching_hours
    assert state(w, entry)[:2] == (EntryStatus.ON_TIME, P2_END + dt.timedelta(minutes=5))
    late = w.entry("6A1", MONDAY + dt.timedelta(days=1), 2)
    receipt = submit(w, "minh", late, signed_by(w, "minh", late), "k2",
                     dt.datetime.combine(MONDAY + dt.timedelta(days=1), dt.time(8, 40, 1)))
    assert receipt.status == EntryStatus.LATE and not receipt.counts_as_teaching_hours


def test_a_retry_is_answered_from_the_receipt_and_counts_once(week):
    w = week
    w.trust = w.pki.trust_store()
    entry = w.entry("6A1", MONDAY, 2)
    sig = signed_by(w, "minh", entry)
    first = submit(w, "minh", entry, sig, "retry-1", P2_END)
    again = submit(w, "minh", entry, sig, "retry-1", P2_END + dt.timedelta(minutes=30))
    assert not first.replayed and again.replayed and again.status == first.status == EntryStatus.ON_TIME
    assert again.received_at == first.received_at
    assert state(w, entry)[2] == 1  # one receipt
    hours = teaching_hours(w.db, w.actor("minh"), w.ids["minh"], MONDAY, MONDAY)
    assert hours["counted"] == 1
    other = w.entry("6A1", MONDAY + dt.timedelta(days=1), 2)
    reused = submit(w, "minh", other, signed_by(w, "minh", other), "retry-1", P2_END)
    assert isinstance(reused, Conflict)
    # a new key for an entry already signed: refused, nothing changes
    twice = submit(w, "minh", entry, sig, "retry-2", P2_END)
    assert isinstance(twice, Conflict) and state(w, entry)[2] == 1


def test_bad_submissions_change_nothing(week):
    w = week
    w.trust = w.pki.trust_store()
    mine = w.entry("6A1", MONDAY, 2)
    lans = w.entry("6A1", MONDAY, 1)
    other_school = w.entry("6B1", MONDAY, 1)
    cases = [
        ("minh", lans, signed_by(w, "minh", lans), PermissionDenied),               # another teacher's period
        ("minh", 999_999, signed_by(w, "minh", mine), NotFound),                    # no such entry
        ("minh", other_school, signed_by(w, "minh", mine), NotFound),               # not in their school
        ("minh", mine, b"\x30\x03\x02\x01\x01", BadSignature),                      # malformed
        ("minh", mine, signed_by(w, "minh", mine, data=b"other bytes"), BadSignature),  # over other content
        ("minh", mine, signed_by(w, "lan", mine), BadSignature),                    # another teacher's key
        ("minh", mine, signed_by(w, "minh", mine), RuleViolation),                  # key missing (below)
        ("mon_a", mine, signed_by(w, "minh", mine), PermissionDenied),              # a monitor does not sign
    ]
    items = [SignatureSubmission(w.actor(who), e, sig, f"bad-{n}" if n != 6 else "")
             for n, (who, e, sig, _) in enumerate(cases)]
    answers = submit_signatures(w.db, w.trust, items, at=P2_END)
    for (who, _, _, expected), answer in zip(cases, answers):
        assert isinstance(answer, expected), (who, answer)
        assert answer.message and answer.message_vi
    for e in (mine, lans, other_school):
        assert state(w, e)[0] == EntryStatus.PENDING
    assert state(w, mine)[2] == 0


def test_a_batch_from_many_teachers_settles_each_on_its_own(week):
    w = week
    w.trust = w.pki.trust_store()
    p1, p2 = w.entry("6A1", MONDAY, 1), w.entry("6A1", MONDAY, 2)
    items = [SignatureSubmission(w.actor("lan"), p1, signed_by(w, "lan", p1), "a"),
             SignatureSubmission(w.actor("minh"), p2, b"garbage", "b"),
             SignatureSubmission(w.actor("minh"), p2, signed_by(w, "minh", p2), "c"),
             SignatureSubmission(w.actor("minh"), p2, signed_by(w, "minh", p2), "d")]  # same entry twice
    answers = submit_signatures(w.db, w.trust, items, at=P2_END)
    assert isinstance(answers[0], Receipt) and isinstance(answers[1], BadSignature)
    assert isinstance(answers[2], Receipt) and isinstance(answers[3], Conflict)
    # period 1 ended at 07:45: at 08:35 it is late; period 2 is on time
    assert (state(w, p1)[0], state(w, p2)[0], state(w, p1)[2]) == (EntryStatus.LATE, EntryStatus.ON_TIME, 2)


def test_outside_the_signing_window_is_refused(week):
    w = week
    w.trust = w.pki.trust_store()
    entry = w.entry("6A1", MONDAY, 2)
    early = submit(w, "minh", entry, signed_by(w, "minh", entry), "w1", P2_END - dt.timedelta(hours=1))
    next_day = submit(w, "minh", entry, signed_by(w, "minh", entry), "w2", P2_END + dt.timedelta(days=1))
    assert isinstance(early, RuleViolation) and isinstance(next_day, RuleViolation)
    assert "missed" in next_day.message and state(w, entry) == (EntryStatus.PENDING, None, 0)


def test_one_batch_judges_each_item_at_its_own_receipt_time(week):
    """An API process gathers a batch over a few milliseconds: the one received just before
    the deadline is on time, the one received just after is late, in the same transaction."""
    w = week
    w.trust = w.pki.trust_store()
    deadline = P2_END + dt.timedelta(minutes=5)  # period 2 + the school's 5-minute grace
    p2, p2b = w.entry("6A1", MONDAY, 2), w.entry("6A2", MONDAY, 1)  # Minh teaches both (6A2 p1 ends 07:45)
    early_end = dt.datetime.combine(MONDAY, dt.time(7, 45)) + dt.timedelta(minutes=5)
    items = [SignatureSubmission(w.actor("minh"), p2, signed_by(w, "minh", p2), "t1",
                                 received_at=deadline - dt.timedelta(milliseconds=2)),
             SignatureSubmission(w.actor("minh"), p2b, signed_by(w, "minh", p2b), "t2",
                                 received_at=early_end + dt.timedelta(milliseconds=2))]
    answers = submit_signatures(w.db, w.trust, items, at=deadline + dt.timedelta(milliseconds=5))
    assert [a.status for a in answers] == [EntryStatus.ON_TIME, EntryStatus.LATE]
    assert [a.received_at for a in answers] == [i.received_at for i in items]
    assert state(w, p2)[:2] == (EntryStatus.ON_TIME, items[0].received_at)
    assert state(w, p2b)[:2] == (EntryStatus.LATE, items[1].received_at)


def test_certificates_are_checked_before_the_bell(week):
    """warm_certificates validates every usable personal certificate's chain once; a
    submission then finds its chain already checked (and a revoked one is not warmed)."""
    from core.kernel.vocabulary import CertificateKind
    from core.logbook.submissions import warm_certificates
    from core.storage.models import Certificate

    w = week
    trust = w.pki.trust_store()  # a fresh store: nothing checked yet
    with w.db.transaction() as s:
        usable = s.scalars(select(Certificate).where(Certificate.kind == CertificateKind.PERSONAL)).all()
        usable[0].revoked_at = dt.datetime(2025, 1, 2)
    assert len(trust._chains) == 0
    checked = warm_certificates(w.db, trust, at=P2_END, chunk=2)  # chunks of two: the paging works
    assert checked == len(usable) - 1 == len(trust._chains)
    entry = w.entry("6A1", MONDAY, 2)
    receipt = submit_signatures(w.db, trust, [SignatureSubmission(w.actor("minh"), entry, signed_by(w, "minh", entry),
                                                                  "warm")], at=P2_END)[0]
    assert isinstance(receipt, Receipt) and len(trust._chains) == checked  # nothing new to validate


@pytest.fixture
def pg_week(pg_db, pki, keys):
    from tests.world import build_world

    w = build_world(pg_db, pki, keys)
    generate_week(w.db, SYSTEM, w.ids["A"], w.ids["week1"])
    return w


def test_batch_statements_are_prepared_once_but_the_receipts_read_is_planned_each_time(pg_week):
    """On PostgreSQL a batch's statements are prepared on the connection (parsed and planned
    once), except the read of earlier receipts: that table grows by hundreds of rows a second
    during a bell, and a plan made while it was empty scans it whole (measured: 1.1 ms a batch
    after 40,000 receipts instead of 0.06 ms)."""
    from sqlalchemy import text

    w = pg_week
    w.trust = w.pki.trust_store()
    p1, p2 = w.entry("6A1", MONDAY, 1), w.entry("6A1", MONDAY, 2)
    answers = submit_signatures(w.db, w.trust, [
        SignatureSubmission(w.actor("lan"), p1, signed_by(w, "lan", p1), "p1"),
        SignatureSubmission(w.actor("minh"), p2, signed_by(w, "minh", p2), "p2")], at=P2_END)
    assert all(isinstance(a, Receipt) for a in answers)
    with w.db.reading() as s:
        prepared = s.execute(text("SELECT statement FROM pg_prepared_statements")).scalars().all()
    assert any("FOR UPDATE OF logbook_entry" in sql for sql in prepared)  # the locked read of the entries
    assert any(sql.startswith('UPDATE "logbook_entry"') for sql in prepared)
    assert any(sql.startswith('INSERT INTO "submission"') for sql in prepared)
    assert not any("JOIN submission" in sql for sql in prepared)  # the receipts read: planned each time
