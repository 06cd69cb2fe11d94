"""Console read models: scoped, paged, and the audit trail with its chain check."""
import datetime as dt

from core.authz import SYSTEM
from core.services.logbook import generate_week, mark_missed, sign_entry
from core.services.queries import audit_trail, certificate_list, missed_lessons, week_closing
from tests.world import MONDAY

AFTER = dt.datetime.combine(MONDAY + dt.timedelta(days=6), dt.time(12))


def test_missed_and_late_lessons_scoped_and_paged(world):
    for school in ("A", "B"):
        generate_week(world.db, SYSTEM, world.ids[school], world.ids["week1"])
    sign_entry(world.db, world.actor("lan"), world.entry("6A1", MONDAY, 1), world.signer("lan"),
               at=dt.datetime.combine(MONDAY, dt.time(8, 0)))  # 15 minutes after the grace: late
    everything = missed_lessons(world.db, world.actor("so"), as_of=AFTER, page_size=100)
    assert len(everything) == 11 and set(everything["status"]) == {"Không ký", "Ký trễ"}
    late = everything[everything["status"] == "Ký trễ"].iloc[0]
    assert late["minutes_late"] == 15.0 and late["hours_lost"] == 1
    mine = missed_lessons(world.db, world.actor("mon_b"), as_of=AFTER, school_id=world.ids["A"])
    assert mine.empty  # another school's id as a filter gives nothing
    assert len(missed_lessons(world.db, world.actor("mon_a"), as_of=AFTER, page_size=4, page=2)) == 2
    mark_missed(world.db, SYSTEM, as_of=AFTER)
    assert len(missed_lessons(world.db, world.actor("mon_a"), include_late=False, page_size=100)) == 9


def test_week_closing_and_certificates(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    weeks = week_closing(world.db, world.actor("mon_a"))
    assert set(weeks["state"]) == {"Chưa chốt"} and set(weeks["class_name"]) == {"6A1", "6A2"}
    certs = certificate_list(world.db, world.actor("mon_b"))
    assert set(certs["school_name"]) == {"THCS Colette"}
    assert certificate_list(world.db, world.actor("so"), expiring_within_days=30).empty


def test_audit_trail_scope_and_chain(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    trail, chain = audit_trail(world.db, world.actor("admin"))
    assert chain.ok and "logbook.generate_week" in set(trail["action"])
    mine, chain = audit_trail(world.db, world.actor("mon_b"))
    assert chain is None and set(mine["school_id"]) <= {world.ids["B"]}


def test_heatmap_and_class_week_entries(world):
    from core.services.queries import class_week_entries, signing_heatmap
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    sign_entry(world.db, world.actor("lan"), world.entry("6A1", MONDAY, 1), world.signer("lan"),
               at=dt.datetime.combine(MONDAY, dt.time(7, 30)))
    heat = signing_heatmap(world.db, world.actor("mon_a"), as_of=AFTER).set_index(["weekday", "period_no"])
    assert heat.loc[(2, 1), ["periods", "on_time"]].tolist() == [2, 1]   # Monday (Thứ Hai = 2), period 1
    assert heat.loc[(2, 1), "on_time_rate"] == 0.5 and heat.loc[(3, 1), "on_time"] == 0
    entries = class_week_entries(world.db, world.actor("mon_a"), world.ids["6A1"], world.ids["week1"])
    assert len(entries) == 6 and (entries["status"] == "on_time").sum() == 1
    assert class_week_entries(world.db, world.actor("mon_b"), world.ids["6A1"], world.ids["week1"]).empty
