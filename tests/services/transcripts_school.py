"""A lower-secondary class with a full timetable of subjects for the assessment-rule service
tests: the world's 6A1 (Toán: Lan, Ngữ văn: Minh, Tiếng Anh: Hà) plus five more scored subjects
(taught by Lan) and one comment-only subject (Giáo dục thể chất, Hà), so that the "at least 6
subjects" thresholds of TT22/2021 Art. 9.2 can be met; the school's seal; the principal Bình and
a vice-principal Phúc on the staff assignments."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from core.kernel.vocabulary import CertificateKind, Role, SchoolLevel, StaffRole
from core.storage.models import (
    AuditEvent,
    Certificate,
    CurriculumLoad,
    Staff,
    StaffAssignment,
    Subject,
    TeachingAssignment,
    UserAccount,
)

GOOD = {"regular": ["8", "7,5", "9", "6"], "mid": "7", "final": "8.5"}     # E1: 7.8
GOOD2 = {"regular": ["8", "7,5"], "mid": "7", "final": "8.5"}              # 55 / 7 = 7.86 → 7.9
LOW = {"regular": ["3", "3", "3", "3"], "mid": "3", "final": "3"}          # 3.0
COMMENT = {"regular": ["Đạt", "Đạt"], "mid": "Đạt", "final": "Đạt"}
EXTRA = [("KHTN", "Khoa học tự nhiên", 140), ("LSDL", "Lịch sử và Địa lí", 105), ("GDCD", "Giáo dục công dân", 35),
         ("CN", "Công nghệ", 35), ("TIN", "Tin học", 35)]
TEACHERS = {"TOAN": "lan", "NV": "minh", "TA": "ha", **{code: "lan" for code, _, _ in EXTRA}, "GDTC": "ha"}


SCORED = ("TOAN", "NV", "TA", "KHTN", "LSDL", "GDCD", "CN", "TIN")


def year_of(code: str, term=None) -> dict:
    """A student's good year in ``code`` with the number of regular assessments its periods need."""
    term = term or (GOOD2 if code in ("GDCD", "CN", "TIN") else GOOD)
    return {"term1": term, "term2": term}


def full_class(w):
    """The world with 6A1's eight scored subjects and GDTC assigned, the seal, and the school's
    leaders on the staff assignments (see the module's docstring)."""
    ids = w.ids
    with w.db.transaction() as s:
        for code, name, periods in EXTRA:
            subject = Subject(code=code, name=name, level=SchoolLevel.LOWER_SECONDARY, comment_only=False)
            s.add(subject)
            s.flush()
            ids[f"subj:{code}"] = subject.id
            s.add(CurriculumLoad(subject_id=subject.id, grade=6, periods_per_year=periods))
        gdtc = Subject(code="CS-GDTC", name="Giáo dục thể chất", level=SchoolLevel.LOWER_SECONDARY, comment_only=True)
        s.add(gdtc)
        s.flush()
        ids["subj:GDTC"] = gdtc.id
        for code in ("TOAN", "NV", "TA"):
            s.add(CurriculumLoad(subject_id=ids[f"subj:{code}"], grade=6, periods_per_year=140))
        for code, teacher in TEACHERS.items():
            s.add(TeachingAssignment(class_id=ids["6A1"], subject_id=ids[f"subj:{code}"], teacher_id=ids[teacher],
                                     valid_from=dt.date(2025, 9, 1)))
        seal = w.pki.issue_seal(f"school-{ids['A']}", "THCS Trần Văn Ơn")
        s.add(Certificate(kind=CertificateKind.SEAL, school_id=ids["A"], fingerprint=seal.fingerprint,
                          serial_hex=seal.serial_hex, subject=seal.subject, not_before=seal.not_before,
                          not_after=seal.not_after, der=seal.cert_der))
        vp = Staff(school_id=ids["A"], code="A01-PHT", full_name="Hồ Văn Phúc")
        s.add(vp)
        s.flush()
        ids["phuc"] = vp.id
        s.add(UserAccount(username="phuc", display_name=vp.full_name, role=Role.VICE_PRINCIPAL, school_id=ids["A"],
                          staff_id=vp.id))
        s.add(StaffAssignment(staff_id=ids["binh"], school_id=ids["A"], role=StaffRole.PRINCIPAL,
                              valid_from=dt.date(2020, 8, 1), valid_to=None))
        s.add(StaffAssignment(staff_id=vp.id, school_id=ids["A"], role=StaffRole.VICE_PRINCIPAL,
                              valid_from=dt.date(2024, 8, 1), valid_to=None))
        s.flush()
        ids["user:phuc"] = s.scalar(select(UserAccount.id).where(UserAccount.username == "phuc"))
    w.seal = w.keys.signer_for(f"school-{ids['A']}")
    return w


def count(w, model, *where) -> int:
    with w.db.reading() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def audits(w, action: str) -> int:
    return count(w, AuditEvent, AuditEvent.action == action)
