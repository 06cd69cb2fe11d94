"""The console's pages as Panel components (dashboards/compliance.py, missed_lessons.py,
issuance.py, closing.py, certificates.py, audit.py, teacher.py), tested without a browser on the
worked week of tests/services/test_compliance.py: each page is built for an actor, its parameters
(the user's choices) are changed, and its data follow core's answer for the same choices; a
school monitor's page holds no other school's rows, whatever school id is sent; a role the page
is not for is refused by core. The flows in Chromium stay in tests/browser/."""
import datetime as dt

import pandas as pd
import panel as pn
import pytest
from pandas.testing import assert_frame_equal

from core.access import queries as access_queries
from core.access.authz import SYSTEM
from core.kernel import clock
from core.kernel.errors import NotFound, PermissionDenied, SohoaError
from core.logbook import exports, queries, this_week, verification
from core.logbook.compliance import compliance
from core.signatures import certificates
from core.transcripts import figures as transcript_figures
from dashboards import app
from dashboards.audit import AuditTrail
from dashboards.certificates import Certificates
from dashboards.closing import Closing
from dashboards.common import audit_action_vi
from dashboards.compliance import Compliance
from dashboards.issuance import Issuance
from dashboards.missed_lessons import MissedLessons
from dashboards.teacher import NOT_FOR_YOU, TeacherWeek
from tests.services.test_compliance import TUESDAY, signed  # noqa: F401 - the fixture
from tests.world import MONDAY


def same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True), check_dtype=False)


def names(w, *schools: str) -> set[str]:
    from sqlalchemy import select

    from core.storage.models import School
    with w.db.reading() as s:
        return set(s.scalars(select(School.name).where(School.id.in_([w.ids[k] for k in schools]))))


@pytest.mark.parametrize("view", [Compliance, MissedLessons, Issuance, Closing, Certificates, AuditTrail])
def test_a_role_the_page_is_not_for_is_refused_by_core(signed, view):  # noqa: F811
    with pytest.raises(PermissionDenied):
        view(signed.db, signed.actor("lan"))  # a teacher: their own week only


def test_the_audit_trail_is_refused_to_the_analyst(signed):  # noqa: F811
    with pytest.raises(PermissionDenied):
        AuditTrail(signed.db, signed.actor("analyst"))
    assert not Compliance(signed.db, signed.actor("analyst")).rows().empty  # the figures are theirs


def test_every_console_page_is_routed_to_its_component():
    assert {path: view.__name__ for path, (_, view) in app.VIEWS.items()} == {
        "me": "TeacherWeek", "compliance": "Compliance", "missed": "MissedLessons", "transcripts": "Issuance",
        "closing": "Closing", "certificates": "Certificates", "audit": "AuditTrail"}


def test_compliance_follows_the_school_the_level_the_week_and_the_bucket(signed, trust):  # noqa: F811
    w, so = signed, signed.actor("so")
    view = Compliance(w.db, so, trust=trust)
    same(view.rows(), compliance(w.db, so, "school"))
    view.param.update(school=w.ids["A"], level="teacher")
    teachers = view.rows()
    same(teachers, compliance(w.db, so, "teacher", school_id=w.ids["A"]))
    assert set(teachers["school_name"]) == names(w, "A") and len(teachers) == 3
    same(view.heatmap_rows(), queries.signing_heatmap(w.db, so, school_id=w.ids["A"]))
    same(view.late_rows(), queries.late_signing_distribution(w.db, so, school_id=w.ids["A"], bucket_minutes=5))
    view.param.update(bucket=1, week=w.ids["week1"])
    late = view.late_rows()
    same(late, queries.late_signing_distribution(w.db, so, school_id=w.ids["A"], week_id=w.ids["week1"],
                                                 bucket_minutes=1))
    assert int(late["entries"].sum()) == 2  # Lan's and Hà's late periods
    # the drill-down: the school's class-weeks, one class-week's periods, one period's verification
    assert {c for c, _ in view.class_weeks().values()} == {w.ids["6A1"], w.ids["6A2"]}
    view.class_week = (w.ids["6A1"], w.ids["week1"])
    same(view.entries(), queries.class_week_entries(w.db, so, w.ids["6A1"], w.ids["week1"]))
    view.entry = w.entry("6A1", MONDAY, 1)
    expected = verification.verify(w.db, so, trust, entry_id=view.entry)
    ours = view.verification()
    assert (ours.indication, [s.role for s in ours.signatures]) == \
        (expected.indication, [s.role for s in expected.signatures]) and ours.signatures


def test_the_compliance_layout_offers_the_chosen_schools_class_weeks(signed, trust):  # noqa: F811
    w = signed
    view = Compliance(w.db, w.actor("so"), trust=trust)
    assert isinstance(view.__panel__(), pn.Column)
    assert view.class_week in view.class_weeks().values()
    view.school = w.ids["B"]
    offered = view._class_week_picker.options
    assert {v[0] for v in offered.values() if v} == {w.ids["6B1"]} and view.class_week[0] == w.ids["6B1"]


def test_a_monitors_compliance_page_has_only_their_school(signed, trust):  # noqa: F811
    w, mon_a = signed, signed.actor("mon_a")
    view = Compliance(w.db, mon_a, trust=trust)
    assert view.schools["school_id"].tolist() == [w.ids["A"]]
    for level in ("school", "class", "teacher"):
        view.level = level
        assert set(view.rows()["school_name"]) == names(w, "A")
    view.school = w.ids["B"]  # another school's id, as a forged widget value would send it
    assert view.rows().empty and view.heatmap_rows().empty and view.late_rows().empty
    assert view.class_weeks() == {}
    view.class_week = (w.ids["6B1"], w.ids["week1"])
    assert view.entries().empty
    view.entry = w.entry("6B1", MONDAY, 1)
    with pytest.raises(SohoaError):
        view.verification()


def test_missed_lessons_follow_the_school_the_late_choice_and_the_page(signed):  # noqa: F811
    w, so = signed, signed.actor("so")
    view = MissedLessons(w.db, so)
    everything = view.rows()
    same(everything, queries.missed_lessons(w.db, so))
    assert set(everything["status"]) == {"Không ký", "Ký trễ"}
    view.include_late = False
    same(view.rows(), queries.missed_lessons(w.db, so, include_late=False))
    assert set(view.rows()["status"]) == {"Không ký"} and len(view.rows()) < len(everything)
    view.school = w.ids["B"]
    same(view.rows(), queries.missed_lessons(w.db, so, school_id=w.ids["B"], include_late=False))
    assert set(view.rows()["school_name"]) == names(w, "B")
    view.page = 1
    same(view.rows(), queries.missed_lessons(w.db, so, school_id=w.ids["B"], include_late=False, page=1))
    view.param.update(school=0, include_late=True, page=0)
    lines = view.file("csv").decode("utf-8-sig").splitlines()
    assert lines[0].split(",") == exports.HEADERS and len(lines) - 1 == len(everything)
    assert isinstance(view.__panel__(), pn.Column)


def test_a_monitors_missed_lessons_are_their_schools_only(signed):  # noqa: F811
    w = signed
    view = MissedLessons(w.db, w.actor("mon_b"))
    assert set(view.rows()["school_name"]) == names(w, "B")
    view.school = w.ids["A"]
    assert view.rows().empty
    lines = view.file("csv").decode("utf-8-sig").splitlines()
    assert len(lines) == 1  # the headers only


@pytest.fixture
def drafted(world):
    """School A's 6A1 with its results confirmed and its transcripts drafted (waiting on the
    homeroom teacher's signature); 6A2's not started."""
    from core.transcripts.workflow import prepare_transcripts
    from tests.services.test_transcripts import confirm_all, enter_all, with_seal

    w = with_seal(world)
    enter_all(w)
    confirm_all(w)
    prepare_transcripts(w.db, w.actor("lan"), w.ids["6A1"], w.ids["year"])
    return w


def test_issuance_follows_the_school_and_the_page(drafted):
    w, so = drafted, drafted.actor("so")
    view = Issuance(w.db, so)
    grades = view.grades()
    same(grades, transcript_figures.issuance_figures(w.db, so, "grade"))
    assert grades.set_index("school_code").loc["A01", "drafts"] == 2
    rows, total = view.blocking()
    expected, expected_total = transcript_figures.blocking_steps(w.db, so, page_size=20)
    same(rows, expected)
    assert total == expected_total and not rows.empty
    view.school = w.ids["B"]
    rows, total = view.blocking()
    expected, expected_total = transcript_figures.blocking_steps(w.db, so, school_id=w.ids["B"], page_size=20)
    same(rows, expected)
    assert total == expected_total and "A01" not in set(rows["school_code"])
    view.param.update(school=w.ids["A"], page=1)
    same(view.blocking()[0], transcript_figures.blocking_steps(w.db, so, school_id=w.ids["A"], page=1,
                                                               page_size=20)[0])
    assert isinstance(view.__panel__(), pn.Column)


def test_a_monitors_issuance_page_has_only_their_school(drafted):
    w = drafted
    view = Issuance(w.db, w.actor("mon_a"))
    assert set(view.grades()["school_code"]) == {"A01"}
    assert set(view.blocking()[0]["school_code"]) == {"A01"}
    assert Issuance(w.db, w.actor("mon_b")).grades().empty and Issuance(w.db, w.actor("mon_b")).blocking()[1] == 0
    view.school = w.ids["B"]  # another school's id, as a forged widget value would send it
    with pytest.raises(NotFound):
        view.blocking()


def test_closing_follows_the_school_and_the_page(signed):  # noqa: F811
    w, so = signed, signed.actor("so")
    view = Closing(w.db, so)
    same(view.counts(), queries.week_closing_counts(w.db, so))
    same(view.rows(), queries.week_closing(w.db, so, page_size=50))
    view.school = w.ids["A"]
    counts = view.counts()
    same(counts, queries.week_closing_counts(w.db, so, school_id=w.ids["A"]))
    assert int(counts["class_weeks"].sum()) < int(queries.week_closing_counts(w.db, so)["class_weeks"].sum())
    same(view.rows(), queries.week_closing(w.db, so, school_id=w.ids["A"], page_size=50))
    assert set(view.rows()["school_name"]) == names(w, "A")
    view.page = 1
    same(view.rows(), queries.week_closing(w.db, so, school_id=w.ids["A"], page=1, page_size=50))
    assert view.pages() == 1
    assert isinstance(view.__panel__(), pn.Column)


def test_a_monitors_closing_page_has_only_their_school(signed):  # noqa: F811
    w = signed
    view = Closing(w.db, w.actor("mon_b"))
    assert set(view.rows()["school_name"]) == names(w, "B")
    view.school = w.ids["A"]
    assert view.rows().empty and int(view.counts()["class_weeks"].sum()) == 0


@pytest.fixture
def expiring(signed):  # noqa: F811
    """Two more certificates: Khoa's (school B) expiring in 10 days, Hà's (school A) in 60."""
    w, now = signed, clock.now()
    for staff, days in (("khoa", 10), ("ha", 60)):
        cred = w.pki.issue_personal(f"staff-{w.ids[staff]}-renewal", staff, not_before=now - dt.timedelta(days=1),
                                    not_after=now + dt.timedelta(days=days), key_file=False)
        certificates.register_certificate(w.db, SYSTEM, cred.cert_der, staff_id=w.ids[staff])
    return w


def test_certificates_follow_the_school_and_the_horizon(expiring):
    w, so = expiring, expiring.actor("so")
    view = Certificates(w.db, so)
    same(view.coverage(), certificates.coverage(w.db, so, "school"))
    soon = view.expiring()
    same(soon, certificates.certificate_list(w.db, so, expiring_within_days=30))
    assert set(soon["school_name"]) == names(w, "B")
    view.within_days = 90
    same(view.expiring(), certificates.certificate_list(w.db, so, expiring_within_days=90))
    assert set(view.expiring()["school_name"]) == names(w, "A", "B")
    view.school = w.ids["A"]
    same(view.expiring(), certificates.certificate_list(w.db, so, expiring_within_days=90, school_id=w.ids["A"]))
    assert set(view.expiring()["school_name"]) == names(w, "A")
    assert isinstance(view.__panel__(), pn.Column)


def test_a_monitors_certificates_page_has_only_their_school(expiring):
    w = expiring
    view = Certificates(w.db, w.actor("mon_a"), within_days=90)
    assert set(view.coverage()["school_name"]) == names(w, "A")
    assert set(view.expiring()["school_name"]) == names(w, "A")
    view.school = w.ids["B"]
    assert view.expiring().empty


def _trail(w, actor, **filters) -> pd.DataFrame:
    trail = access_queries.audit_trail(w.db, actor, page_size=25, check_chain=False, **filters)[0]
    return trail.assign(meaning=trail["action"].map(audit_action_vi))


def test_the_audit_trail_follows_its_filters(signed):  # noqa: F811
    w, admin = signed, signed.actor("admin")
    view = AuditTrail(w.db, admin)
    assert view.chain().ok and "hợp lệ" in view.status()
    same(view.rows(), _trail(w, admin))
    view.action = "entry.sign"
    signs = view.rows()
    same(signs, _trail(w, admin, action="entry.sign"))
    assert set(signs["action"]) == {"entry.sign"} and not signs.empty
    view.user = "lan"
    same(view.rows(), _trail(w, admin, action="entry.sign", user="lan"))
    assert set(view.rows()["actor_name"]) == {"lan"}
    view.param.update(user="", school=w.ids["A"])
    same(view.rows(), _trail(w, admin, action="entry.sign", school_id=w.ids["A"]))
    today = clock.now().date()
    view.date_from = today + dt.timedelta(days=1)
    assert view.rows().empty
    view.param.update(date_from=today, date_to=today)
    same(view.rows(), _trail(w, admin, action="entry.sign", school_id=w.ids["A"], date_from=today, date_to=today))
    view.page = 1
    same(view.rows(), _trail(w, admin, action="entry.sign", school_id=w.ids["A"], date_from=today, date_to=today,
                             page=1))
    assert isinstance(view.__panel__(), pn.Column)


def test_a_monitors_audit_trail_has_only_their_school(signed):  # noqa: F811
    w = signed
    view = AuditTrail(w.db, w.actor("mon_a"))
    assert view.chain() is None and "dành cho cấp Sở" in view.status()
    rows = view.rows()
    assert not rows.empty and set(rows["school_id"]) == {w.ids["A"]}
    view.school = w.ids["B"]
    assert view.rows().empty


def test_a_teachers_week_follows_the_moment_it_is_seen_from(signed):  # noqa: F811
    w, lan = signed, signed.actor("lan")
    view = TeacherWeek(w.db, lan, as_of=dt.datetime.combine(TUESDAY, dt.time(12)))
    periods, hours = view.week()
    expected, expected_hours = this_week.my_week(w.db, lan, as_of=dt.datetime.combine(TUESDAY, dt.time(12)))
    same(periods, expected)
    assert hours == expected_hours and periods.attrs["monday"] == MONDAY
    # Monday's 6A2 period signed late; Tuesday's 6A2 period unsigned past its window (still signable today)
    assert set(view.behind(periods)["status"]) == {"late", "overdue"}
    view.as_of = dt.datetime.combine(MONDAY + dt.timedelta(days=6), dt.time(12))
    periods, hours = view.week()
    same(periods, this_week.my_week(w.db, lan, as_of=view.as_of)[0])
    assert set(view.behind(periods)["status"]) == {"late", "missed"}
    assert set(periods["class_name"]) <= {"6A1", "6A2"} and len(periods) == 4  # her own periods only
    layout = view.__panel__()
    assert {"my-hours", "my-behind", "my-week"} <= {p.name for p in layout.select(pn.pane.HTML)}


def test_an_account_without_a_week_of_its_own_is_told_the_console_is_not_for_it(signed):  # noqa: F811
    view = TeacherWeek(signed.db, signed.actor("so"))
    with pytest.raises(PermissionDenied):
        view.week()
    body = view.__panel__()
    (alert,) = [p for p in body.select(pn.pane.Alert)]
    assert NOT_FOR_YOU in alert.object and "Chỉ giáo viên" in alert.object
