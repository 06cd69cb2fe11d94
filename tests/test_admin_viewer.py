"""The admin page as a Panel component (dashboards.admin.AdminPage) tested without a browser, on
the hand-made world of tests/world.py: which cards each role gets, the items a card offers, an
action run as its button runs it and the result it shows — locking an account (khóa tài khoản)
first, whose authorization and audit stay in core — and the one background-worker helper the
package cards and batch signing share."""
import panel as pn
import pytest
from sqlalchemy import select

from core.access import accounts
from core.access import queries as access_queries
from core.kernel.errors import NotFound, PermissionDenied, RuleViolation
from core.storage.models import UserAccount
from dashboards.admin import AdminPage, in_background

LOCK = "deactivate_account"


def _active(db, username: str) -> bool:
    with db.reading() as s:
        return s.scalar(select(UserAccount.active).where(UserAccount.username == username))


def test_each_role_gets_the_cards_core_lets_it_use(world):
    offered = {name: AdminPage(world.db, world.actor(name)).offered()
               for name in ("admin", "so", "q1", "mon_a", "binh", "lan")}
    assert LOCK in offered["admin"]
    assert all(LOCK not in keys for name, keys in offered.items() if name != "admin")
    assert offered["binh"] == ["reopen_week", "remind", "timetable_change", "handover", "batch_sign",
                               "give_delegation", "revoke_delegation", "export_package", "import_package",
                               "cancel_transcript"]
    assert offered["q1"] == ["reopen_week", "remind", "assign_monitor", "unassign_monitor"]
    assert offered["mon_a"] == ["remind"]
    assert offered["lan"] == []
    page = AdminPage(world.db, world.actor("admin"))
    assert list(page.cards) == offered["admin"]  # what is offered is what is built, in order
    assert isinstance(page.__panel__(), pn.Column)
    empty = AdminPage(world.db, world.actor("lan")).__panel__()
    assert "không có thao tác quản trị nào" in empty.objects[1].object


def test_an_administrator_locks_an_account_and_its_sessions_end(world):
    db = world.db
    tokens = accounts.open_sessions(db, ["lan"], authenticated_by="test", kind=accounts.API)
    console = accounts.open_sessions(db, ["lan"], authenticated_by="test", kind=accounts.CONSOLE)
    assert accounts.actor_for_token(db, tokens["lan"], kind=accounts.API).username == "lan"
    page = AdminPage(db, world.actor("admin"))
    inputs = page.inputs(LOCK)
    pick = inputs["Tài khoản đang hoạt động"]
    assert "admin" not in pick.options.values()  # one's own account is not offered (core refuses it too)
    inputs["Tìm theo tên đăng nhập hoặc họ tên"].value = "lan"
    assert [v for v in pick.options.values() if v] == ["lan"]
    assert pick.value is None  # a search never chooses for the user ("— chọn —")
    assert page.act(LOCK)["kind"] == "warning" and "chưa chọn tài khoản" in page.results[LOCK]["text"]
    pick.value = "lan"
    assert page.act(LOCK)["kind"] == "warning"  # no reason: stopped before core
    assert _active(db, "lan") and "cần nhập lý do" in page.results[LOCK]["text"]
    inputs["Lý do khóa tài khoản (bắt buộc)"].value = "Chuyển công tác"
    result = page.act(LOCK)
    assert result["kind"] == "success" and "đã khóa tài khoản lan" in result["text"]
    assert not _active(db, "lan")
    for token, kind in ((tokens["lan"], accounts.API), (console["lan"], accounts.CONSOLE)):
        with pytest.raises(PermissionDenied):
            accounts.actor_for_token(db, token, kind=kind)
    assert "lan" not in pick.options.values()  # locked: off the list
    trail, _ = access_queries.audit_trail(db, world.actor("admin"), action="account.deactivate")
    assert trail["reason"].tolist() == ["Chuyển công tác"] and trail["actor_name"].tolist() == ["admin"]
    # the teacher's school sees it on its audit page; the other school does not
    assert len(access_queries.audit_trail(db, world.actor("binh"), action="account.deactivate")[0]) == 1
    assert access_queries.audit_trail(db, world.actor("dung"), action="account.deactivate")[0].empty


def test_only_an_administrator_locks_an_account_in_any_school(world):
    db = world.db
    for name in ("binh", "dung", "mon_a", "so", "q1"):  # lan's own principal and monitor too
        with pytest.raises(PermissionDenied):
            accounts.deactivate(db, world.actor(name), "lan", "Thử khóa")
        with pytest.raises(PermissionDenied):
            access_queries.account_list(db, world.actor(name))
    assert _active(db, "lan")
    with pytest.raises(RuleViolation):
        accounts.deactivate(db, world.actor("admin"), "admin", "Khóa chính mình")
    with pytest.raises(RuleViolation):
        accounts.deactivate(db, world.actor("admin"), "minh", "   ")
    with pytest.raises(NotFound):
        accounts.deactivate(db, world.actor("admin"), "khong-co-ai", "Nghỉ việc")
    accounts.deactivate(db, world.actor("admin"), "minh", "Nghỉ việc")
    with pytest.raises(RuleViolation):  # already locked: not locked (nor audited) twice
        accounts.deactivate(db, world.actor("admin"), "minh", "Nghỉ việc")
    assert _active(db, "admin") and not _active(db, "minh")
    listed = access_queries.account_list(db, world.actor("admin"), search="MIN")
    assert "minh" not in listed["username"].tolist()
    assert access_queries.account_list(db, world.actor("admin"), search="minh", active=False)["username"].tolist() \
        == ["minh"]


def test_a_refusal_inside_core_is_the_cards_result(world):
    page = AdminPage(world.db, world.actor("admin"))
    inputs = page.inputs(LOCK)
    inputs["Tìm theo tên đăng nhập hoặc họ tên"].value = "ha"
    inputs["Tài khoản đang hoạt động"].value = "ha"
    inputs["Lý do khóa tài khoản (bắt buộc)"].value = "Nghỉ hưu"
    accounts.deactivate(world.db, world.actor("admin"), "ha", "Nghỉ hưu")  # someone else was quicker
    result = page.act(LOCK)
    assert result["kind"] == "danger" and "đã bị vô hiệu hóa từ trước" in result["text"]


def test_a_package_that_is_not_one_is_refused_by_the_background_worker(world, trust):
    page = AdminPage(world.db, world.actor("binh"), trust=trust)
    card = page.cards["import_package"]
    card.select(pn.widgets.FileInput)[0].value = b"not a zip file"
    result = page.act("import_package")
    assert not page.workers["package-import"].is_alive()
    assert result["kind"] == "danger" and result["text"].startswith("Không nhập: ")


def test_the_background_helper_reports_refusals_and_failures():
    from core.kernel.errors import RuleViolation as Refused

    said = []

    def refused():
        raise Refused("refused", message_vi="Bị từ chối <b>")

    def broken():
        raise RuntimeError("boom")

    for work in (refused, broken, lambda: said.append("done")):
        in_background("test-worker", work, said.append).join(10)
    assert said == ["Bị từ chối &lt;b&gt;", "lỗi hệ thống (đã ghi nhật ký máy chủ)", "done"]
