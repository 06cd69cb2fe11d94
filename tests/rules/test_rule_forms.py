"""Where a rule must run inside a database, its SQL form is the same rule: evaluated in Python,
as a SQLAlchemy expression on PostgreSQL and on the embedded default, and as SQL text in DuckDB
(the analytics store), each worked example gets the same answer."""
import datetime as dt

import duckdb
import pytest
from sqlalchemy import Date, DateTime, case, literal, select, union_all

from core.kernel.errors import RuleViolation
from core.kernel.vocabulary import EntryStatus
from core.logbook.rules.signing_window import (
    classify_signing,
    counts_as_teaching_hours,
    decided_sql,
    grace_cutoff,
    hours_counted_sql,
    is_decided,
    is_missed,
    is_pending,
    missed_sql,
    pending_sql,
    status_as_of,
)
from core.storage.models import LogbookEntry

TODAY = dt.date(2025, 10, 8)  # a Wednesday
YESTERDAY, TOMORROW = TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=1)

#: (status stored, the period's day) → (missed, pending, decided, counts as teaching hours)
EXAMPLES = [
    (EntryStatus.PENDING, YESTERDAY, (True, False, True, False)),    # unsigned after its day: missed
    (EntryStatus.PENDING, TODAY, (False, True, False, False)),       # today, not signed yet: still pending
    (EntryStatus.PENDING, TOMORROW, (False, True, False, False)),
    (EntryStatus.MISSED, YESTERDAY, (True, False, True, False)),     # marked missed by the nightly job
    (EntryStatus.ON_TIME, TODAY, (False, False, True, True)),        # signed in [start, end + 5:00]: counted
    (EntryStatus.ON_TIME, YESTERDAY, (False, False, True, True)),
    (EntryStatus.LATE, TODAY, (False, False, True, False)),          # signed after end + 5:00: not counted
    (EntryStatus.LATE, YESTERDAY, (False, False, True, False)),
]
PYTHON = (is_missed, is_pending, is_decided)


def test_python_forms_on_the_worked_examples():
    for status, day, expected in EXAMPLES:
        got = tuple(bool(rule(status, day, TODAY)) for rule in PYTHON) + (bool(counts_as_teaching_hours(status)),)
        assert got == expected, (status, day)
        as_of = dt.datetime.combine(TODAY, dt.time(6, 0))
        assert (status_as_of(status, day, as_of) == EntryStatus.MISSED) == expected[0]


def test_sqlalchemy_forms_equal_the_python_forms(db):
    status_type = LogbookEntry.__table__.c.status.type
    rows = union_all(*[select(literal(n).label("n"), literal(status, status_type).label("status"),
                              literal(day, Date()).label("day")) for n, (status, day, _) in enumerate(EXAMPLES)]
                     ).subquery()
    flags = [case((rule(rows.c.status, rows.c.day, TODAY), 1), else_=0) for rule in PYTHON]
    flags.append(case((counts_as_teaching_hours(rows.c.status), 1), else_=0))
    with db.reading() as session:
        got = session.execute(select(rows.c.n, *flags).order_by(rows.c.n)).all()
    assert [tuple(bool(v) for v in row[1:]) for row in got] == [expected for _, _, expected in EXAMPLES]


def test_sql_text_forms_equal_the_python_forms_in_duckdb():
    values = ", ".join(f"({n}, '{status.value}', DATE '{day}')" for n, (status, day, _) in enumerate(EXAMPLES))
    sql = (f"SELECT {missed_sql()}, {pending_sql()}, {decided_sql()}, {hours_counted_sql()} "
           f"FROM (VALUES {values}) t(n, status, day) ORDER BY n")
    got = duckdb.connect().execute(sql, {"as_of": TODAY}).fetchall()
    assert [tuple(row) for row in got] == [expected for _, _, expected in EXAMPLES]


@pytest.mark.parametrize("status", list(EntryStatus))
def test_a_period_is_exactly_one_of_pending_or_decided(status):
    for day in (YESTERDAY, TODAY, TOMORROW):
        assert bool(is_pending(status, day, TODAY)) != bool(is_decided(status, day, TODAY))


# ---------------------------------------------------------------- the grace across midnight
#: Periods of YESTERDAY and TODAY looked at just after midnight: (status, day, period end) →
#: at each moment, (missed, pending, decided). A constructed example: a period ending at 23:58
#: is signable until 00:03:00 (end + 5:00), missed from 00:03:01; one ending at 23:50 is missed
#: from midnight, as is every ordinary period.
MIDNIGHT = dt.datetime.combine(TODAY, dt.time())
MOMENTS = [MIDNIGHT + dt.timedelta(minutes=2), MIDNIGHT + dt.timedelta(minutes=3),
           MIDNIGHT + dt.timedelta(minutes=3, seconds=1)]
NEAR_MIDNIGHT = [
    (EntryStatus.PENDING, YESTERDAY, dt.datetime.combine(YESTERDAY, dt.time(23, 58)),
     [(False, True, False), (False, True, False), (True, False, True)]),
    (EntryStatus.PENDING, YESTERDAY, dt.datetime.combine(YESTERDAY, dt.time(23, 50)),
     [(True, False, True)] * 3),
    (EntryStatus.PENDING, YESTERDAY, dt.datetime.combine(YESTERDAY, dt.time(8, 35)),
     [(True, False, True)] * 3),
    (EntryStatus.PENDING, TODAY, dt.datetime.combine(TODAY, dt.time(8, 35)),
     [(False, True, False)] * 3),
    (EntryStatus.ON_TIME, YESTERDAY, dt.datetime.combine(YESTERDAY, dt.time(23, 58)),
     [(False, False, True)] * 3),
    (EntryStatus.MISSED, YESTERDAY, dt.datetime.combine(YESTERDAY, dt.time(23, 58)),
     [(True, False, True)] * 3),
]


def _expected_at(k):
    return [moments[k] for *_, moments in NEAR_MIDNIGHT]


def test_near_midnight_python_forms_agree_with_the_signing_window():
    start = dt.timedelta(minutes=45)
    for k, as_of in enumerate(MOMENTS):
        cutoff = grace_cutoff(as_of)
        for (status, day, end, _), expected in zip(NEAR_MIDNIGHT, _expected_at(k)):
            got = tuple(bool(rule(status, day, as_of.date(), end, cutoff)) for rule in PYTHON)
            assert got == expected, (status, end, as_of)
            assert (status_as_of(status, day, as_of, end) == EntryStatus.MISSED) == expected[0]
            if status == EntryStatus.PENDING and end < as_of:  # missed exactly when the window refuses
                try:
                    classify_signing(as_of, end - start, end)
                    refused = False
                except RuleViolation:
                    refused = True
                assert refused == expected[0], (end, as_of)


def test_near_midnight_sqlalchemy_forms_equal_the_python_forms(db):
    status_type = LogbookEntry.__table__.c.status.type
    rows = union_all(*[select(literal(n).label("n"), literal(status, status_type).label("status"),
                              literal(day, Date()).label("day"), literal(end, DateTime()).label("period_end"))
                       for n, (status, day, end, _) in enumerate(NEAR_MIDNIGHT)]).subquery()
    for k, as_of in enumerate(MOMENTS):
        cutoff = grace_cutoff(as_of)
        flags = [case((rule(rows.c.status, rows.c.day, as_of.date(), rows.c.period_end, cutoff), 1), else_=0)
                 for rule in PYTHON]
        with db.reading() as session:
            got = session.execute(select(rows.c.n, *flags).order_by(rows.c.n)).all()
        assert [tuple(bool(v) for v in row[1:]) for row in got] == _expected_at(k), as_of


def test_near_midnight_sql_text_forms_equal_the_python_forms_in_duckdb():
    values = ", ".join(f"({n}, '{status.value}', DATE '{day}', TIMESTAMP '{end}')"
                       for n, (status, day, end, _) in enumerate(NEAR_MIDNIGHT))
    args = ("status", "day", "$as_of", "period_end", "$cutoff")
    sql = (f"SELECT {missed_sql(*args)}, {pending_sql(*args)}, {decided_sql(*args)} "
           f"FROM (VALUES {values}) t(n, status, day, period_end) ORDER BY n")
    for k, as_of in enumerate(MOMENTS):
        got = duckdb.connect().execute(sql, {"as_of": as_of.date(), "cutoff": grace_cutoff(as_of)}).fetchall()
        assert [tuple(row) for row in got] == _expected_at(k), as_of


# ---------------------------------------------------------------- certificate validity (NĐ 23/2025, Art. 3)
NB, NA = dt.datetime(2025, 1, 1), dt.datetime(2027, 12, 31, 23, 59, 59)
AT = dt.datetime(2025, 10, 8, 8, 0)
#: (not_before, not_after, revoked_at) → valid at AT
CERTIFICATES = [
    (NB, NA, None, True),
    (NB, NA, AT, False),                                   # revoked at the very moment: not valid
    (NB, NA, AT + dt.timedelta(seconds=1), True),          # revoked after signing: the signature stands
    (NB, NA, AT - dt.timedelta(days=1), False),
    (AT + dt.timedelta(seconds=1), NA, None, False),       # not yet valid
    (NB, AT, None, True),                                  # both ends included
    (NB, AT - dt.timedelta(seconds=1), None, False),       # expired
]


def test_certificate_validity_in_python_and_sql_agree(db):
    from sqlalchemy import DateTime

    from core.signatures.rules.validity import valid_at, validity_problem

    for nb, na, revoked, expected in CERTIFICATES:
        assert bool(valid_at(nb, na, revoked, AT)) is expected
        assert (validity_problem(nb, na, revoked, AT) is None) is expected
    rows = union_all(*[select(literal(n).label("n"), literal(nb, DateTime()).label("nb"),
                              literal(na, DateTime()).label("na"), literal(rv, DateTime()).label("rv"))
                       for n, (nb, na, rv, _) in enumerate(CERTIFICATES)]).subquery()
    with db.reading() as session:
        got = session.execute(select(rows.c.n, case((valid_at(rows.c.nb, rows.c.na, rows.c.rv, AT), 1), else_=0))
                              .order_by(rows.c.n)).all()
    assert [bool(v) for _, v in got] == [expected for *_, expected in CERTIFICATES]


# ---------------------------------------------------------------- the signing window of a receipt time
START, END = dt.datetime(2025, 10, 8, 7, 50), dt.datetime(2025, 10, 8, 8, 35)
#: (received at, grace seconds) → what the window says (period 07:50–08:35)
RECEIPTS = [
    (START - dt.timedelta(seconds=1), 300, "early"),
    (START, 300, "on_time"),
    (dt.datetime(2025, 10, 8, 8, 20), 300, "on_time"),
    (END + dt.timedelta(minutes=5), 300, "on_time"),              # end + 5:00 exactly: on time
    (END + dt.timedelta(minutes=5, seconds=1), 300, "late"),      # one second later: late
    (END + dt.timedelta(minutes=5, seconds=1), 600, "on_time"),   # a school with a 10-minute grace
    (dt.datetime(2025, 10, 8, 23, 59, 59), 300, "late"),
    (dt.datetime(2025, 10, 9, 0, 0), 300, "after_day"),           # the next day: missed
]


def test_the_window_verdict_in_python_postgresql_and_duckdb_agree(pg_db):
    from sqlalchemy import text

    from core.logbook.rules.signing_window import classify_signing, window_verdict, window_verdict_sql

    for at, grace, expected in RECEIPTS:
        assert window_verdict(at, START, END, dt.timedelta(seconds=grace)) == expected
        if expected in ("on_time", "late"):
            assert classify_signing(at, START, END, dt.timedelta(seconds=grace)).value == expected
    values = ", ".join(f"({n}, TIMESTAMP '{at}', TIMESTAMP '{START}', TIMESTAMP '{END}', {grace})"
                       for n, (at, grace, _) in enumerate(RECEIPTS))
    query = (f"SELECT {window_verdict_sql()} FROM (VALUES {values}) "
             "t(n, signed_at, period_start, period_end, grace_seconds) ORDER BY n")
    expected = [e for *_, e in RECEIPTS]
    with pg_db.reading() as session:
        assert list(session.scalars(text(query))) == expected
    assert [v for (v,) in duckdb.connect().execute(query).fetchall()] == expected
