"""Console read models: scoped, paged, and the audit trail with its chain check."""
import datetime as dt

from core.access.authz import SYSTEM
from core.access.queries import audit_trail
from core.logbook.entries import generate_week, mark_missed, sign_entry
from core.logbook.queries import missed_lessons, week_closing
from core.signatures.certificates import certificate_list
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


def test_finished_class_weeks_are_shared_found_once_and_narrowed_to_each_scope(world):
    """The finished class-weeks of every school are found once per logbook version (the console
    warms them when it starts) and each caller gets their own schools' alone: a monitor of a
    school without entries gets nothing, another school's id gives nothing; once the logbook
    grows (a new week generated), the new class-weeks are found, in the right scopes only."""
    from core.logbook import queries

    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    queries.warm(world.db)
    misses = queries._FINISHED.misses
    so = queries.finished_class_weeks(world.db, world.actor("so"))
    assert set(so["class_name"]) == {"6A1", "6A2"} and set(so["week_id"]) == {world.ids["week1"]}
    assert queries.finished_class_weeks(world.db, world.actor("mon_b")).empty
    assert queries.finished_class_weeks(world.db, world.actor("mon_b"), school_id=world.ids["A"]).empty
    mine = queries.finished_class_weeks(world.db, world.actor("mon_a"), limit=1)
    assert len(mine) == 1 and mine.iloc[0]["class_name"] == "6A1"  # by school, then class
    # every school's class-weeks and names were warmed: each scope's rows are narrowed from them, nothing computed
    assert queries._FINISHED.misses == misses
    queries.week_closing(world.db, world.actor("mon_a"))
    assert queries._FINISHED.misses == misses  # the closing rows too
    generate_week(world.db, SYSTEM, world.ids["B"], world.ids["week1"])
    theirs = queries.finished_class_weeks(world.db, world.actor("mon_b"))
    assert set(theirs["school_name"]) == {"THCS Colette"} and len(theirs) > 0
    assert set(queries.finished_class_weeks(world.db, world.actor("mon_a"))["class_name"]) == {"6A1", "6A2"}
    assert len(queries.finished_class_weeks(world.db, world.actor("so"))) == len(so) + len(theirs)


def test_audit_trail_scope_and_chain(world):
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    trail, chain = audit_trail(world.db, world.actor("admin"))
    assert chain.ok and "logbook.generate_week" in set(trail["action"])
    mine, chain = audit_trail(world.db, world.actor("mon_b"))
    assert chain is None and set(mine["school_id"]) <= {world.ids["B"]}


def test_heatmap_and_class_week_entries(world):
    from core.logbook.queries import class_week_entries, signing_heatmap
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])
    sign_entry(world.db, world.actor("lan"), world.entry("6A1", MONDAY, 1), world.signer("lan"),
               at=dt.datetime.combine(MONDAY, dt.time(7, 30)))
    heat = signing_heatmap(world.db, world.actor("mon_a"), as_of=AFTER).set_index(["weekday", "period_no"])
    assert heat.loc[(2, 1), ["periods", "on_time"]].tolist() == [2, 1]   # Monday (Thứ Hai = 2), period 1
    assert heat.loc[(2, 1), "on_time_rate"] == 0.5 and heat.loc[(3, 1), "on_time"] == 0
    entries = class_week_entries(world.db, world.actor("mon_a"), world.ids["6A1"], world.ids["week1"])
    assert len(entries) == 6 and (entries["status"] == "on_time").sum() == 1
    assert class_week_entries(world.db, world.actor("mon_b"), world.ids["6A1"], world.ids["week1"]).empty


def _sign_at(world, who: str, klass: str, period: int, hh: int, mm: int, ss: int = 0, day=MONDAY):
    sign_entry(world.db, world.actor(who), world.entry(klass, day, period), world.signer(who),
               at=dt.datetime.combine(day, dt.time(hh, mm, ss)))


def test_late_signing_distribution_buckets_scope_and_filters(world):
    import pytest

    from core.kernel.errors import PermissionDenied
    from core.logbook.queries import late_signing_distribution
    for school in ("A", "B"):
        generate_week(world.db, SYSTEM, world.ids[school], world.ids["week1"])
    _sign_at(world, "lan", "6A1", 1, 8, 0)          # period ends 07:45: 15:00 after -> bucket 15
    _sign_at(world, "minh", "6A1", 2, 8, 40, 1)     # ends 08:35: 5:01 after (1 s past the grace) -> 5
    _sign_at(world, "ha", "6A1", 3, 9, 40, 59)      # ends 09:25: 15:59 after -> 15
    _sign_at(world, "lan", "6A2", 2, 8, 36)         # on time: not in the distribution
    _sign_at(world, "khoa", "6B1", 1, 7, 52)        # school B, ends 07:45: 7:00 after -> 7

    def histogram(actor, **kw):
        frame = late_signing_distribution(world.db, world.actor(actor), **kw)
        return dict(zip(frame["minutes_after_end"], frame["entries"]))

    assert histogram("so") == {5: 1, 7: 1, 15: 2}
    assert histogram("mon_a") == {5: 1, 15: 2}                    # a monitor sees their school only
    assert histogram("mon_a", school_id=world.ids["B"]) == {}      # another school's id gives nothing
    assert histogram("so", school_id=world.ids["B"]) == {7: 1}
    assert histogram("so", bucket_minutes=10) == {0: 2, 10: 2}
    assert histogram("so", week_id=world.ids["week2"]) == {}
    assert histogram("q1", week_id=world.ids["week1"]) == {5: 1, 15: 2}
    with pytest.raises(PermissionDenied):
        late_signing_distribution(world.db, world.actor("lan"))  # teachers have no supervision view


def test_audit_trail_filters_and_paging(world, monkeypatch):
    from core.access.queries import audit_actions
    from core.kernel import clock
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2025, 10, 20, 10, 0))
    generate_week(world.db, SYSTEM, world.ids["B"], world.ids["week1"])      # dated 20/10/2025
    monkeypatch.setattr(clock, "now", real_now)
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week1"])      # dated today
    _sign_at(world, "lan", "6A1", 1, 7, 30)
    _sign_at(world, "minh", "6A1", 2, 8, 20)
    admin = world.actor("admin")
    today = clock.now().date()

    def trail(actor=admin, **kw):
        return audit_trail(world.db, actor, check_chain=False, **{"page_size": 100, **kw})[0]

    signs = trail(action="entry.sign")
    assert len(signs) == 2 and set(signs["actor_name"]) == {"lan", "minh"}
    assert set(trail(user="lan")["action"]) == {"entry.sign"}
    assert set(trail(school_id=world.ids["B"])["action"]) == {"logbook.generate_week", "timetable.publish"}
    old = trail(date_from=dt.date(2025, 10, 20), date_to=dt.date(2025, 10, 20))
    assert len(old) == 1 and old.iloc[0]["school_id"] == world.ids["B"]
    assert trail(date_from=today, action="logbook").iloc[0]["school_id"] == world.ids["A"]
    assert trail(date_to=dt.date(2025, 10, 19)).empty
    assert trail(world.actor("mon_b"), school_id=world.ids["A"]).empty   # the filter never widens the scope
    first, second = trail(page_size=2, page=0), trail(page_size=2, page=1)
    assert len(first) == 2 and not set(first["id"]) & set(second["id"])
    assert {"entry.sign", "logbook.generate_week"} <= set(audit_actions(world.db, admin))
    assert "entry.sign" not in audit_actions(world.db, world.actor("mon_b"))
    frame, chain = audit_trail(world.db, admin, user="minh")
    assert chain.ok and len(frame) == 1


def test_pending_change_requests_and_pickers(world):
    import pytest

    from core.kernel.errors import PermissionDenied
    from core.school.queries import schools_in_scope, staff_list
    from core.timetable.queries import pending_change_requests
    from core.timetable.services import request_change
    saturday = dt.datetime.combine(dt.date.today() + dt.timedelta(days=(5 - dt.date.today().weekday()) % 7 or 7),
                                   dt.time(9))
    request_change(world.db, world.actor("lan"), world.ids["A"],
                   [{"class_id": world.ids["6A1"], "weekday": 1, "period_no": 1, "remove": True}],
                   reason="Họp chuyên môn", at=saturday)
    pending = pending_change_requests(world.db, world.actor("binh"))
    assert len(pending) == 1 and pending.iloc[0]["changes"] == "6A1 Thứ Hai tiết 1: bỏ tiết"
    assert pending_change_requests(world.db, world.actor("dung")).empty       # another school's principal
    with pytest.raises(PermissionDenied):
        pending_change_requests(world.db, world.actor("so"))                  # supervisors do not decide
    assert list(schools_in_scope(world.db, world.actor("mon_b"))["school_code"]) == ["B01"]
    assert set(staff_list(world.db, world.actor("binh"), world.ids["A"])["code"]) >= {"A01-GV01", "A01-HT"}
    with pytest.raises(PermissionDenied):
        staff_list(world.db, world.actor("mon_b"), world.ids["A"])


def test_transcript_list_and_classes_scoped_filtered_and_counted(db, tmp_path):
    import pytest

    from core.access.authz import actor_by_username
    from core.demo.gradebook import generate_transcripts
    from core.demo.synthetic import Scale, generate
    from core.kernel.errors import PermissionDenied
    from core.kernel.vocabulary import TranscriptStatus
    from core.transcripts.queries import transcript_classes, transcript_list
    generate(db, Scale(districts=1, schools_per_district=2, classes_per_school=1, weeks=0, students_per_class=4,
                       seed=5), pki_dir=tmp_path / "pki", progress=False)
    generate_transcripts(db, pki_dir=tmp_path / "pki", classes_per_school=1, stages=("issued", "homeroom_signed"),
                         renew_certificates=True)
    with db.reading() as s:
        so, head1 = (actor_by_username(s, u) for u in ("so.giamsat", "ht.s0001"))
    first = sorted(head1.school_ids)[0]
    everything = transcript_list(db, so, page_size=100)
    assert len(everything) == 8 and set(everything["status"]) == {"Đã cấp", "GVCN đã ký"}
    issued = transcript_list(db, so, status=TranscriptStatus.ISSUED)
    assert len(issued) == 4 and set(issued["school_name"]) == set(transcript_list(db, head1)["school_name"])
    code, student = issued.iloc[0]["code"], issued.iloc[0]["student"]
    assert list(transcript_list(db, so, search=code.lower())["code"]) == [code]      # the code, any case
    assert student in set(transcript_list(db, so, search=student.split()[-1])["student"])
    assert transcript_list(db, head1, status=TranscriptStatus.HOMEROOM_SIGNED).empty  # the other school's
    assert len(transcript_list(db, so, page_size=3, page=2)) == 2
    classes = transcript_classes(db, so, first)
    assert classes[["drafts", "homeroom_signed", "issued"]].sum().tolist() == [0, 0, 4]
    other = next(iter(set(so.school_ids) - {first}))
    assert transcript_classes(db, so, other)[["homeroom_signed", "issued"]].sum().tolist() == [4, 0]
    with pytest.raises(PermissionDenied):
        transcript_classes(db, head1, other)


def test_weeks_monitors_and_certificate_filters(world):
    import pytest

    from core.access.admin import assign_monitor
    from core.access.queries import monitor_assignments
    from core.kernel.errors import PermissionDenied
    from core.logbook.queries import weeks_in_scope
    generate_week(world.db, SYSTEM, world.ids["A"], world.ids["week2"])
    assert list(weeks_in_scope(world.db, world.actor("mon_a"))["week_id"]) == [world.ids["week2"]]
    assert weeks_in_scope(world.db, world.actor("mon_b")).empty
    assign_monitor(world.db, world.actor("q1"), world.ids["user:mon_b"], world.ids["A"])
    mine = monitor_assignments(world.db, world.actor("q1"))
    assert set(zip(mine["username"], mine["school_code"])) == {("mon_a", "A01"), ("mon_b", "A01")}
    with pytest.raises(PermissionDenied):
        monitor_assignments(world.db, world.actor("mon_a"))
    certs = certificate_list(world.db, world.actor("so"), school_id=world.ids["B"], page_size=100)
    assert set(certs["school_name"]) == {"THCS Colette"} and len(certs) == 2
    assert certificate_list(world.db, world.actor("mon_a"), school_id=world.ids["B"]).empty  # not theirs
    from core.signatures.certificates import revoke_certificate
    revoke_certificate(world.db, world.actor("so"), int(certs.iloc[0]["id"]), "Mất thiết bị")
    active = certificate_list(world.db, world.actor("so"), school_id=world.ids["B"], active_only=True)
    assert len(active) == 1 and int(certs.iloc[0]["id"]) not in set(active["id"])
