"""Roles × services: a school monitor (and every scoped role) sees only its schools, whatever
filters it passes; actions outside a role are refused."""
import datetime as dt

import pytest

from core.access.authz import SYSTEM
from core.kernel.errors import NotFound, PermissionDenied
from core.logbook.compliance import LEVELS, compliance
from core.logbook.entries import generate_week, mark_missed, record_substitute, teaching_hours
from core.logbook.verification import verify_entry_signature
from core.logbook.weekly_close import reopen_week
from core.timetable.services import SlotSpec, publish_timetable
from tests.world import MONDAY

AFTER = dt.datetime.combine(MONDAY + dt.timedelta(days=6), dt.time(12))

# who -> schools they may see
SCOPES = {"admin": {"A01", "B01"}, "so": {"A01", "B01"}, "analyst": {"A01", "B01"}, "q1": {"A01"},
          "mon_a": {"A01"}, "mon_b": {"B01"}, "binh": {"A01"}, "dung": {"B01"}}


@pytest.fixture
def both(world):
    for school in ("A", "B"):
        generate_week(world.db, SYSTEM, world.ids[school], world.ids["week1"])
    return world


@pytest.mark.parametrize("who", sorted(SCOPES))
def test_compliance_is_scoped_whatever_the_filters(both, who):
    actor = both.actor(who)
    codes = {both.ids["A"]: "A01", both.ids["B"]: "B01"}
    scheduled = {"A01": 10, "B01": 1}
    allowed_total = sum(scheduled[c] for c in SCOPES[who])
    for level in LEVELS:
        for filters in ({}, {"school_id": both.ids["A"]}, {"school_id": both.ids["B"]},
                        {"district_id": both.ids["q3"]}):
            df = compliance(both.db, actor, level, as_of=AFTER, **filters)
            if "school_id" in df:
                seen = {codes[int(i)] for i in df["school_id"]}
                assert seen <= SCOPES[who], (who, level, filters, seen)
                if not filters:
                    assert seen == SCOPES[who]
            # whatever the level, the periods counted never exceed the caller's schools
            assert int(df["scheduled"].sum()) <= allowed_total, (who, level, filters)
            if not filters:
                assert int(df["scheduled"].sum()) == allowed_total


@pytest.mark.parametrize("who", ["lan", "khoa"])
def test_teachers_cannot_read_compliance(both, who):
    with pytest.raises(PermissionDenied):
        compliance(both.db, both.actor(who), "school")


@pytest.mark.parametrize("who", sorted(SCOPES))
def test_entries_of_other_schools_are_invisible(both, who, trust):
    for school, klass in (("A01", "6A1"), ("B01", "6B1")):
        entry = both.entry(klass, MONDAY, 1)
        if school in SCOPES[who]:
            assert verify_entry_signature(both.db, both.actor(who), entry, trust).indication == "INDETERMINATE"
        else:
            with pytest.raises(NotFound):
                verify_entry_signature(both.db, both.actor(who), entry, trust)


@pytest.mark.parametrize("who", sorted(SCOPES))
def test_teaching_hours_scoped(both, who):
    for school, teacher in (("A01", "lan"), ("B01", "khoa")):
        if school in SCOPES[who]:
            assert teaching_hours(both.db, both.actor(who), both.ids[teacher], MONDAY, AFTER.date())["periods"] > 0
        else:
            with pytest.raises(PermissionDenied):
                teaching_hours(both.db, both.actor(who), both.ids[teacher], MONDAY, AFTER.date())


@pytest.mark.parametrize("who,may", [("admin", True), ("binh", True), ("dung", False), ("mon_a", False),
                                     ("so", False), ("analyst", False), ("lan", False)])
def test_actions_on_school_a(both, who, may):
    actor = both.actor(who)
    ids = both.ids
    actions = [
        lambda: record_substitute(both.db, actor, both.entry("6A1", MONDAY, 3), ids["lan"], "ốm"),
        lambda: publish_timetable(both.db, actor, ids["A"], MONDAY + dt.timedelta(days=14),
                                  [SlotSpec(ids["6A1"], 1, 1, ids["subj:TOAN"], ids["lan"])]),
        lambda: generate_week(both.db, actor, ids["A"], ids["week2"]),
    ]
    for action in actions:
        if may:
            action()
        else:
            with pytest.raises((PermissionDenied, NotFound)):
                action()


def test_mark_missed_by_a_principal_touches_only_their_school(both):
    count = mark_missed(both.db, both.actor("binh"), as_of=AFTER)
    assert count == 10
    assert mark_missed(both.db, SYSTEM, as_of=AFTER) == 1


def test_reopen_other_school_is_not_found(both):
    with pytest.raises(NotFound):
        reopen_week(both.db, both.actor("dung"), both.ids["6A1"], both.ids["week1"], "x")
