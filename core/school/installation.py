"""A real installation (cài đặt): the department, its school year and the first administrator
(``sohoa setup``), then the accounts of the people who sign in (``sohoa account``), each
handed a one-time password printed once.

A one-time password is a random secret stored only as its scrypt hash, like any password
(:mod:`core.access.accounts`); the person signs in with it and sets their own
(``sohoa password`` or the console). The department's real templates are imported next
(``docs/import-templates.md``); ``docs/operations.md`` walks the whole path.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from core.access import audit
from core.access.accounts import MIN_PASSWORD, hash_password
from core.access.authz import SYSTEM, Actor
from core.kernel.errors import Conflict, MalformedInput, NotFound, PermissionDenied
from core.kernel.vocabulary import Role, StaffRole
from core.school.rules.personal_id import PROVINCE_CODES
from core.storage.db import Database
from core.storage.models import (
    Department,
    District,
    School,
    SchoolWeek,
    SchoolYear,
    Staff,
    StaffAssignment,
    UserAccount,
)
from core.timetable.rules.calendar import teaching_weeks

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
YEAR_NAME = re.compile(r"^(\d{4})-(\d{4})$")


@dataclass(frozen=True)
class Installation:
    department_id: int
    school_year_id: int
    weeks: int
    admin_username: str
    #: the administrator's one-time password when none was typed: shown once, never stored
    one_time_password: str | None


@dataclass(frozen=True)
class NewAccount:
    username: str
    display_name: str
    role: str
    school_code: str | None
    #: shown once (a credentials sheet handed to the person), stored only as a hash
    one_time_password: str


def one_time_password() -> str:
    """20 random characters (about 119 bits), easy to read aloud: no 0/O, 1/l/I."""
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise MalformedInput(f"a password needs at least {MIN_PASSWORD} characters",
                             message_vi=f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự")


def _check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise MalformedInput(f"username {username!r}: 2 to 64 lower-case letters, digits, '.', '_' or '-'",
                             message_vi=f"Tên đăng nhập {username!r}: 2–64 chữ thường, chữ số, '.', '_' hoặc '-'")


def set_up(db: Database, *, department_code: str, department_name: str, province_code: str, school_year: str,
           first_monday: dt.date, breaks: frozenset[dt.date] = frozenset(), end_date: dt.date | None = None,
           admin_username: str = "admin", admin_name: str = "Quản trị hệ thống",
           admin_password: str | None = None) -> Installation:
    """Create the department (Sở GD&ĐT), its school year with the 35 teaching weeks
    (:func:`core.timetable.rules.calendar.teaching_weeks`, ``breaks``: whole-week breaks such
    as Tết) and the first administrator, in one transaction, audited. Without
    ``admin_password`` a one-time password is made and returned once. Refused when the
    database already has an administrator (set-up runs once; later accounts are
    :func:`add_account`)."""
    province_code = province_code.strip()
    if province_code not in PROVINCE_CODES:
        raise MalformedInput(f"unknown province code {province_code!r} (3 digits, e.g. 079)",
                             message_vi=f"Mã tỉnh/thành {province_code!r} không đúng (3 chữ số, ví dụ 079)")
    if not department_code.strip() or len(department_code) > 16 or not department_name.strip():
        raise MalformedInput("a department needs a code (at most 16 characters) and a name",
                             message_vi="Sở cần có mã (tối đa 16 ký tự) và tên")
    years = YEAR_NAME.match(school_year)
    if not years or int(years[2]) != int(years[1]) + 1 or first_monday.year != int(years[1]):
        raise MalformedInput(f"school year {school_year!r}: YYYY-YYYY starting in the first year "
                             f"(first Monday {first_monday})",
                             message_vi=f"Năm học {school_year!r}: dạng YYYY-YYYY, bắt đầu trong năm đầu")
    if first_monday.weekday() != 0:
        raise MalformedInput(f"{first_monday} is not a Monday: a school year starts on a Monday",
                             message_vi=f"{first_monday:%d/%m/%Y} không phải thứ Hai: năm học bắt đầu vào thứ Hai")
    _check_username(admin_username)
    secret = admin_password if admin_password is not None else one_time_password()
    _check_password(secret)
    weeks = teaching_weeks(first_monday, breaks=frozenset(breaks))
    end = end_date or weeks[-1].sunday
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(UserAccount)
                          .where(UserAccount.role == Role.ADMINISTRATOR)):
            raise Conflict("this installation is already set up (an administrator exists): add accounts with "
                           "`sohoa account add`",
                           message_vi="Hệ thống đã được cài đặt (đã có quản trị viên): thêm tài khoản bằng "
                                      "`sohoa account add`")
        if session.scalar(select(UserAccount.id).where(UserAccount.username == admin_username)):
            raise Conflict(f"user {admin_username!r} already exists", message_vi=f"Đã có người dùng {admin_username!r}")
        department = session.scalar(select(Department).where(Department.code == department_code))
        if department is None:
            department = Department(code=department_code.strip(), name=department_name.strip(),
                                    province_code=province_code)
            session.add(department)
            session.flush()
        year = SchoolYear(department_id=department.id, name=school_year, start_date=first_monday, end_date=end)
        session.add(year)
        session.flush()
        session.add_all([SchoolWeek(school_year_id=year.id, number=w.number, term=w.term, monday=w.monday)
                         for w in weeks])
        admin = UserAccount(username=admin_username, display_name=admin_name, role=Role.ADMINISTRATOR,
                            password_hash=hash_password(secret), active=True)
        session.add(admin)
        session.flush()
        audit.record(session, SYSTEM, "installation.setup", "department", department.id,
                     after={"department": department.code, "school_year": school_year, "weeks": len(weeks),
                            "administrator": admin_username, "one_time_password": admin_password is None})
        return Installation(department.id, year.id, len(weeks), admin_username,
                            None if admin_password is not None else secret)


def _require_administrator(actor: Actor) -> None:
    if actor is not SYSTEM and actor.role != Role.ADMINISTRATOR:
        raise PermissionDenied("only an administrator creates accounts",
                               message_vi="Chỉ quản trị viên được tạo tài khoản")


#: the account role of a staff member, by the roles they hold at their school (strongest first)
STAFF_ACCOUNT_ROLES = ((StaffRole.PRINCIPAL, Role.PRINCIPAL), (StaffRole.VICE_PRINCIPAL, Role.VICE_PRINCIPAL),
                       (StaffRole.CLERK, Role.CLERK), (StaffRole.HOMEROOM_TEACHER, Role.TEACHER),
                       (StaffRole.TEACHER, Role.TEACHER))
#: roles given to a person who is not on a school's staff, and what each needs
SCOPED_ROLES = {Role.DEPARTMENT_SUPERVISOR: "department", Role.ANALYST: "department",
                Role.DISTRICT_SUPERVISOR: "district", Role.SCHOOL_MONITOR: None, Role.ADMINISTRATOR: None}


def add_account(db: Database, actor: Actor, username: str, display_name: str, role: Role | str, *,
                district_code: str | None = None, password: str | None = None) -> NewAccount:
    """An account for someone who is not on a school's staff: a department or district
    supervisor, an analyst, a school monitor (assigned to schools afterwards, console "Quản trị"),
    another administrator. Returns the one-time password (when ``password`` is None)."""
    _require_administrator(actor)
    role = Role(role)
    if role not in SCOPED_ROLES:
        raise MalformedInput(f"{role.value} accounts are made from the staff import (`sohoa account staff`)",
                             message_vi="Tài khoản của cán bộ trường được tạo từ danh sách cán bộ "
                                        "(`sohoa account staff`)")
    _check_username(username)
    secret = password if password is not None else one_time_password()
    _check_password(secret)
    with db.transaction() as session:
        if session.scalar(select(UserAccount.id).where(UserAccount.username == username)):
            raise Conflict(f"user {username!r} already exists", message_vi=f"Đã có người dùng {username!r}")
        departments = list(session.scalars(select(Department.id)))
        department_id = district_id = None
        if SCOPED_ROLES[role] in ("department", "district"):
            if len(departments) != 1:
                raise NotFound("run `sohoa setup` first: no department", message_vi="Chưa có Sở: hãy chạy `sohoa setup`")
            department_id = departments[0]
        if SCOPED_ROLES[role] == "district":
            district_id = session.scalar(select(District.id).where(District.code == (district_code or "")))
            if district_id is None:
                raise NotFound(f"no district {district_code!r} (districts come with the schools import)",
                               message_vi=f"Không có phòng/cụm {district_code!r} (được tạo khi nhập danh sách trường)")
        user = UserAccount(username=username, display_name=display_name.strip() or username, role=role,
                           department_id=department_id, district_id=district_id,
                           password_hash=hash_password(secret), active=True)
        session.add(user)
        session.flush()
        audit.record(session, actor, "account.create", "user_account", user.id,
                     after={"username": username, "role": role.value, "district": district_code})
        return NewAccount(username, user.display_name, role.value, None, secret)


def staff_accounts(db: Database, actor: Actor, *, school_code: str | None = None) -> list[NewAccount]:
    """An account for every member of staff (of ``school_code``, or of every school) who has
    none yet: the username is their staff code in lower case, the role the strongest they
    hold at their school today (principal, vice principal, clerk, else teacher), each with a
    one-time password returned once (the credentials sheets). Idempotent: who has an account
    keeps it, untouched."""
    _require_administrator(actor)
    today = dt.date.today()
    with db.transaction() as session:
        query = (select(Staff, School.code).join(School, School.id == Staff.school_id)
                 .outerjoin(UserAccount, UserAccount.staff_id == Staff.id)
                 .where(UserAccount.id.is_(None)).order_by(School.code, Staff.code))
        if school_code is not None:
            if session.scalar(select(School.id).where(School.code == school_code)) is None:
                raise NotFound(f"no school {school_code!r}", message_vi=f"Không có trường {school_code!r}")
            query = query.where(School.code == school_code)
        people = session.execute(query).all()
        held: dict[int, set[StaffRole]] = {}
        for staff_id, role in session.execute(
                select(StaffAssignment.staff_id, StaffAssignment.role)
                .where(StaffAssignment.staff_id.in_([s.id for s, _ in people] or [-1]),
                       (StaffAssignment.valid_to.is_(None)) | (StaffAssignment.valid_to >= today))):
            held.setdefault(staff_id, set()).add(StaffRole(role))
        taken = set(session.scalars(select(UserAccount.username)))
        made: list[NewAccount] = []
        for staff, code in people:
            username = staff.code.lower()
            if username in taken or not USERNAME.match(username):
                raise Conflict(f"staff {staff.code}: the username {username!r} is taken or not usable",
                               message_vi=f"Cán bộ {staff.code}: tên đăng nhập {username!r} đã có hoặc không hợp lệ")
            role = next((account for staff_role, account in STAFF_ACCOUNT_ROLES
                         if staff_role in held.get(staff.id, set())), Role.TEACHER)
            secret = one_time_password()
            user = UserAccount(username=username, display_name=staff.full_name, role=role, school_id=staff.school_id,
                               staff_id=staff.id, password_hash=hash_password(secret), active=True)
            session.add(user)
            made.append(NewAccount(username, staff.full_name, role.value, code, secret))
        session.flush()
        if made:
            audit.record(session, actor, "account.create_staff", "school", None,
                         after={"school": school_code, "accounts": len(made)})
        return made
