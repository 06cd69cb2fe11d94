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

from core import audit, clock
from core.authz import Actor, Permission, require
from core.errors import NotFound, PermissionDenied, RuleViolation
from core.signatures.cms import TrustStore, verify_detached
from core.signatures.pades import verify_pdf
from core.storage.db import Database
from core.storage.models import (
    Certificate, CertificateKind, EntryStatus, LogbookEntry, ReceivedTranscript, School, SchoolClass, SchoolYear,
    Staff, Student, TeachingAssignment, Transcript, TranscriptStatus,
)

FORMAT = "sohoa.transcript-package/1"


class PackageRejected(RuleViolation):
    """A package that fails verification: nothing from it is imported."""


def export_package(db: Database, actor: Actor, school_id: int, seal_signer, *, student_ids: list[int],
                   purpose: str = "transfer", at: dt.datetime | None = None) -> bytes:
    """The signed package of the issued, current transcripts of ``student_ids``."""
    at = at or clock.now()
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
        manifest = json.dumps({"format": FORMAT, "purpose": purpose, "school_code": school.code,
                               "school_name": school.name, "created_at": at.isoformat(), "items": items},
                              ensure_ascii=False, sort_keys=True, indent=1).encode()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", manifest)
            zf.writestr("manifest.p7s", seal_signer.sign_detached(manifest, at))
            for t, _, _ in rows:
                zf.writestr(f"transcripts/{t.verification_code}.pdf", t.document)
        audit.record(session, actor, f"package.export.{purpose}", "school", school_id, school_id=school_id,
                     after={"transcripts": len(rows), "students": len(set(student_ids))})
        return out.getvalue()


def import_package(db: Database, actor: Actor, receiving_school_id: int, package: bytes, trust: TrustStore,
                   at: dt.datetime | None = None) -> int:
    """Verify every signature of a package — the seal over the manifest and every transcript's
    signatures — and only then record its transcripts for the receiving school. A tampered
    or wrongly signed package is refused whole."""
    at = at or clock.now()
    require(actor, Permission.IMPORT_DATA, receiving_school_id)
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
    seal = verify_detached(manifest_bytes, signature, trust)
    if not seal.valid:
        raise PackageRejected(f"the manifest's seal signature is {seal.indication} ({seal.sub_indication}): "
                              f"{seal.message}")
    with db.reading() as session:
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
                                           from_school_code=manifest["school_code"], school_year=item["school_year"],
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

