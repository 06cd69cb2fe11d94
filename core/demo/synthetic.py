"""Synthetic data (dữ liệu mô phỏng): a deterministic, realistic department for the demo,
the tests and the benchmarks.

Everything follows from ``Scale.seed`` (a :class:`random.Random` per school seeded from it,
never the global one, so schools can be built in parallel worker processes):
the organisation (Sở GD&ĐT TP. Hồ Chí Minh, districts, primary / lower / upper secondary
schools, a few private), the school year 2025-2026 with its Tết break and public holidays,
bell schedules, the 2018 curriculum (:mod:`core.school.rules.curriculum`), staff, classes,
students with valid personal identification numbers, a complete conflict-free timetable
per school (with a mid-term version at some schools), user accounts, a demo PKI with a
credential per staff member and a seal per school, and a behaviour model for the logbook:

- per school a quality factor (a few schools are far worse than the others);
- per teacher a habit: most punctual, some habitually late, some forgetful, a few careless;
- substitutions (dạy thay: another free teacher of the school teaches and signs the period);
- lesson titles and the curriculum sequence (tiết PPCT) counting up per class and subject,
  absences with or without permission, class remarks, student remarks, lesson ratings;
- certificates that expire or are revoked mid-term: their owners' later periods are MISSED;
- weekly closes on time, late, half-done (homeroom only), still open, or reopened.

Every signed entry carries a real CMS signature made with the teacher's demo key over
exactly the bytes :func:`core.logbook.entries.entry_bytes` rebuilds and the server's receipt of
its decision, sealed at the end in signed, timestamped batches (:mod:`core.logbook.receipts`,
with the demo system's service seal and the demo PKI's timestamp authority), and every close the
homeroom teacher's and the principal's signatures over :func:`core.kernel.documents.week_document`.

All writes are bulk (COPY on PostgreSQL, executemany on SQLite), one transaction per
school set-up and per school-week, so memory stays bounded by one school. City scale
(``benchmarks/city.py``: 2,000 schools) uses ``workers`` processes and keeps the 100,000
staff keys in memory (``Scale.key_files=False``).
"""
from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from core.access import audit
from core.access.authz import SYSTEM
from core.kernel.documents import entry_document, sha256_hex, week_document
from core.kernel.errors import TimetableError
from core.kernel.vocabulary import (
    CertificateKind,
    EntryStatus,
    Ownership,
    Role,
    SchoolLevel,
    Sex,
    StaffRole,
    WeekCloseStatus,
)
from core.logbook.entries import plan_week_entries
from core.logbook.rules.receipts import receipt_evidence
from core.logbook.rules.signing_window import DEFAULT_GRACE_SECONDS, classify_signing
from core.logbook.rules.weekly_close import close_deadline
from core.school.rules import curriculum
from core.school.rules.personal_id import make_personal_id
from core.signatures import DemoPKI, KeyStore
from core.signatures.signer import SoftwareSigner
from core.storage.bulk import allocate_ids, bulk_insert, refresh_statistics, reset_sequences
from core.storage.db import Database
from core.storage.models import (
    BellPeriod,
    Certificate,
    CurriculumLoad,
    Department,
    District,
    Enrolment,
    EntryAbsence,
    Holiday,
    LogbookEntry,
    MonitorAssignment,
    School,
    SchoolClass,
    SchoolWeek,
    SchoolYear,
    Staff,
    StaffAssignment,
    Student,
    StudentRemark,
    Subject,
    Submission,
    TeachingAssignment,
    TimetableSlot,
    TimetableVersion,
    UserAccount,
    WeekClose,
    WeekReopen,
)
from core.timetable.rules.calendar import TeachingWeek, teaching_weeks
from core.timetable.services import SlotSpec

# ---------------------------------------------------------------- the calendar
FIRST_MONDAY = dt.date(2025, 9, 8)
SCHOOL_YEAR_END = dt.date(2026, 5, 31)
#: Tết Bính Ngọ falls on Tuesday 17/02/2026: its week is a whole-week break (no teaching week).
TET_BREAK = frozenset({dt.date(2026, 2, 16)})
#: Public holidays on school days inside the year (2/9 is before the first teaching week;
#: 20/11 is not a day off by law). Giỗ Tổ (10/3 âm lịch) is Sunday 26/04/2026: off on Monday.
HOLIDAYS = {dt.date(2026, 1, 1): "Tết Dương lịch", dt.date(2026, 4, 27): "Giỗ Tổ Hùng Vương (nghỉ bù)",
            dt.date(2026, 4, 30): "Ngày Giải phóng miền Nam, thống nhất đất nước",
            dt.date(2026, 5, 1): "Ngày Quốc tế Lao động"}
PROVINCE = "079"  # Thành phố Hồ Chí Minh
GRACE_SECONDS = DEFAULT_GRACE_SECONDS

# ---------------------------------------------------------------- names
DISTRICT_NAMES = ["Quận 1", "Quận 3", "Quận 5", "Quận 10", "Bình Thạnh", "Gò Vấp", "Phú Nhuận", "Tân Bình",
                  "Thủ Đức", "Bình Tân", "Quận 7", "Quận 8", "Tân Phú", "Hóc Môn", "Củ Chi", "Nhà Bè"]
SCHOOL_NAMES = ["Lê Quý Đôn", "Nguyễn Du", "Trần Hưng Đạo", "Lê Lợi", "Minh Đức", "Võ Trường Toản",
                "Nguyễn Thị Minh Khai", "Chu Văn An", "Hai Bà Trưng", "Lương Thế Vinh", "Nguyễn Trãi",
                "Trần Quốc Toản", "Kim Đồng", "Phan Đình Phùng", "Lý Thường Kiệt", "Hồ Thị Kỷ",
                "Nguyễn Bỉnh Khiêm", "Trần Đại Nghĩa", "Lê Hồng Phong", "Nguyễn Hiền", "Mạc Đĩnh Chi",
                "Nguyễn Văn Trỗi", "Võ Thị Sáu", "Phan Bội Châu", "Nguyễn Khuyến", "Tô Hiến Thành",
                "Hoàng Hoa Thám", "Đinh Tiên Hoàng", "Lê Văn Tám", "Trưng Vương", "Bạch Đằng", "Điện Biên",
                "Hùng Vương", "Quang Trung", "Nguyễn Đình Chiểu", "Trương Định", "Ngô Quyền", "Yersin"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
          "Dương", "Lý", "Trương", "Đinh"]
MIDDLE_M, MIDDLE_F = ["Văn", "Minh", "Quốc", "Đức", "Hữu", "Gia", "Hoàng"], ["Thị", "Ngọc", "Thu", "Thanh", "Mai",
                                                                            "Bảo", "Khánh"]
GIVEN_M = ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Khoa", "Long", "Nam", "Phúc", "Quân", "Sơn", "Tâm", "Tuấn",
           "Khang", "Huy", "Thịnh", "Đạt", "Kiên", "Vinh"]
GIVEN_F = ["Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Lan", "Linh", "My", "Nga", "Oanh", "Phương", "Thảo", "Vy",
           "Ngân", "Trâm", "Uyên", "Yến", "Hân", "Nhi"]
REMARKS = ["Em phát biểu xây dựng bài tốt", "Em chưa làm bài tập về nhà", "Em tiến bộ rõ so với tuần trước",
           "Em còn nói chuyện riêng trong giờ", "Em giúp bạn cùng tiến bộ", "Em quên mang sách vở",
           "Em trình bày bài sạch đẹp", "Em cần tập trung hơn"]
CLASS_REMARKS = ["Lớp học tập sôi nổi", "Lớp còn ồn, cần nhắc nhở", "Lớp chuẩn bị bài tốt",
                 "Nhiều em chưa thuộc bài cũ", "Lớp thảo luận nhóm hiệu quả", "Vệ sinh lớp chưa sạch"]
REOPEN_REASONS = ["Điều chỉnh sĩ số vắng", "Bổ sung nhận xét học sinh", "Sửa tên bài dạy ghi nhầm"]
#: Lesson topics by subject (the code's part after the level prefix); titles are "Bài n: <topic>".
TOPICS = {
    "TV": ["Làm quen với âm và chữ", "Ôn tập vần", "Đọc hiểu: Ngày hôm qua đâu rồi?", "Luyện từ và câu",
           "Viết đoạn văn kể chuyện", "Tập làm văn: Tả đồ vật"],
    "TOAN": ["Số và phép tính", "Phép cộng, phép trừ", "Phép nhân, phép chia", "Phân số", "Hình học và đo lường",
             "Biểu thức đại số", "Phương trình bậc nhất một ẩn", "Hàm số và đồ thị", "Thống kê và xác suất"],
    "NN": ["Unit 1: My new school", "Unit 2: My house", "Unit 3: My friends", "Unit 4: My neighbourhood",
           "Review 1", "Unit 5: Natural wonders"],
    "DD": ["Em yêu Tổ quốc Việt Nam", "Kính trọng thầy cô", "Quan tâm hàng xóm", "Tiết kiệm tiền của"],
    "TNXH": ["Gia đình em", "Trường học", "Cộng đồng địa phương", "Thực vật và động vật", "Con người và sức khỏe"],
    "LSDL": ["Địa phương em", "Thiên nhiên vùng Nam Bộ", "Thành phố Hồ Chí Minh", "Các cuộc kháng chiến"],
    "KH": ["Chất", "Năng lượng", "Thực vật và động vật", "Nấm", "Con người và sức khỏe"],
    "TINCN": ["Máy tính và em", "Mạng máy tính và Internet", "Tổ chức lưu trữ thông tin", "Công nghệ và đời sống"],
    "GDTC": ["Đội hình đội ngũ", "Bài thể dục phát triển chung", "Chạy cự li ngắn", "Nhảy xa", "Bóng rổ",
             "Đá cầu"],
    "NT": ["Hát: Quốc ca Việt Nam", "Nhạc cụ: Thanh phách", "Vẽ tranh đề tài", "Tạo hình từ vật liệu tái chế"],
    "HDTN": ["Sinh hoạt dưới cờ", "Em và trường học", "Khám phá bản thân", "Sinh hoạt lớp", "Trách nhiệm với gia đình"],
    "NV": ["Tôi và các bạn", "Gõ cửa trái tim", "Yêu thương và chia sẻ", "Quê hương yêu dấu",
           "Những trải nghiệm trong đời",
           "Thực hành tiếng Việt", "Viết bài văn nghị luận"],
    "GDCD": ["Tự hào truyền thống gia đình", "Yêu thương con người", "Siêng năng kiên trì", "Tôn trọng sự thật"],
    "KHTN": ["Mở đầu về khoa học tự nhiên", "Chất quanh ta", "Tế bào", "Lực", "Năng lượng", "Trái Đất và bầu trời"],
    "CN": ["Nhà ở", "Bảo quản và chế biến thực phẩm", "Trang phục và thời trang", "Đồ dùng điện trong gia đình"],
    "TIN": ["Máy tính và cộng đồng", "Mạng máy tính và Internet", "Tổ chức lưu trữ thông tin",
            "Giải quyết vấn đề với máy tính",
            "Lập trình Python"],
    "GDDP": ["Lịch sử Sài Gòn – Gia Định", "Văn hóa Thành phố Hồ Chí Minh", "Làng nghề truyền thống"],
    "LS": ["Lịch sử và sử học", "Vai trò của sử học", "Các cuộc cách mạng công nghiệp", "Văn minh Đông Nam Á"],
    "QPAN": ["Đội ngũ từng người không có súng", "Phòng chống ma túy", "Luật Nghĩa vụ quân sự",
             "Bảo vệ chủ quyền biển đảo"],
    "LI": ["Mô tả chuyển động", "Ba định luật Newton", "Năng lượng và công", "Động lượng", "Dao động"],
    "HOA": ["Cấu tạo nguyên tử", "Bảng tuần hoàn", "Liên kết hóa học", "Phản ứng oxi hóa – khử", "Tốc độ phản ứng"],
    "SINH": ["Giới thiệu khái quát môn Sinh học", "Tế bào", "Trao đổi chất qua màng", "Chu kì tế bào", "Vi sinh vật"],
    "CD": ["Chuyên đề: Tìm hiểu văn học dân gian", "Chuyên đề: Ứng dụng toán học", "Chuyên đề: Thực hành thí nghiệm"],
}
#: Habits: (share of teachers, P(missed), P(late)) before the school's quality factor.
HABITS = {"punctual": (0.72, 0.01, 0.02), "late": (0.14, 0.03, 0.30), "forgetful": (0.10, 0.20, 0.05),
          "careless": (0.04, 0.35, 0.30)}
#: Personal-ID serials per school, birth year and sex (6 digits: 1,000,000 / 450 = 2,222 schools).
PID_BLOCK = 450
PERIODS_PER_TEACHER = 18   # a subject teacher's weekly load (định mức ~ 17-19 tiết)
SUBSTITUTION_RATE = 0.025  # dạy thay: a few % of periods
#: Subjects a primary homeroom teacher teaches in their own class (the others have specialists).
PRIMARY_HOMEROOM_SUBJECTS = frozenset({"TH-TV", "TH-TOAN", "TH-DD", "TH-TNXH", "TH-LSDL", "TH-KH", "TH-HDTN"})
HDTN = {SchoolLevel.PRIMARY: "TH-HDTN", SchoolLevel.LOWER_SECONDARY: "CS-HDTN", SchoolLevel.UPPER_SECONDARY: "PT-HDTN"}


@dataclass(frozen=True)
class Scale:
    """How big: districts × schools per district × classes per school, over ``weeks`` weeks
    (18 weeks = học kỳ I) with ``students_per_class`` students a class."""

    districts: int = 2
    schools_per_district: int = 4
    classes_per_school: int = 8
    weeks: int = 18
    students_per_class: int = 30
    seed: int = 2025
    #: Classes per school (top grade first) whose gradebooks and transcripts are generated,
    #: each school stopping at a different step of the signing workflow (core.demo.gradebook).
    transcript_classes: int = 0
    #: Write each staff member's key as a PIN-protected PKCS#12 file (the demo signs with them
    #: later). City scale keeps the keys in memory only: 100,000 key files cost minutes.
    key_files: bool = True


@dataclass
class GenerationReport:
    schools: int = 0
    classes: int = 0
    staff: int = 0
    students: int = 0
    users: int = 0
    certificates: int = 0
    entries: int = 0
    signed: int = 0
    statuses: Counter = field(default_factory=Counter)   # EntryStatus value -> count
    week_closes: int = 0
    receipt_batches: int = 0   # the sealed batches of the signed entries' receipts (core.logbook.receipts)
    close_statuses: Counter = field(default_factory=Counter)  # WeekCloseStatus value -> count
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    gradebook: object = None   # core.demo.gradebook.GradebookReport when transcripts were generated

    def merge(self, part: "GenerationReport") -> None:
        """Add a school's part report (built in this process or a worker)."""
        for name in ("classes", "staff", "students", "users", "certificates", "entries", "signed", "week_closes"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        self.statuses.update(part.statuses)
        self.close_statuses.update(part.close_statuses)
        for key, seconds in part.timings.items():
            self.timings[key] += seconds

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds else 0.0

    def __str__(self) -> str:
        return (f"demo data: {self.schools} schools, {self.classes} classes, {self.staff} staff, "
                f"{self.students} students, {self.entries:,} logbook entries ({self.signed:,} signed), "
                f"{self.week_closes} week closes" + (f"; {self.gradebook}" if self.gradebook else "")
                + f" in {self.seconds:.1f} s")


# ---------------------------------------------------------------- helpers
def _person(rng: random.Random, sex: str) -> str:
    middle, given = (MIDDLE_F, GIVEN_F) if sex == "F" else (MIDDLE_M, GIVEN_M)
    return f"{rng.choice(FAMILY)} {rng.choice(middle)} {rng.choice(given)}"


def _level_for(index: int) -> SchoolLevel:
    return (SchoolLevel.PRIMARY, SchoolLevel.LOWER_SECONDARY, SchoolLevel.UPPER_SECONDARY)[index % 3]


def _bells(level: SchoolLevel) -> list[tuple[str, int, dt.time, dt.time]]:
    """Primary: 35-minute periods, two sessions (4 + 3 periods, Monday to Friday);
    secondary: 45-minute periods, 5 in the morning 07:00-11:15 with a 15-minute break
    (Monday to Saturday), and two afternoon periods used only when the morning is full."""
    t = dt.time
    if level == SchoolLevel.PRIMARY:
        return [("morning", 1, t(7, 30), t(8, 5)), ("morning", 2, t(8, 10), t(8, 45)),
                ("morning", 3, t(9, 5), t(9, 40)), ("morning", 4, t(9, 45), t(10, 20)),
                ("afternoon", 5, t(14, 0), t(14, 35)), ("afternoon", 6, t(14, 40), t(15, 15)),
                ("afternoon", 7, t(15, 25), t(16, 0))]
    return [("morning", 1, t(7, 0), t(7, 45)), ("morning", 2, t(7, 50), t(8, 35)),
            ("morning", 3, t(8, 50), t(9, 35)), ("morning", 4, t(9, 40), t(10, 25)),
            ("morning", 5, t(10, 30), t(11, 15)), ("afternoon", 6, t(13, 30), t(14, 15)),
            ("afternoon", 7, t(14, 20), t(15, 5))]


def _lesson_title(code: str, seq: int) -> str:
    """"Bài n: …" — a lesson spans about two periods of the curriculum plan."""
    topics = TOPICS.get(code.split("-", 1)[-1], ["Nội dung bài học"])
    n = (seq + 1) // 2
    return f"Bài {n}: {topics[(n - 1) % len(topics)]}"


def _ids(session, model, n: int) -> list[int]:
    return list(allocate_ids(session, model, n))


#: Every demo account signs in with this password (one scrypt hash shared by the demo users,
#: computed once per run: hashing each account separately would cost ~50 ms a user).
DEMO_PASSWORD = "sohoa-demo"


@lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    from core.access.accounts import hash_password

    return hash_password(DEMO_PASSWORD)


def _insert_users(session, rows: list[dict]) -> list[int]:
    new = _ids(session, UserAccount, len(rows))
    cols = ["id", "username", "display_name", "role", "department_id", "district_id", "school_id", "staff_id",
            "active", "password_hash"]
    bulk_insert(session, UserAccount, [{**{c: None for c in cols}, **r, "id": i, "active": True,
                                        "password_hash": _demo_password_hash()}
                                       for i, r in zip(new, rows)], cols)
    return new


# ---------------------------------------------------------------- the entry point
def generate(db: Database, scale: Scale, *, pki_dir: Path, progress: bool = True,
             as_of: dt.datetime | None = None, responder_url: str | None = None, workers: int = 1) -> GenerationReport:
    """Build a whole department into an empty record store; see the module docstring.

    ``as_of`` is "now" for the behaviour model (naive VN-local): periods after it stay
    PENDING and weeks not over by then stay open. By default it is the Monday after the last
    generated week, so every generated week is in the past. ``responder_url`` is where the
    demo PKI's CRL/OCSP/TSA responder will answer (written into every certificate);
    :mod:`core.cli` starts it with the console. With PostgreSQL, ``workers`` processes build
    schools side by side (each school is generated from its own seed, so the result does not
    depend on how many)."""
    started = time.perf_counter()
    report = GenerationReport()
    pki = DemoPKI.create(Path(pki_dir), responder_url=responder_url)
    pki.issue_service_seal(not_before=dt.datetime(2025, 1, 1))  # the system's own seal (core.signatures.service)
    weeks_all = teaching_weeks(FIRST_MONDAY, breaks=TET_BREAK)
    weeks = weeks_all[:max(0, scale.weeks)]
    if as_of is None:
        last = weeks[-1].monday if weeks else FIRST_MONDAY - dt.timedelta(days=7)
        as_of = dt.datetime.combine(last + dt.timedelta(days=7), dt.time(0, 0))

    with db.transaction() as session:
        dep_id = _ids(session, Department, 1)[0]
        bulk_insert(session, Department, [{"id": dep_id, "code": "SGD-HCM", "name": "Sở GD&ĐT TP. Hồ Chí Minh",
                                           "province_code": PROVINCE}])
        year_id = _ids(session, SchoolYear, 1)[0]
        bulk_insert(session, SchoolYear, [{"id": year_id, "department_id": dep_id, "name": "2025-2026",
                                           "start_date": FIRST_MONDAY, "end_date": SCHOOL_YEAR_END}])
        week_ids = _ids(session, SchoolWeek, len(weeks_all))
        bulk_insert(session, SchoolWeek, [{"id": i, "school_year_id": year_id, "number": w.number, "term": w.term,
                                           "monday": w.monday} for i, w in zip(week_ids, weeks_all)])
        bulk_insert(session, Holiday, [{"school_year_id": year_id, "school_id": None, "day": d, "name": n}
                                       for d, n in HOLIDAYS.items()])
        specs = list(curriculum.CURRICULUM)
        subject_ids = {s.code: i for s, i in zip(specs, _ids(session, Subject, len(specs)))}
        bulk_insert(session, Subject, [{"id": subject_ids[s.code], "code": s.code, "name": s.name,
                                        "level": s.level, "comment_only": s.comment_only} for s in specs])
        bulk_insert(session, CurriculumLoad, [{"subject_id": subject_ids[s.code], "grade": g, "periods_per_year": n}
                                              for s in specs for g, n in s.periods_per_year.items()])
        district_ids = _ids(session, District, scale.districts)
        names = [DISTRICT_NAMES[n % len(DISTRICT_NAMES)] + (f" ({n // len(DISTRICT_NAMES) + 1})"
                                                            if n >= len(DISTRICT_NAMES) else "")
                 for n in range(scale.districts)]
        bulk_insert(session, District, [{"id": d, "department_id": dep_id, "code": f"P{n + 1:02d}", "name": names[n]}
                                        for n, d in enumerate(district_ids)])
        users = [{"username": "admin", "display_name": "Quản trị hệ thống", "role": Role.ADMINISTRATOR},
                 {"username": "so.giamsat", "display_name": "Giám sát Sở GD&ĐT", "role": Role.DEPARTMENT_SUPERVISOR,
                  "department_id": dep_id},
                 {"username": "phantich", "display_name": "Chuyên viên phân tích", "role": Role.ANALYST,
                  "department_id": dep_id}]
        users += [{"username": f"phong.{n + 1}", "display_name": f"Giám sát {names[n]}",
                   "role": Role.DISTRICT_SUPERVISOR, "department_id": dep_id, "district_id": d}
                  for n, d in enumerate(district_ids)]
        report.users += len(_insert_users(session, users))
        audit.record(session, SYSTEM, "synthetic.organisation", "department", dep_id,
                     after={"seed": scale.seed, "districts": scale.districts,
                            "schools": scale.districts * scale.schools_per_district, "weeks": len(weeks),
                            "as_of": as_of})
    context = _Context(dep=dep_id, year=year_id, week_ids=dict(zip([w.number for w in weeks_all], week_ids)),
                       subjects=subject_ids, weeks=weeks, as_of=as_of, pki=pki, pki_dir=Path(pki_dir))
    report.timings["organisation"] += time.perf_counter() - started

    schools = [(n, district_ids[d]) for n, (d, _) in
               enumerate((d, k) for d in range(scale.districts) for k in range(scale.schools_per_district))]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(schools), desc="Tạo dữ liệu mô phỏng", unit="trường")
    jobs = [(n, district, scale, context, n != len(schools) - 1) for n, district in schools]
    # (the last school has no monitor: a figure supervisors watch)
    if workers > 1 and db.engine.dialect.name == "postgresql":
        import multiprocessing as mp

        global _WORKER_SHARED
        url = db.engine.url.render_as_string(hide_password=False)
        db.engine.dispose()
        _WORKER_SHARED = (scale, context)  # inherited by the forked workers, never pickled
        with mp.get_context("fork").Pool(workers, initializer=_worker_init, initargs=(url,)) as pool:
            for part in pool.imap_unordered(_worker_school, [(n, d, m) for n, d, _, _, m in jobs]):
                report.merge(part)
                if bar:
                    bar.update(1)
    else:
        for job in jobs:
            report.merge(_build_school(db, *job))
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    with db.transaction() as session:
        reset_sequences(session)
    t0 = time.perf_counter()
    report.receipt_batches = _seal_receipts(db, pki)
    report.timings["sealing"] += time.perf_counter() - t0
    with db.transaction() as session:
        refresh_statistics(session)
    if scale.transcript_classes > 0:
        from core.demo.gradebook import generate_transcripts

        t0 = time.perf_counter()
        report.gradebook = generate_transcripts(db, pki_dir=Path(pki_dir), classes_per_school=scale.transcript_classes,
                                                seed=scale.seed, progress=progress)
        report.timings["transcripts"] += time.perf_counter() - t0
    report.schools = len(schools)
    report.seconds = time.perf_counter() - started
    report.timings = dict(report.timings)
    return report


def _build_school(db: Database, n: int, district_id: int, scale: Scale, ctx: "_Context",
                  monitor: bool) -> GenerationReport:
    """One school: its setup, then each week, then its audit record; a part report."""
    report = GenerationReport()
    t0 = time.perf_counter()
    school = _School(n, district_id, scale, random.Random(f"{scale.seed}:{n}"), ctx, monitor=monitor)
    with db.transaction() as session:
        school.write_setup(session, report)
    report.timings["setup"] += time.perf_counter() - t0
    for week in ctx.weeks:
        with db.transaction() as session:
            school.write_week(session, week, report)
    with db.transaction() as session:
        audit.record(session, SYSTEM, "synthetic.school", "school", school.id, school_id=school.id,
                     after={"weeks": len(ctx.weeks), "classes": len(school.classes), "staff": len(school.staff),
                            "timetable_versions": len(school.versions), "quality": school.quality})
    return report


def _seal_receipts(db: Database, pki: DemoPKI) -> int:
    """Seal the demo's receipts as the API's sealer does (core.logbook.receipts), with the demo
    system's service seal and the demo PKI's timestamp authority (its responder, started on a
    free port for the time it takes). Returns how many batches."""
    from core.logbook.receipts import seal_all
    from core.signatures.responder import Responder, free_port
    from core.signatures.service import SEAL_OWNER, ServiceSeal

    port = free_port()
    responder = Responder(pki).start(port)
    try:
        seal = ServiceSeal(KeyStore(pki.directory).signer_for(SEAL_OWNER), f"http://127.0.0.1:{port}/tsa")
        return len(seal_all(db, seal))
    finally:
        responder.stop()


_WORKER_DB: Database | None = None
_WORKER_SHARED: tuple | None = None   # (scale, context), set before the workers fork


def _worker_init(url: str) -> None:
    global _WORKER_DB
    from core.storage.db import make_engine

    _WORKER_DB = Database(make_engine(url))


def _worker_school(job) -> GenerationReport:
    n, district_id, monitor = job
    scale, context = _WORKER_SHARED
    return _build_school(_WORKER_DB, n, district_id, scale, context, monitor)


@dataclass
class _Context:
    dep: int
    year: int
    week_ids: dict[int, int]
    subjects: dict[str, int]
    weeks: list[TeachingWeek]
    as_of: dt.datetime
    pki: DemoPKI
    pki_dir: Path



# ---------------------------------------------------------------- one school
class _School:
    """One school's generated world, kept in memory while its weeks are written."""

    def __init__(self, n: int, district_id: int, scale: Scale, rng: random.Random, ctx: _Context, *,
                 monitor: bool):
        self.n, self.district_id, self.scale, self.rng, self.ctx = n, district_id, scale, rng, ctx
        self.monitor = monitor
        self.level = _level_for(n)
        prefix = {SchoolLevel.PRIMARY: "Tiểu học", SchoolLevel.LOWER_SECONDARY: "THCS",
                  SchoolLevel.UPPER_SECONDARY: "THPT"}[self.level]
        self.code = f"S{n + 1:04d}"
        k = len(SCHOOL_NAMES)
        self.name = f"Trường {prefix} {SCHOOL_NAMES[n % k]}" + (f" {n // k + 1}" if n >= k else "")
        self.private = n % 8 == 4  # a few private schools (tư thục)
        # School quality: most are fine, some a little worse, one school in seven far worse.
        self.quality = 0.35 if n % 7 == 3 else rng.choice([1.0, 1.0, 1.0, 0.9, 0.75])
        self.rating = rng.random() < 0.7  # xếp loại tiết học is a school practice, optional
        self.bells = {p: (s, e) for _, p, s, e in _bells(self.level)}
        self.days = list(range(1, 6 if self.level == SchoolLevel.PRIMARY else 7))
        self.extra_holiday = FIRST_MONDAY + dt.timedelta(days=7 * rng.randrange(3, 15) + rng.randrange(0, 5))
        self.keys = KeyStore(ctx.pki_dir)  # this school's signers only: dropped with the school
        self.signers: dict[int, SoftwareSigner] = {}  # keys held in memory (Scale.key_files=False)
        self.pid_serials: Counter = Counter()  # personal-ID serials used, per (birth year, sex)

    # ---------------------------------------------------------------- setup
    def write_setup(self, session, report: GenerationReport) -> None:
        rng, scale, ctx = self.rng, self.scale, self.ctx
        self.id = _ids(session, School, 1)[0]
        bulk_insert(session, School, [{"id": self.id, "district_id": self.district_id, "code": self.code,
                                       "name": self.name, "level": self.level,
                                       "ownership": Ownership.PRIVATE if self.private else Ownership.PUBLIC,
                                       "signing_grace_seconds": GRACE_SECONDS, "lesson_rating_enabled": self.rating}])
        bulk_insert(session, BellPeriod, [{"school_id": self.id, "session": sess, "period_no": p, "start_time": s,
                                           "end_time": e} for sess, p, s, e in _bells(self.level)])
        bulk_insert(session, Holiday, [{"school_year_id": ctx.year, "school_id": self.id,
                                        "day": self.extra_holiday, "name": "Kỷ niệm ngày thành lập trường"}])
        grades = curriculum.grades_of(self.level)
        class_grades = [grades[i * len(grades) // scale.classes_per_school] for i in range(scale.classes_per_school)]
        per_grade: Counter = Counter()
        class_names = []
        for g in class_grades:
            per_grade[g] += 1
            class_names.append(f"{g}A{per_grade[g]}")
        weekly = {g: curriculum.weekly_periods(g) for g in set(class_grades)}
        hdtn = HDTN[self.level]
        primary = self.level == SchoolLevel.PRIMARY

        def homeroom_teaches(code: str) -> bool:
            return code == hdtn or (primary and code in PRIMARY_HOMEROOM_SUBJECTS)

        load: Counter = Counter()
        for g in class_grades:
            for code, n in weekly[g].items():
                if not homeroom_teaches(code):
                    load[code] += n
        # Staff: the management, then subject teachers (groups sized to the load); primary
        # schools have one homeroom teacher per class, secondary schools pick homeroom teachers
        # among the subject teachers (who then also lead their class's HĐTN-HN periods).
        groups = {code: -(-n // PERIODS_PER_TEACHER) for code, n in sorted(load.items())}
        staff_ids = iter(_ids(session, Staff, 4 + sum(groups.values()) + (len(class_grades) if primary else 0)))
        staff_rows: list[dict] = []
        self.staff: list[tuple[int, str]] = []

        def new_staff(role: str) -> int:
            sid = next(staff_ids)
            sex = rng.choice("MF" if role != "teacher" else "FFFM")
            staff_rows.append({"id": sid, "school_id": self.id, "code": f"{self.code}-{len(staff_rows) + 1:03d}",
                               "full_name": _person(rng, sex), "email": None, "active": True})
            self.staff.append((sid, role))
            return sid

        self.principal = new_staff("principal")
        self.vice = new_staff("vice_principal")
        self.monitor_staff = new_staff("school_monitor")
        self.clerk = new_staff("clerk")
        homerooms = [new_staff("teacher") for _ in class_grades] if primary else []
        teachers_of = {code: [new_staff("teacher") for _ in range(k)] for code, k in groups.items()}
        if not primary:
            pool = [t for code in sorted(teachers_of) for t in teachers_of[code]]
            rng.shuffle(pool)
            homerooms = [pool[i % len(pool)] for i in range(len(class_grades))]
        bulk_insert(session, Staff, staff_rows)
        role_map = {"principal": StaffRole.PRINCIPAL, "vice_principal": StaffRole.VICE_PRINCIPAL,
                    "school_monitor": StaffRole.SCHOOL_MONITOR, "clerk": StaffRole.CLERK, "teacher": StaffRole.TEACHER}
        start = FIRST_MONDAY - dt.timedelta(days=14)
        assignments = [{"staff_id": s, "school_id": self.id, "role": role_map[r], "valid_from": start,
                        "valid_to": None} for s, r in self.staff]
        assignments += [{"staff_id": h, "school_id": self.id, "role": StaffRole.HOMEROOM_TEACHER,
                         "valid_from": start, "valid_to": None} for h in sorted(set(homerooms))]
        bulk_insert(session, StaffAssignment, assignments)
        report.staff += len(self.staff)

        # Classes, students (valid personal IDs, born in the right year), enrolments.
        class_ids = _ids(session, SchoolClass, len(class_grades))
        self.classes = list(zip(class_ids, class_names, class_grades))
        bulk_insert(session, SchoolClass, [{"id": c, "school_id": self.id, "school_year_id": ctx.year,
                                            "grade": g, "name": name, "homeroom_teacher_id": h}
                                           for (c, name, g), h in zip(self.classes, homerooms)])
        self.homeroom = dict(zip(class_ids, homerooms))
        self.class_name = {c: name for c, name, _ in self.classes}
        student_ids = _ids(session, Student, scale.students_per_class * len(class_ids))
        students, enrol = [], []
        self.students: dict[int, str] = {}
        self.class_students: dict[int, list[int]] = {c: [] for c in class_ids}
        for i, sid in enumerate(student_ids):
            cid, _, grade = self.classes[i // scale.students_per_class]
            sex = rng.choice("MF")
            # Grade 1 of 2025-2026 was born in 2019; a few pupils are a year older.
            year = 2020 - grade - (1 if rng.random() < 0.03 else 0)
            birth = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
            self.pid_serials[(year, sex)] += 1
            if self.pid_serials[(year, sex)] >= PID_BLOCK:
                raise RuntimeError(f"more than {PID_BLOCK} students born in {year} of one sex at one school")
            counter = self.n * PID_BLOCK + self.pid_serials[(year, sex)]  # each school its own block
            serial = (counter * 7919 + 104_729) % 1_000_000  # a bijection of the counter
            pid = make_personal_id(PROVINCE, birth, sex, serial)
            students.append({"id": sid, "personal_id": pid, "full_name": _person(rng, sex), "birth_date": birth,
                             "sex": Sex.FEMALE if sex == "F" else Sex.MALE})
            enrol.append({"student_id": sid, "class_id": cid, "valid_from": FIRST_MONDAY - dt.timedelta(days=7),
                          "valid_to": None})
            self.students[sid] = pid
            self.class_students[cid].append(sid)
        bulk_insert(session, Student, students)
        bulk_insert(session, Enrolment, enrol)
        report.classes += len(class_ids)
        report.students += len(student_ids)

        # Teaching assignments (balanced inside each subject group) and the timetable.
        self.subject_code = {v: k for k, v in ctx.subjects.items()}
        teach: dict[tuple[int, str], int] = {}
        given: Counter = Counter()
        for cid, _, g in self.classes:
            for code in weekly[g]:
                if homeroom_teaches(code):
                    teach[(cid, code)] = self.homeroom[cid]
                else:
                    teacher = min(teachers_of[code], key=lambda t: (given[t], t))
                    teach[(cid, code)] = teacher
                    given[teacher] += weekly[g][code]
        bulk_insert(session, TeachingAssignment, [{"class_id": c, "subject_id": ctx.subjects[code],
                                                   "teacher_id": t, "valid_from": FIRST_MONDAY, "valid_to": None}
                                                  for (c, code), t in teach.items()])
        slots = self._timetable(weekly, teach)
        self.versions: list[tuple[dt.date, list[SlotSpec], str]] = [(FIRST_MONDAY, slots, "Thời khóa biểu học kỳ I")]
        # A mid-term version at every other school: lessons swapped in a few classes.
        weeks = ctx.weeks
        if self.n % 2 == 0 and len(weeks) >= 2:
            change = weeks[5] if len(weeks) >= 8 else weeks[1]
            changed = self._swapped(slots)
            if changed != slots:
                self.versions.append((change.monday, changed, f"Điều chỉnh thời khóa biểu từ tuần {change.number}"))
        for monday, version_slots, note in self.versions:
            vid = _ids(session, TimetableVersion, 1)[0]
            bulk_insert(session, TimetableVersion, [{"id": vid, "school_id": self.id, "effective_from": monday,
                                                     "created_at": dt.datetime.combine(monday - dt.timedelta(days=2),
                                                                                       dt.time(9, 30)),
                                                     "note": note}])
            bulk_insert(session, TimetableSlot, [{"version_id": vid, "class_id": s.class_id, "weekday": s.weekday,
                                                  "period_no": s.period_no, "subject_id": s.subject_id,
                                                  "teacher_id": s.teacher_id} for s in version_slots])

        # Behaviour: each teacher's habit, by quota so that every school has each kind.
        teacher_ids = [s for s, r in self.staff if r == "teacher"]
        shuffled = list(teacher_ids)
        rng.shuffle(shuffled)
        self.habit = {s: "punctual" for s, _ in self.staff}
        quotas = [("late", -(-len(shuffled) * 14 // 100)), ("forgetful", -(-len(shuffled) * 10 // 100)),
                  ("careless", len(shuffled) * 4 // 100)]
        i = 0
        for habit, k in quotas:
            for s in shuffled[i:i + k]:
                self.habit[s] = habit
            i += k
        self._certificates(session, staff_rows, teacher_ids, report)

        # Users: the principal, a monitor (assigned except at one school), every teacher.
        codes = {r["id"]: r["code"] for r in staff_rows}
        full = {r["id"]: r["full_name"] for r in staff_rows}
        users = [{"username": f"ht.{self.code.lower()}", "display_name": full[self.principal], "role": Role.PRINCIPAL,
                  "school_id": self.id, "staff_id": self.principal},
                 {"username": f"gs.{self.code.lower()}", "display_name": full[self.monitor_staff],
                  "role": Role.SCHOOL_MONITOR, "school_id": self.id, "staff_id": self.monitor_staff}]
        users += [{"username": codes[s].lower(), "display_name": full[s], "role": Role.TEACHER, "school_id": self.id,
                   "staff_id": s} for s in teacher_ids]
        user_ids = _insert_users(session, users)
        report.users += len(user_ids)
        self.user_of = {u["staff_id"]: uid for u, uid in zip(users, user_ids)}
        self.principal_user = user_ids[0]
        if self.monitor:
            bulk_insert(session, MonitorAssignment, [{"user_id": user_ids[1], "school_id": self.id,
                                                      "assigned_at": dt.datetime(2025, 9, 1, 8),
                                                      "unassigned_at": None}])
        self.staff_code = codes
        self.teachers = teacher_ids
        self.seq: Counter = Counter()

    def _certificates(self, session, staff_rows, teacher_ids, report) -> None:
        """A personal credential per staff member and the school's seal, registered. At every
        third school one teacher's certificate expires mid-term (week 10), at every fourth
        another teacher's is revoked (week 12): from then on they cannot sign (their periods
        are missed)."""
        rng = self.rng
        self.cert_end: dict[int, dt.datetime] = {}
        expiring, revoked_one = rng.sample(teacher_ids, k=2) if len(teacher_ids) >= 2 else (None, None)
        expire, revoke = self.n % 3 == 0, self.n % 4 == 0  # the first school has both
        rows = []
        for row in staff_rows:
            sid = row["id"]
            not_after, revoked = dt.datetime(2027, 9, 1), None
            if expire and sid == expiring:
                not_after = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(weeks=9, days=2), dt.time(0))
            elif revoke and sid == revoked_one:
                revoked = dt.datetime.combine(FIRST_MONDAY + dt.timedelta(weeks=11, days=2), dt.time(12))
            cred = self.ctx.pki.issue_personal(f"staff-{sid}", row["full_name"], not_before=dt.datetime(2025, 1, 1),
                                               not_after=not_after, organisation=self.name,
                                               key_file=self.scale.key_files)
            if cred.key is not None:
                self.signers[sid] = SoftwareSigner(cred.key, cred.cert_der, [self.ctx.pki.issuing_der])
            if revoked:
                self.ctx.pki.revoke(cred.serial_hex, revoked)  # the responder's CRL and OCSP say so too
            self.cert_end[sid] = min(not_after, revoked or not_after)
            rows.append({"kind": CertificateKind.PERSONAL, "staff_id": sid, "school_id": self.id,
                         "fingerprint": cred.fingerprint, "serial_hex": cred.serial_hex, "subject": cred.subject,
                         "not_before": cred.not_before, "not_after": cred.not_after, "der": cred.cert_der,
                         "revoked_at": revoked})
        seal = self.ctx.pki.issue_seal(f"school-{self.id}", self.name, not_before=dt.datetime(2025, 1, 1),
                                       identifier=f"MDV:{self.code}")
        rows.append({"kind": CertificateKind.SEAL, "staff_id": None, "school_id": self.id,
                     "fingerprint": seal.fingerprint, "serial_hex": seal.serial_hex, "subject": seal.subject,
                     "not_before": seal.not_before, "not_after": seal.not_after, "der": seal.cert_der,
                     "revoked_at": None})
        bulk_insert(session, Certificate, rows)
        report.certificates += len(rows)

    # ---------------------------------------------------------------- timetable
    def _timetable(self, weekly, teach) -> list[SlotSpec]:
        """Every lesson of every class placed in a (weekday, period) slot where the class and
        the teacher are both free. The homeroom teacher's flag ceremony (Monday period 1) and
        class meeting (last period of the week) are fixed; the other lessons are placed
        greedily, most loaded teachers first, spreading a subject over the week and keeping
        secondary afternoons free; a lesson with no free slot is placed by moving one
        blocking lesson elsewhere. Raises :class:`TimetableError` if a lesson cannot be placed."""
        for _ in range(20):
            slots = self._try_timetable(weekly, teach)
            if slots is not None:
                return slots
        raise TimetableError(f"{self.code}: could not place every lesson")

    def _try_timetable(self, weekly, teach) -> list[SlotSpec] | None:
        rng = self.rng
        morning = [p for p in sorted(self.bells) if p <= (7 if self.level == SchoolLevel.PRIMARY else 5)]
        extra = [p for p in sorted(self.bells) if p not in morning]
        grid = [(d, p) for d in self.days for p in morning + extra]
        hdtn = HDTN[self.level]
        lessons: list[list] = []  # [class, subject code, teacher, slot or None, fixed]
        for cid, _, grade in self.classes:
            for code, n in weekly[grade].items():
                lessons += [[cid, code, teach[(cid, code)], None, False] for _ in range(n)]
        class_at: dict[tuple, int] = {}
        teacher_at: dict[tuple, int] = {}
        per_day: Counter = Counter()

        def put(i, slot):
            cid, code, t = lessons[i][:3]
            lessons[i][3] = slot
            class_at[(cid, *slot)] = teacher_at[(t, *slot)] = i
            per_day[(cid, slot[0], code)] += 1

        def take(i):
            cid, code, t, slot = lessons[i][:4]
            del class_at[(cid, *slot)], teacher_at[(t, *slot)]
            per_day[(cid, slot[0], code)] -= 1
            lessons[i][3] = None

        def free(cid, t, slot):
            return (cid, *slot) not in class_at and (t, *slot) not in teacher_at

        # Fixed: sinh hoạt dưới cờ (Monday, period 1) and sinh hoạt lớp (last period of the week).
        ceremony, meeting = (self.days[0], morning[0]), (self.days[-1], morning[-1])
        for cid, _, _ in self.classes:
            own = [i for i, l in enumerate(lessons) if l[0] == cid and l[1] == hdtn]
            for i, slot in zip(own, (ceremony, meeting)):
                if free(cid, lessons[i][2], slot):
                    put(i, slot)
                    lessons[i][4] = True
        load = Counter(l[2] for l in lessons)
        todo = [i for i, l in enumerate(lessons) if l[3] is None]
        rng.shuffle(todo)
        todo.sort(key=lambda i: -load[lessons[i][2]])
        for i in todo:
            cid, code, t = lessons[i][:3]
            best, best_cost = None, None
            for slot in grid:
                if not free(cid, t, slot):
                    continue
                same = per_day[(cid, slot[0], code)]
                cost = (slot[1] in extra) * 100 + same * same * 10 + rng.random()
                if best_cost is None or cost < best_cost:
                    best, best_cost = slot, cost
            if best is not None:
                put(i, best)
            elif not self._repair(i, lessons, grid, class_at, teacher_at, put, take, free):
                return None
        return [SlotSpec(cid, d, p, self.ctx.subjects[code], t) for cid, code, t, (d, p), _ in lessons]

    @staticmethod
    def _repair(i, lessons, grid, class_at, teacher_at, put, take, free) -> bool:
        """Place lesson ``i`` by moving one movable lesson out of the way: either the teacher's
        lesson in a slot where the class is free, or the class's lesson in a slot where the
        teacher is free."""
        cid, _, t = lessons[i][:3]
        for slot in grid:
            blocker = teacher_at.get((t, *slot)) if (cid, *slot) not in class_at else \
                class_at.get((cid, *slot)) if (t, *slot) not in teacher_at else None
            if blocker is None or lessons[blocker][4]:
                continue
            bc, _, bt = lessons[blocker][:3]
            for other in grid:
                if other != slot and free(bc, bt, other):
                    take(blocker)
                    put(blocker, other)
                    put(i, slot)
                    return True
        return False

    def _swapped(self, slots: list[SlotSpec]) -> list[SlotSpec]:
        """A later timetable: in two classes, two lessons of different subjects on different
        days change places (when both teachers are free in the other slot)."""
        rng = self.rng
        changed = list(slots)
        busy = {(s.teacher_id, s.weekday, s.period_no) for s in changed}
        for cid, _, _ in rng.sample(self.classes, k=min(2, len(self.classes))):
            own = [i for i, s in enumerate(changed) if s.class_id == cid]
            pairs = [(a, b) for a in own for b in own if a < b
                     and changed[a].weekday != changed[b].weekday and changed[a].subject_id != changed[b].subject_id]
            rng.shuffle(pairs)
            for a, b in pairs:
                sa, sb = changed[a], changed[b]
                if ((sa.teacher_id, sb.weekday, sb.period_no) in busy
                        or (sb.teacher_id, sa.weekday, sa.period_no) in busy):
                    continue
                busy -= {(sa.teacher_id, sa.weekday, sa.period_no), (sb.teacher_id, sb.weekday, sb.period_no)}
                changed[a] = SlotSpec(cid, sb.weekday, sb.period_no, sa.subject_id, sa.teacher_id)
                changed[b] = SlotSpec(cid, sa.weekday, sa.period_no, sb.subject_id, sb.teacher_id)
                busy |= {(sa.teacher_id, sb.weekday, sb.period_no), (sb.teacher_id, sa.weekday, sa.period_no)}
                break
        return changed

    # ---------------------------------------------------------------- one week
    def write_week(self, session, week: TeachingWeek, report: GenerationReport) -> None:
        rng, ctx = self.rng, self.ctx
        as_of = ctx.as_of
        t0 = time.perf_counter()
        week_id = ctx.week_ids[week.number]
        slots = [s for monday, s, _ in self.versions if monday <= week.monday][-1]
        rows = plan_week_entries(school_id=self.id, week_id=week_id, monday=week.monday, slots=slots,
                                 bells=self.bells, holidays=set(HOLIDAYS) | {self.extra_holiday})
        if not rows:
            return
        rows.sort(key=lambda r: (r["day"], r["period_no"], r["class_id"]))
        entry_ids = allocate_ids(session, LogbookEntry, len(rows))
        busy = {(r["teacher_id"], r["day"], r["period_no"]) for r in rows}
        grace = dt.timedelta(seconds=GRACE_SECONDS)
        absences, remarks, receipts = [], [], []
        absent_today: dict[tuple[int, dt.date], dict[int, bool]] = {}
        signing = 0.0
        for row, eid in zip(rows, entry_ids):
            row["id"] = eid
            cid, day, period = row["class_id"], row["day"], row["period_no"]
            row.update(lesson_title=None, curriculum_seq=None, class_remark=None, class_rating=None,
                       signed_at=None, signed_by=None, signature=None, content_hash=None)
            if rng.random() < SUBSTITUTION_RATE:  # dạy thay: another free teacher of the school
                free = [t for t in self.teachers if (t, day, period) not in busy]
                if free:
                    sub = rng.choice(free)
                    busy.add((sub, day, period))
                    row["teacher_id"], row["is_substitute"] = sub, True
            key = (cid, day)
            if key not in absent_today:  # a few pupils miss the whole day, most with permission
                absent_today[key] = {s: rng.random() < 0.6 for s in self.class_students[cid] if rng.random() < 0.02}
            subject = self.subject_code[row["subject_id"]]
            self.seq[(cid, subject)] += 1
            seq = self.seq[(cid, subject)]
            teacher = row["teacher_id"]
            start, end = row["period_start"], row["period_end"]
            # The behaviour model decides whether and when the teacher signs.
            _, p_missed, p_late = HABITS[self.habit.get(teacher, "punctual")]
            p_missed, p_late = min(0.9, p_missed / self.quality), min(0.9, p_late / self.quality)
            roll = rng.random()
            if roll < p_missed:
                when = None
            elif roll < p_missed + p_late:
                latest = dt.datetime.combine(day, dt.time(23, 59, 59))
                when = min(latest, end + grace + dt.timedelta(seconds=1 + int(rng.expovariate(1 / 1500))))
            else:  # on time: during the period's second half or within the grace
                span = int((end - start + grace).total_seconds())
                when = start + dt.timedelta(seconds=int(span * (0.55 + 0.45 * rng.random())))
            if when is not None and when > self.cert_end.get(teacher, when):
                when = None  # no valid certificate any more: cannot sign
            if when is None or when > as_of:
                row["status"] = EntryStatus.MISSED if day < as_of.date() else EntryStatus.PENDING
                report.statuses[row["status"].value] += 1
                continue
            row["lesson_title"] = _lesson_title(subject, seq)
            row["curriculum_seq"] = seq
            if rng.random() < 0.2:
                row["class_remark"] = rng.choice(CLASS_REMARKS)
            if self.rating:
                row["class_rating"] = rng.choices("ABCD", [70, 24, 5, 1])[0]
            absent = absent_today[key]
            entry_remarks = []
            if rng.random() < 0.05:
                entry_remarks.append((rng.choice(self.class_students[cid]), rng.choice(REMARKS)))
            data = entry_document(
                entry_id=eid, school_code=self.code, class_name=self.class_name[cid], day=day,
                period_no=period, subject_code=subject, teacher_code=self.staff_code[teacher],
                is_substitute=row["is_substitute"], lesson_title=row["lesson_title"],
                curriculum_seq=seq, class_remark=row["class_remark"], class_rating=row["class_rating"],
                absences=[(self.students[s], ex) for s, ex in absent.items()],
                remarks=[(self.students[s], text) for s, text in entry_remarks])
            row["status"] = classify_signing(when, start, end, grace)
            s0 = time.perf_counter()
            row["signature"] = self._signer(teacher).sign_detached(data, when)
            signing += time.perf_counter() - s0
            row["content_hash"] = sha256_hex(data)
            row["signed_at"], row["signed_by"] = when, teacher
            # the server's receipt of its decision, as the signing API keeps it (sealed by generate())
            receipts.append({"user_id": self.user_of[teacher], "idempotency_key": f"demo:{eid}", "entry_id": eid,
                             "status": row["status"], "received_at": when, **receipt_evidence(
                                 entry_id=eid, status=row["status"].value, received_at=when,
                                 signature=row["signature"], content_hash=row["content_hash"],
                                 signer_fingerprint=self._signer(teacher).fingerprint)})
            report.signed += 1
            report.statuses[row["status"].value] += 1
            absences += [{"entry_id": eid, "student_id": s, "excused": ex} for s, ex in absent.items()]
            remarks += [{"entry_id": eid, "student_id": s, "school_year_id": ctx.year, "term": week.term,
                         "text": text} for s, text in entry_remarks]
        t1 = time.perf_counter()
        closes, reopens = self._close_week(week, week_id, rows)
        t2 = time.perf_counter()
        bulk_insert(session, LogbookEntry, rows)
        bulk_insert(session, EntryAbsence, absences)
        bulk_insert(session, StudentRemark, remarks)
        bulk_insert(session, Submission, receipts)
        for row, new_id in zip(closes, allocate_ids(session, WeekClose, len(closes))):
            row["id"] = new_id
        bulk_insert(session, WeekClose, closes)
        bulk_insert(session, WeekReopen, [{"week_close_id": closes[i]["id"], **r} for i, r in reopens])
        report.entries += len(rows)
        report.week_closes += len(closes)
        report.close_statuses.update(c["status"].value for c in closes)
        report.timings["entries"] += t1 - t0 - signing
        report.timings["signing"] += signing
        report.timings["closes"] += t2 - t1
        report.timings["writing"] += time.perf_counter() - t2

    def _close_week(self, week: TeachingWeek, week_id: int, rows: list[dict]) -> tuple[list[dict], list]:
        """The week's closes (chốt sổ tuần): the homeroom teacher signs after the last school
        day, then the principal closes. Most class-weeks close on time (by the end of the next
        Monday), some late, some stay open or half-signed, a few are reopened by the principal
        (and mostly closed again — never on time then); in week 5 every school's first class is
        reopened and left so, so every term shows one. Nothing happens after ``as_of``."""
        rng, as_of = self.rng, self.ctx.as_of
        by_class: dict[int, list[dict]] = defaultdict(list)
        for r in rows:
            by_class[r["class_id"]].append(r)
        closes, reopens = [], []
        deadline = close_deadline(week.monday)
        for cid in sorted(by_class):
            entries = by_class[cid]
            last_day = max(r["day"] for r in entries)
            roll = rng.random()
            bad = 1 / self.quality
            never, half, late = 0.03 * bad, 0.06 * bad, 0.14 * bad
            reopened, stays_reopened = rng.random() < 0.03, rng.random() < 0.35
            if week.number == 5 and cid == min(by_class):  # scripted: each school has one reopened week
                reopened = stays_reopened = True
            after = last_day + dt.timedelta(days=1)  # the day after the last lesson day
            if roll < late:
                h_at = dt.datetime.combine(deadline.date() + dt.timedelta(days=rng.randrange(0, 6)),
                                           dt.time(rng.randrange(7, 21), rng.randrange(60)))
                p_at = max(h_at + dt.timedelta(minutes=rng.randrange(30, 24 * 60)),
                           deadline + dt.timedelta(minutes=1 + rng.randrange(60 * 24 * 3)))
            else:
                h_at = dt.datetime.combine(after, dt.time(rng.randrange(7, 21), rng.randrange(60)))
                p_at = min(deadline - dt.timedelta(minutes=rng.randrange(5, 120)),
                           h_at + dt.timedelta(minutes=rng.randrange(30, 24 * 60)))
                p_at = max(p_at, h_at + dt.timedelta(minutes=10))
            homeroom = self.homeroom[cid]
            if roll < never or h_at > as_of or h_at > self.cert_end[homeroom]:
                continue  # still open
            status = WeekCloseStatus.CLOSED
            if roll < never + half or p_at > as_of or p_at > self.cert_end[self.principal]:
                status = WeekCloseStatus.HOMEROOM_SIGNED
            data = week_document(school_code=self.code, class_name=self.class_name[cid], week_number=week.number,
                                 monday=week.monday, entries=[(r["id"], r["status"].value, r["content_hash"])
                                                              for r in entries])
            row = {"school_id": self.id, "class_id": cid, "week_id": week_id, "status": status,
                   "homeroom_signed_by": homeroom, "homeroom_signed_at": h_at,
                   "homeroom_signature": self._sign(homeroom, data, h_at),
                   "principal_signed_by": None, "closed_at": None, "principal_signature": None,
                   "summary_hash": sha256_hex(data), "closed_on_time": None, "reopen_count": 0}
            closes.append(row)
            if status != WeekCloseStatus.CLOSED:
                continue
            row.update(principal_signed_by=self.principal, closed_at=p_at,
                       principal_signature=self._sign(self.principal, data, p_at), closed_on_time=p_at <= deadline)
            if not reopened:
                continue
            at = p_at + dt.timedelta(hours=rng.randrange(2, 48))
            if at > as_of:
                continue
            reopens.append((len(closes) - 1, {"reopened_by": self.principal_user, "reopened_at": at,
                                              "reason": rng.choice(REOPEN_REASONS)}))
            row["reopen_count"] = 1
            h2 = at + dt.timedelta(hours=rng.randrange(1, 24))
            p2 = h2 + dt.timedelta(hours=rng.randrange(1, 24))
            if stays_reopened or p2 > as_of or p2 > self.cert_end[self.principal] or h2 > self.cert_end[homeroom]:
                row["status"] = WeekCloseStatus.REOPENED  # signatures of the first close stay on record
                continue
            row.update(homeroom_signed_at=h2, homeroom_signature=self._sign(homeroom, data, h2),
                       closed_at=p2, principal_signature=self._sign(self.principal, data, p2), closed_on_time=False)
        return closes, reopens

    def _sign(self, staff_id: int, data: bytes, at: dt.datetime) -> bytes:
        return self._signer(staff_id).sign_detached(data, at)

    def _signer(self, staff_id: int):
        held = self.signers.get(staff_id)
        return held if held is not None else self.keys.signer_for(f"staff-{staff_id}")
