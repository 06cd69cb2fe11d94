"""Moving records between schools and people: the transfer package (hồ sơ chuyển trường) of
a student's issued transcripts, the same package for pushing a cohort to the city system and
returning it after admissions, and the handover of a leaving teacher's unsigned duties
(bàn giao).

Package format ``sohoa.transcript-package/1`` (documented in docs/packages.md): a ZIP with
``manifest.json`` (format, purpose, sending school, created time, one item per transcript with
the student's personal ID and name, school year, verification code, version and the SHA-256
of its PDF), ``manifest.p7s`` (a detached CMS signature of manifest.json by the sending
school's seal certificate) and ``transcripts/<code>.pdf`` (the issued, signed documents).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile

from sqlalchemy import select, update

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import NotFound, PackageRejected, PermissionDenied, RuleViolation
from core.kernel.vocabulary import CertificateKind, EntryStatus, Role, TranscriptStatus
from core.signatures.cms import TrustStore, verify_detached
from core.signatures.pades import verify_pdf
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    LogbookEntry,
    ReceivedTranscript,
    School,
    SchoolClass,
    SchoolYear,
    Staff,
    Student,
    TeachingAssignment,
    Transcript,
)

FORMAT = "sohoa.transcript-package/1"
#: A student's move to another school; a school's cohort pushed to the city system; the city's
#: return of the admitted students to each admitting school (docs/packages.md).
PURPOSES = ("transfer", "city-push", "city-return")



def export_package(db: Database, actor: Actor, school_id: int, seal_signer, *, student_ids: list[int],
                   purpose: str = "transfer", at: dt.datetime | None = None) -> bytes:
    """The signed package of the issued, current transcripts of ``student_ids``."""
    at = at or clock.now()
    if purpose not in PURPOSES[:2]:
        raise RuleViolation(f"a school exports for {' or '.join(PURPOSES[:2])}, not {purpose!r}")
    with db.transaction() as session:
        require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
        school = session.get(School, school_id)
        seal = session.scalar(select(Certificate).where(Certificate.fingerprint == seal_signer.fingerprint))
        if seal is None or seal.kind != CertificateKind.SEAL or seal.school_id != school_id:
            raise PermissionDenied("the package is signed with the sending school's seal")
        rows = session.execute(
            select(Transcript, Student, SchoolYear).join(Student, Student.id == Transcript.student_id)
            .join(SchoolYear, SchoolYear.id == Transcript.school_year_id)
            .where(Transcript.school_id == school_id, Transcript.student_id.in_(student_ids),
                   Transcript.status == TranscriptStatus.ISSUED).order_by(Transcript.id)).all()
        if not rows:
            raise NotFound("no issued transcript for these students")
        items = [{"personal_id": st.personal_id, "full_name": st.full_name, "birth_date": st.birth_date.isoformat(),
                  "sex": st.sex.value, "school_year": year.name, "verification_code": t.verification_code,
                  "version": t.version, "sha256": hashlib.sha256(t.document).hexdigest()} for t, st, year in rows]
        manifest = {"format": FORMAT, "purpose": purpose, "school_code": school.code, "school_name": school.name,
                    "created_at": at.isoformat(), "items": items}
        package = _write_package(manifest, {t.verification_code: t.document for t, _, _ in rows}, seal_signer, at)
        audit.record(session, actor, f"package.export.{purpose}", "school", school_id, school_id=school_id,
                     after={"transcripts": len(rows), "students": len(set(student_ids))})
        return package


def verified_package(package: bytes, trust: TrustStore, *, session=None) -> tuple[dict, dict[str, bytes]]:
    """Open a package and verify all of it — the seal over the manifest and every transcript's
    three signatures and hash — or raise :class:`PackageRejected` naming what failed. With a
    ``session``, a manifest signer registered in the database must be the seal of the school
    the manifest names."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(package))
        manifest_bytes, signature = zf.read("manifest.json"), zf.read("manifest.p7s")
        manifest = json.loads(manifest_bytes)
        documents = {item["verification_code"]: zf.read(f"transcripts/{item['verification_code']}.pdf")
                     for item in manifest["items"]}
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise PackageRejected(f"not a transcript package: {err}") from err
    if manifest.get("format") != FORMAT:
        raise PackageRejected(f"unknown package format {manifest.get('format')!r}")
    if manifest.get("purpose") not in PURPOSES:
        raise PackageRejected(f"unknown package purpose {manifest.get('purpose')!r}")
    seal = verify_detached(manifest_bytes, signature, trust)
    if not seal.valid:
        raise PackageRejected(f"the manifest's seal signature is {seal.indication} ({seal.sub_indication}): "
                              f"{seal.message}")
    if session is not None:
        known = session.execute(select(Certificate.kind, School.code).join(School, School.id == Certificate.school_id)
                                .where(Certificate.fingerprint == seal.signer_fingerprint)).first()
        if known is not None and (known[0] != CertificateKind.SEAL or known[1] != manifest.get("school_code")):
            raise PackageRejected("the manifest is not signed with the seal of the school it names")
    for item in manifest["items"]:
        pdf = documents[item["verification_code"]]
        if hashlib.sha256(pdf).hexdigest() != item["sha256"]:
            raise PackageRejected(f"transcript {item['verification_code']} does not match the manifest")
        results = verify_pdf(pdf, trust)
        bad = [f"{field}: {r.indication} {r.sub_indication or ''}".strip() for field, r in results if not r.valid]
        if bad or len(results) < 3:
            raise PackageRejected(f"transcript {item['verification_code']} is not validly signed: "
                                  + ("; ".join(bad) or "signatures missing"))
    return manifest, documents


def _write_package(manifest: dict, documents: dict[str, bytes], seal_signer, at: dt.datetime) -> bytes:
    data = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", data)
        zf.writestr("manifest.p7s", seal_signer.sign_detached(data, at))
        for code, pdf in documents.items():
            zf.writestr(f"transcripts/{code}.pdf", pdf)
    return out.getvalue()


def city_return_packages(actor: Actor, pushed: list[bytes], admissions: dict[str, str], department_seal,
                         trust: TrustStore, *, department_code: str, at: dt.datetime | None = None) -> dict[str, bytes]:
    """The city system's side after admissions (tuyển sinh lớp 6): from the schools' verified
    ``city-push`` packages, one ``city-return`` package per admitting school with the
    transcripts of the students it admitted (``admissions``: personal ID → school code), the
    manifest signed by the department's seal. The transcripts travel byte for byte, so the
    admitting school still verifies the issuing school's own signatures."""
    at = at or clock.now()
    if actor.role not in (Role.DEPARTMENT_SUPERVISOR, Role.ADMINISTRATOR):
        raise PermissionDenied("the department returns the admitted cohort")
    by_school: dict[str, tuple[list[dict], dict[str, bytes]]] = {}
    for package in pushed:
        manifest, documents = verified_package(package, trust)
        if manifest["purpose"] != "city-push":
            raise PackageRejected(f"a {manifest['purpose']} package is not a push to the city")
        for item in manifest["items"]:
            school = admissions.get(item["personal_id"])
            if school is None:
                continue
            items, docs = by_school.setdefault(school, ([], {}))
            items.append({**item, "school_code": manifest["school_code"]})
            docs[item["verification_code"]] = documents[item["verification_code"]]
    return {school: _write_package({"format": FORMAT, "purpose": "city-return", "school_code": department_code,
                                    "school_name": "", "admitted_to": school, "created_at": at.isoformat(),
                                    "items": items}, docs, department_seal, at)
            for school, (items, docs) in by_school.items()}


def import_package(db: Database, actor: Actor, receiving_school_id: int, package: bytes, trust: TrustStore,
                   at: dt.datetime | None = None) -> int:
    """Verify every signature of a package — the seal over the manifest and every transcript's
    signatures — and only then record its transcripts for the receiving school. A tampered
    or wrongly signed package is refused whole; a city-return package addressed to another
    school is refused too."""
    at = at or clock.now()
    require(actor, Permission.IMPORT_DATA, receiving_school_id)
    with db.reading() as session:
        manifest, documents = verified_package(package, trust, session=session)
        receiving_code = session.scalar(select(School.code).where(School.id == receiving_school_id))
    if manifest["purpose"] == "city-return" and manifest.get("admitted_to") != receiving_code:
        raise PackageRejected(f"this package is addressed to school {manifest.get('admitted_to')}")
    package_hash = hashlib.sha256(package).hexdigest()
    with db.transaction() as session:
        for item in manifest["items"]:
            student = session.scalar(select(Student).where(Student.personal_id == item["personal_id"]))
            if student is None:
                student = Student(personal_id=item["personal_id"], full_name=item["full_name"],
                                  birth_date=dt.date.fromisoformat(item["birth_date"]), sex=item["sex"])
                session.add(student)
                session.flush()
            if session.scalar(select(ReceivedTranscript.id).where(
                    ReceivedTranscript.receiving_school_id == receiving_school_id,
                    ReceivedTranscript.verification_code == item["verification_code"])):
                continue
            session.add(ReceivedTranscript(student_id=student.id, receiving_school_id=receiving_school_id,
                                           from_school_code=item.get("school_code", manifest["school_code"]),
                                           school_year=item["school_year"],
                                           verification_code=item["verification_code"],
                                           document=documents[item["verification_code"]], received_at=at,
                                           package_hash=package_hash))
        audit.record(session, actor, f"package.import.{manifest['purpose']}", "school", receiving_school_id,
                     school_id=receiving_school_id,
                     after={"from": manifest["school_code"], "transcripts": len(manifest["items"])})
    return len(manifest["items"])


def handover(db: Database, actor: Actor, from_staff_id: int, to_staff_id: int, reason: str,
             effective: dt.date | None = None) -> dict[str, int]:
    """Bàn giao: a leaving teacher's unsigned duties pass to the appointed replacement from
    ``effective`` on — unsigned periods, teaching assignments, homeroom classes. What the
    leaving teacher already signed is untouched."""
    effective = effective or clock.now().date()
    if not reason or not reason.strip():
        raise RuleViolation("a reason is required for a handover")
    with db.transaction() as session:
        leaving, replacement = session.get(Staff, from_staff_id), session.get(Staff, to_staff_id)
        if leaving is None or replacement is None or not actor.sees_school(leaving.school_id):
            raise NotFound("no such staff members")
        require(actor, Permission.RECORD_SUBSTITUTE, leaving.school_id)
        if replacement.school_id != leaving.school_id or not replacement.active:
            raise RuleViolation("the replacement must be active staff of the same school")
        periods = session.execute(update(LogbookEntry).where(
            LogbookEntry.teacher_id == from_staff_id, LogbookEntry.status == EntryStatus.PENDING,
            LogbookEntry.day >= effective).values(teacher_id=to_staff_id, is_substitute=True)).rowcount
        assignments = session.scalars(select(TeachingAssignment).where(
            TeachingAssignment.teacher_id == from_staff_id, TeachingAssignment.valid_to.is_(None))).all()
        for a in assignments:
            a.valid_to = effective - dt.timedelta(days=1)
            session.add(TeachingAssignment(class_id=a.class_id, subject_id=a.subject_id, teacher_id=to_staff_id,
                                           valid_from=effective, valid_to=None))
        homerooms = session.execute(update(SchoolClass).where(SchoolClass.homeroom_teacher_id == from_staff_id)
                                    .values(homeroom_teacher_id=to_staff_id)).rowcount
        moved = {"periods": periods, "teaching_assignments": len(assignments), "homeroom_classes": homerooms}
        audit.record(session, actor, "staff.handover", "staff", from_staff_id, school_id=leaving.school_id,
                     after={"to": to_staff_id, "effective": effective, **moved}, reason=reason.strip())
        return moved

