"""Moving records between schools and people: the transfer package (hồ sơ chuyển trường) of
a student's issued transcripts, the same package for pushing a cohort to the city system and
returning it after admissions, and the handover of a leaving teacher's unsigned duties
(bàn giao).

Package format ``sohoa.transcript-package/2`` (documented in docs/packages.md): a ZIP with
``manifest.json`` (format, purpose, a package id, the sending unit, **the addressee**, created
time, one item per transcript with the student's personal ID and name, school year,
verification code, version and the SHA-256 of its PDF), ``manifest.p7s`` (a detached CMS
signature of manifest.json by the sending unit's seal certificate) and
``transcripts/<code>.pdf`` (the issued, signed documents).

A receiver trusts a package by the trust policy (:mod:`core.signatures.policy`), never by a
chain to a trusted CA alone: the manifest must be sealed by the sending unit's own seal, each
transcript signed by the people of record and sealed by the school that issued it. A package
is imported only by its addressee, and only once (``imported_package``: importing it again
changes nothing and says so). Its archive is bounded — size, member count, each member's
declared size and compression ratio — before anything is decompressed, and nothing is
decompressed beyond the declared size.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.access import audit
from core.access.authz import Actor, Permission, require
from core.kernel import clock
from core.kernel.errors import NotFound, PackageRejected, PermissionDenied, RuleViolation
from core.kernel.vocabulary import CertificateKind, EntryStatus, Role, TranscriptStatus
from core.signatures.cms import TrustStore, verify_detached
from core.signatures.pades import verify_pdf
from core.signatures.policy import TrustPolicy, as_policy
from core.storage.db import Database
from core.storage.models import (
    Certificate,
    Department,
    District,
    ImportedPackage,
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
from core.transcripts.verification import MAX_PDF_BYTES, judge_transcript

FORMAT = "sohoa.transcript-package/2"
#: A student's move to another school; a school's cohort pushed to the city system; the city's
#: return of the admitted students to each admitting school (docs/packages.md).
PURPOSES = ("transfer", "city-push", "city-return")

#: Bounds read from the archive's directory before anything is decompressed: the archive's
#: size (a school's cohort of ~1,000 transcripts of ~100 kB fits), its members, each member's
#: declared size and how far it claims to inflate (PDFs are compressed already: ~1:1).
MAX_PACKAGE_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 2 + 4000
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_RATIO = 20
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,15}")
_PACKAGE_ID = re.compile(r"[0-9a-f]{32}")


def _rejected(message: str, message_vi: str) -> PackageRejected:
    return PackageRejected(message, message_vi=message_vi)


@dataclass(frozen=True)
class ImportOutcome:
    """What importing a package did: how many transcripts it recorded, or that it had been
    imported before (and when), in which case nothing was written."""

    package_id: str
    imported: int
    already_imported: bool
    imported_at: dt.datetime
    message: str
    message_vi: str


def export_package(db: Database, actor: Actor, school_id: int, seal_signer, *, student_ids: list[int],
                   to: str | None = None, purpose: str = "transfer", at: dt.datetime | None = None) -> bytes:
    """The signed package of the issued, current transcripts of ``student_ids``, addressed to
    the receiving school ``to`` (a transfer) or to the school's department (a push to the city)."""
    at = at or clock.now()
    if purpose not in PURPOSES[:2]:
        raise RuleViolation(f"a school exports for {' or '.join(PURPOSES[:2])}, not {purpose!r}",
                            message_vi="Trường chỉ xuất gói chuyển trường hoặc gói gửi lên thành phố")
    with db.transaction() as session:
        require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
        school = session.get(School, school_id)
        department = session.scalar(select(Department.code).join(District, District.department_id == Department.id)
                                    .where(District.id == school.district_id))
        addressee = department if purpose == "city-push" else (to or "").strip()
        if not _CODE.fullmatch(addressee or "") or addressee == school.code:
            raise RuleViolation("a transfer package names the receiving school (its code)",
                                message_vi="Gói chuyển trường phải ghi mã trường nhận")
        seal = session.scalar(select(Certificate).where(Certificate.fingerprint == seal_signer.fingerprint))
        if seal is None or seal.kind != CertificateKind.SEAL or seal.school_id != school_id:
            raise PermissionDenied("the package is signed with the sending school's seal",
                                   message_vi="Gói phải được ký bằng con dấu số của trường gửi")
        rows = session.execute(
            select(Transcript, Student, SchoolYear).join(Student, Student.id == Transcript.student_id)
            .join(SchoolYear, SchoolYear.id == Transcript.school_year_id)
            .where(Transcript.school_id == school_id, Transcript.student_id.in_(student_ids),
                   Transcript.status == TranscriptStatus.ISSUED).order_by(Transcript.id)).all()
        if not rows:
            raise NotFound("no issued transcript for these students",
                           message_vi="Không có học bạ đã cấp của các học sinh này")
        items = [{"personal_id": st.personal_id, "full_name": st.full_name, "birth_date": st.birth_date.isoformat(),
                  "sex": st.sex.value, "school_year": year.name, "verification_code": t.verification_code,
                  "version": t.version, "sha256": hashlib.sha256(t.document).hexdigest()} for t, st, year in rows]
        manifest = {"format": FORMAT, "purpose": purpose, "package_id": uuid.uuid4().hex, "school_code": school.code,
                    "school_name": school.name, "addressee": addressee, "created_at": at.isoformat(), "items": items}
        package = _write_package(manifest, {t.verification_code: t.document for t, _, _ in rows}, seal_signer, at)
        audit.record(session, actor, f"package.export.{purpose}", "school", school_id, school_id=school_id,
                     after={"transcripts": len(rows), "students": len(set(student_ids)), "to": addressee,
                            "package_id": manifest["package_id"]})
        return package


def read_package(package: bytes) -> tuple[bytes, bytes, dict, dict[str, bytes]]:
    """The manifest's bytes, its signature, the manifest and the transcripts of a package, read
    within the bounds (:data:`MAX_PACKAGE_BYTES`, :data:`MAX_MEMBERS`, each member's declared
    size and ratio) checked on the archive's directory before anything is decompressed; a
    member that inflates past its declared size is cut there and refused."""
    if len(package) > MAX_PACKAGE_BYTES:
        raise _rejected(f"the package is larger than {MAX_PACKAGE_BYTES // 2**20} MB",
                        f"Gói lớn hơn {MAX_PACKAGE_BYTES // 2**20} MB; hãy chia thành nhiều gói")
    try:
        zf = zipfile.ZipFile(io.BytesIO(package))
        members = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise _rejected(f"not a transcript package: {err}", "Tệp không phải gói hồ sơ học bạ") from err
    if len(members) > MAX_MEMBERS:
        raise _rejected(f"the package has {len(members)} members, more than {MAX_MEMBERS}",
                        f"Gói có {len(members)} tệp, vượt quá {MAX_MEMBERS}")
    names = [m.filename for m in members]
    if len(set(names)) != len(names):
        raise _rejected("the package names a member twice", "Gói có hai tệp trùng tên")
    total = 0
    for m in members:
        limit = (MAX_MANIFEST_BYTES if m.filename == "manifest.json" else
                 MAX_SIGNATURE_BYTES if m.filename == "manifest.p7s" else MAX_PDF_BYTES)
        total += m.file_size
        if m.file_size > limit or m.file_size > MAX_RATIO * max(m.compress_size, 1) + 4096 \
                or total > MAX_PACKAGE_BYTES:
            raise _rejected(f"member {m.filename!r} declares {m.file_size} bytes from {m.compress_size}: "
                            "refused unread (an archive bomb or not a transcript package)",
                            f"Tệp {m.filename!r} trong gói khai báo {m.file_size} byte (nén {m.compress_size}): "
                            "gói bị từ chối, không giải nén")

    def member(name: str) -> bytes:
        try:
            info = zf.getinfo(name)
            with zf.open(info) as f:
                data = f.read(info.file_size + 1)
        except KeyError as err:
            raise _rejected(f"not a transcript package: {name} is missing", f"Gói thiếu tệp {name}") from err
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as err:  # cut at its declared size
            raise _rejected(f"member {name!r} does not inflate to its declared size and checksum: {err}",
                            f"Tệp {name!r} trong gói bị hỏng hoặc khai báo sai kích thước") from err
        if len(data) != info.file_size:
            raise _rejected(f"member {name!r} does not match its declared size",
                            f"Tệp {name!r} trong gói không đúng kích thước khai báo")
        return data

    manifest_bytes, signature = member("manifest.json"), member("manifest.p7s")
    try:
        manifest = json.loads(manifest_bytes)
        codes = [item["verification_code"] for item in manifest["items"]]
    except (ValueError, KeyError, TypeError) as err:
        raise _rejected(f"not a transcript package: unreadable manifest ({err})",
                        "Tệp không phải gói hồ sơ học bạ (không đọc được manifest.json)") from err
    expected = {"manifest.json", "manifest.p7s", *(f"transcripts/{c}.pdf" for c in codes)}
    if set(names) != expected or len(codes) != len(set(codes)):
        raise _rejected("the package's members are not the manifest's transcripts",
                        "Các tệp trong gói không khớp với danh sách trong manifest.json")
    return manifest_bytes, signature, manifest, {c: member(f"transcripts/{c}.pdf") for c in codes}


def verified_package(package: bytes, trust: TrustStore | TrustPolicy, *, session: Session,
                     addressee: str | None = None) -> tuple[dict, dict[str, bytes]]:
    """Open a package and verify all of it under the trust policy, or raise
    :class:`PackageRejected` naming what failed (in both languages): the manifest sealed by the
    sending unit's own seal (registered as its seal, or its CA's organisation certificate
    carrying its identifier), addressed to ``addressee`` when given, and every transcript
    byte for byte what its manifest entry says, signed by its school's people of record and
    sealed by that school (a transcript this system issued must be the very document it issued)."""
    policy = as_policy(trust)
    manifest_bytes, signature, manifest, documents = read_package(package)
    if manifest.get("format") != FORMAT:
        raise _rejected(f"unknown package format {manifest.get('format')!r} (a package names its addressee "
                        f"since {FORMAT})", "Định dạng gói không được hỗ trợ; hãy đề nghị nơi gửi xuất lại gói")
    if manifest.get("purpose") not in PURPOSES:
        raise _rejected(f"unknown package purpose {manifest.get('purpose')!r}", "Mục đích của gói không hợp lệ")
    sender, to = str(manifest.get("school_code") or ""), str(manifest.get("addressee") or "")
    if not _PACKAGE_ID.fullmatch(str(manifest.get("package_id"))) or not _CODE.fullmatch(sender) \
            or not _CODE.fullmatch(to):
        raise _rejected("the manifest lacks its package id, sender or addressee",
                        "manifest.json thiếu mã gói, đơn vị gửi hoặc đơn vị nhận")
    if addressee is not None and to != addressee:
        raise _rejected(f"this package is addressed to {to}, not to {addressee}",
                        f"Gói này gửi cho đơn vị {to}, không phải {addressee}; không nhập")
    seal = verify_detached(manifest_bytes, signature, policy.trust)
    if seal.valid and manifest["purpose"] == "city-return" and \
            session.scalar(select(Department.id).where(Department.code == sender)) is None:
        raise _rejected(f"a city-return comes from a department of this system, not {sender}",
                        f"Gói trả về sau tuyển sinh phải do Sở gửi, không phải {sender}")
    seal = policy.check_seal(session, seal, unit_code=sender)
    if not seal.valid:
        raise _rejected(f"the manifest's seal signature is {seal.indication} ({seal.sub_indication}): {seal.message}",
                        f"Chữ ký con dấu trên manifest.json không hợp lệ: {seal.message_vi or seal.message}")
    for item in manifest["items"]:
        code = item["verification_code"]
        pdf = documents[code]
        if hashlib.sha256(pdf).hexdigest() != item.get("sha256"):
            raise _rejected(f"transcript {code} does not match the manifest",
                            f"Học bạ {code} không khớp với manifest.json")
        issuer = str(item.get("school_code", sender))
        report = _judged(session, policy, code, issuer, pdf)
        if not report.valid:
            bad = [f"{s.role}: {s.verification.indication} {s.verification.sub_indication or ''}".strip()
                   for s in report.signatures if not s.verification.valid]
            bad_vi = [s.verification.message_vi or s.verification.message for s in report.signatures
                      if not s.verification.valid]
            raise _rejected(f"transcript {code} is not validly signed: " + "; ".join(bad),
                            f"Học bạ {code} không được ký hợp lệ: " + "; ".join(bad_vi))
    return manifest, documents


def _judged(session: Session, policy: TrustPolicy, code: str, issuer: str, pdf: bytes):
    """A package's transcript under the policy: one this system issued must be that very
    document, held to its people of record; another school's, to its seal."""
    school = session.execute(select(School.id).where(School.code == issuer)).first()
    if school is None:
        return judge_transcript(session, policy, verify_pdf(pdf, policy.trust), school_code=issuer, school_id=None,
                                homeroom_id=None, principal_id=None, target=f"transcript {code}")
    row = session.execute(select(Transcript.status, Transcript.document, Transcript.homeroom_signed_by,
                                 Transcript.principal_signed_by)
                          .where(Transcript.verification_code == code, Transcript.school_id == school.id)).first()
    if row is None or row.status != TranscriptStatus.ISSUED or row.document != pdf:
        why = "not issued" if row is None else ("cancelled" if row.status == TranscriptStatus.CANCELLED
                                                else "not the issued document")
        raise _rejected(f"transcript {code} of {issuer} is {why} in this system",
                        f"Học bạ {code} của trường {issuer} không phải học bạ đang có hiệu lực do hệ thống cấp")
    return judge_transcript(session, policy, verify_pdf(pdf, policy.trust), school_code=issuer, school_id=school.id,
                            homeroom_id=row.homeroom_signed_by, principal_id=row.principal_signed_by,
                            target=f"transcript {code}")


def _write_package(manifest: dict, documents: dict[str, bytes], seal_signer, at: dt.datetime) -> bytes:
    data = json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", data)
        zf.writestr("manifest.p7s", seal_signer.sign_detached(data, at))
        for code, pdf in documents.items():
            zf.writestr(f"transcripts/{code}.pdf", pdf)
    return out.getvalue()


def school_and_students(db: Database, actor: Actor, school_code: str, permission: Permission,
                        personal_ids: list[str] = ()) -> tuple[int, list[int]]:
    """The school of ``school_code`` and the students of ``personal_ids`` (số định danh cá
    nhân), as an operator names them on the command line, for an actor who holds ``permission``
    at that school (checked before any student is looked up); each one unknown is named."""
    with db.reading() as session:
        school_id = session.scalar(select(School.id).where(School.code == school_code.strip()))
        if school_id is None:
            raise NotFound(f"no school with the code {school_code!r}",
                           message_vi=f"Không có trường nào mã {school_code!r}")
        require(actor, permission, school_id)
        wanted = [p.strip() for p in personal_ids if p.strip()]
        found = dict(session.execute(select(Student.personal_id, Student.id)
                                     .where(Student.personal_id.in_(wanted))).all()) if wanted else {}
    missing = [p for p in wanted if p not in found]
    if missing:
        raise NotFound(f"no student with the personal ID {', '.join(missing)}",
                       message_vi=f"Không có học sinh nào có số định danh {', '.join(missing)}")
    return school_id, [found[p] for p in wanted]


@dataclass(frozen=True)
class ExportableStudent:
    """A student with an issued, current transcript at a school: what a package can carry."""

    student_id: int
    personal_id: str
    full_name: str
    class_name: str
    transcripts: int


def exportable_students(db: Database, actor: Actor, school_id: int) -> list[ExportableStudent]:
    """The students of ``school_id`` with at least one issued transcript, by class and name,
    for the principal choosing whom a package carries (checked: the right to issue there)."""
    require(actor, Permission.ISSUE_TRANSCRIPT, school_id)
    with db.reading() as session:
        rows = session.execute(
            select(Student.id, Student.personal_id, Student.full_name, SchoolClass.name, Transcript.id)
            .join(Transcript, Transcript.student_id == Student.id)
            .join(SchoolClass, SchoolClass.id == Transcript.class_id)
            .where(Transcript.school_id == school_id, Transcript.status == TranscriptStatus.ISSUED)
            .order_by(SchoolClass.name, Student.full_name, Student.id)).all()
    found: dict[int, ExportableStudent] = {}
    for student_id, personal_id, name, class_name, _ in rows:
        before = found.get(student_id)
        found[student_id] = ExportableStudent(student_id, personal_id, name, before.class_name if before else
                                              class_name, (before.transcripts if before else 0) + 1)
    return list(found.values())


def city_return_packages(db: Database, actor: Actor, pushed: list[bytes], admissions: dict[str, str],
                         department_seal, trust: TrustStore | TrustPolicy, *, department_code: str,
                         at: dt.datetime | None = None) -> dict[str, bytes]:
    """The city system's side after admissions (tuyển sinh lớp 6): from the schools' verified
    ``city-push`` packages addressed to the department, one ``city-return`` package per
    admitting school, addressed to it, with the transcripts of the students it admitted
    (``admissions``: personal ID → school code), the manifest signed by the department's seal.
    The transcripts travel byte for byte, so the admitting school still verifies the issuing
    school's own signatures."""
    at = at or clock.now()
    if actor.role not in (Role.DEPARTMENT_SUPERVISOR, Role.ADMINISTRATOR):
        raise PermissionDenied("the department returns the admitted cohort",
                               message_vi="Chỉ Sở trả hồ sơ học bạ sau tuyển sinh")
    by_school: dict[str, tuple[list[dict], dict[str, bytes]]] = {}
    with db.reading() as session:
        for package in pushed:
            manifest, documents = verified_package(package, trust, session=session, addressee=department_code)
            if manifest["purpose"] != "city-push":
                raise _rejected(f"a {manifest['purpose']} package is not a push to the city",
                                "Gói này không phải gói gửi lên thành phố")
            for item in manifest["items"]:
                school = admissions.get(item["personal_id"])
                if school is None:
                    continue
                items, docs = by_school.setdefault(school, ([], {}))
                items.append({**item, "school_code": manifest["school_code"]})
                docs[item["verification_code"]] = documents[item["verification_code"]]
    return {school: _write_package({"format": FORMAT, "purpose": "city-return", "package_id": uuid.uuid4().hex,
                                    "school_code": department_code, "school_name": "", "addressee": school,
                                    "created_at": at.isoformat(), "items": items}, docs, department_seal, at)
            for school, (items, docs) in by_school.items()}


_ADMISSION = re.compile(r"\s*(\d{12})\s*[,;\t ]\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,15})\s*")


def parse_admissions(text: str) -> dict[str, str]:
    """The admissions result (kết quả tuyển sinh) as typed or pasted: one student a line, the
    personal ID (số định danh cá nhân, 12 digits) and the admitting school's code, separated by
    a comma, semicolon, tab or space; blank lines are skipped. A line that is neither, or a
    student named twice with two schools, is refused naming the line."""
    admissions: dict[str, str] = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        found = _ADMISSION.fullmatch(line)
        if found is None:
            raise RuleViolation(f"admissions line {n} is not a 12-digit personal ID and a school code: {line[:60]!r}",
                                message_vi=f"Dòng {n} của kết quả tuyển sinh không đúng dạng \"số định danh 12 chữ "
                                           f"số, mã trường\": {line[:60]!r}")
        pid, code = found.groups()
        if admissions.get(pid, code) != code:
            raise RuleViolation(f"admissions line {n}: {pid} is admitted to {admissions[pid]} and {code}",
                                message_vi=f"Dòng {n} của kết quả tuyển sinh: học sinh {pid} trúng tuyển hai "
                                           f"trường {admissions[pid]} và {code}")
        admissions[pid] = code
    if not admissions:
        raise RuleViolation("no admissions given", message_vi="Chưa có kết quả tuyển sinh (số định danh, mã trường)")
    return admissions


def department_city_return(db: Database, actor: Actor, pushed: list[bytes], admissions_text: str,
                           department_seal, trust: TrustStore | TrustPolicy,
                           at: dt.datetime | None = None) -> tuple[bytes, dict[str, int]]:
    """The department supervisor's return after admissions, as the console runs it: the
    actor's own department (never a code typed in), the admissions parsed
    (:func:`parse_admissions`; every admitting school must be one of this system's), the
    returns written by :func:`city_return_packages`, audited (one event per admitting school,
    in its chain), and bundled as one ZIP of
    ``<school code>.zip`` packages to hand to each school; with how many transcripts each holds."""
    if actor.role not in (Role.DEPARTMENT_SUPERVISOR, Role.ADMINISTRATOR) or actor.department_id is None:
        raise PermissionDenied("the department returns the admitted cohort",
                               message_vi="Chỉ Sở trả hồ sơ học bạ sau tuyển sinh")
    if not pushed:
        raise RuleViolation("no pushed package given", message_vi="Chưa chọn gói nào các trường gửi lên thành phố")
    admissions = parse_admissions(admissions_text)
    with db.reading() as session:
        department_code = session.scalar(select(Department.code).where(Department.id == actor.department_id))
        known = dict(session.execute(select(School.code, School.id)
                                     .where(School.code.in_(set(admissions.values())))).all())
    unknown = sorted(set(admissions.values()) - set(known))
    if unknown:
        raise NotFound(f"no school with the code {', '.join(unknown)}",
                       message_vi=f"Không có trường nào mã {', '.join(unknown)}")
    returns = city_return_packages(db, actor, pushed, admissions, department_seal, trust,
                                   department_code=department_code, at=at)
    if not returns:
        raise NotFound("none of the admitted students is in these packages",
                       message_vi="Không học sinh trúng tuyển nào có trong các gói đã chọn")
    counts = {school: len(json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))["items"])
              for school, data in returns.items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for school, data in sorted(returns.items()):
            zf.writestr(f"{school}.zip", data)
    with db.transaction() as session:  # one event per admitting school, in that school's chain
        for school, n in sorted(counts.items()):
            audit.record(session, actor, "package.export.city-return", "department", actor.department_id,
                         school_id=known[school], after={"to": school, "transcripts": n, "pushed": len(pushed),
                                                         "admissions": len(admissions)})
    return out.getvalue(), counts


def import_package(db: Database, actor: Actor, receiving_school_id: int, package: bytes,
                   trust: TrustStore | TrustPolicy, at: dt.datetime | None = None) -> ImportOutcome:
    """Verify all of a package addressed to the receiving school — the seal over the manifest
    and every transcript's signatures, under the trust policy — and only then record its
    transcripts, once: a package already imported (by its id) is a no-op that says so. A
    package addressed elsewhere, tampered or wrongly signed is refused whole."""
    at = at or clock.now()
    require(actor, Permission.IMPORT_DATA, receiving_school_id)
    package_hash = hashlib.sha256(read_package(package)[0]).hexdigest()  # the package is its signed manifest
    with db.reading() as session:
        # the very manifest this school verified and imported before: nothing to do again
        seen = session.scalar(select(ImportedPackage.package_id).where(
            ImportedPackage.package_sha256 == package_hash,
            ImportedPackage.receiving_school_id == receiving_school_id))
        if seen is not None:
            return _already(session, seen, package_hash)
        receiving_code = session.scalar(select(School.code).where(School.id == receiving_school_id))
        manifest, documents = verified_package(package, trust, session=session, addressee=receiving_code)
        before = _already(session, manifest["package_id"], package_hash)
    if before is not None:
        return before
    try:
        with db.transaction() as session:
            session.add(ImportedPackage(package_id=manifest["package_id"], receiving_school_id=receiving_school_id,
                                        sender_code=manifest["school_code"], purpose=manifest["purpose"],
                                        package_sha256=package_hash, transcripts=len(manifest["items"]),
                                        imported_at=at, imported_by=actor.user_id))
            session.flush()
            recorded = 0
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
                recorded += 1
            audit.record(session, actor, f"package.import.{manifest['purpose']}", "school", receiving_school_id,
                         school_id=receiving_school_id,
                         after={"from": manifest["school_code"], "package_id": manifest["package_id"],
                                "transcripts": len(manifest["items"]), "recorded": recorded})
    except IntegrityError:  # the same package imported at the same moment by another request
        with db.reading() as session:
            before = _already(session, manifest["package_id"], package_hash)
        if before is None:
            raise
        return before
    return ImportOutcome(manifest["package_id"], recorded, False, at,
                         f"imported {recorded} transcripts from {manifest['school_code']}",
                         f"Đã nhập {recorded} học bạ từ {manifest['school_code']}")


def _already(session: Session, package_id: str, package_hash: str) -> ImportOutcome | None:
    row = session.scalar(select(ImportedPackage).where(ImportedPackage.package_id == package_id))
    if row is None:
        return None
    if row.package_sha256 != package_hash:
        raise _rejected(f"package id {package_id} was imported before with other content",
                        f"Mã gói {package_id} đã được nhập trước đây với nội dung khác; không nhập")
    return ImportOutcome(package_id, 0, True, row.imported_at,
                         f"this package was already imported on {row.imported_at:%d/%m/%Y %H:%M}; nothing was "
                         "recorded again",
                         f"Gói này đã được nhập lúc {row.imported_at:%H:%M ngày %d/%m/%Y}; không ghi thêm gì")


def handover(db: Database, actor: Actor, from_staff_id: int, to_staff_id: int, reason: str,
             effective: dt.date | None = None) -> dict[str, int]:
    """Bàn giao: a leaving teacher's unsigned duties pass to the appointed replacement from
    ``effective`` on — unsigned periods, teaching assignments, homeroom classes. What the
    leaving teacher already signed is untouched."""
    effective = effective or clock.now().date()
    if not reason or not reason.strip():
        raise RuleViolation("a reason is required for a handover", message_vi="Cần ghi lý do bàn giao")
    with db.transaction() as session:
        leaving, replacement = session.get(Staff, from_staff_id), session.get(Staff, to_staff_id)
        if leaving is None or replacement is None or not actor.sees_school(leaving.school_id):
            raise NotFound("no such staff members", message_vi="Không có các cán bộ này")
        require(actor, Permission.RECORD_SUBSTITUTE, leaving.school_id)
        if replacement.school_id != leaving.school_id or not replacement.active:
            raise RuleViolation("the replacement must be active staff of the same school",
                                message_vi="Người nhận bàn giao phải là cán bộ đang công tác tại cùng trường")
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

