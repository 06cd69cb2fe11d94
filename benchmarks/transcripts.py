"""Transcript issuance speed (issue 4's target: 75 documents/s on this 2-core machine, so a
city's 132,000 first-grade transcripts are issued in under 30 minutes).

Two measurements in the same run:

1. **Straightforward pipeline** (the reference): the same page rendered, then its three
   signatures added with pyHanko's own ``sign_pdf`` (its CMS assembly, its dry-run size
   estimate), on every core. No database.
2. **sohoa's pipeline, end to end on PostgreSQL**: generated schools whose gradebooks are
   filled (untimed), then, timed, everything after: every subject teacher's signed
   confirmation, the drafts, the homeroom teacher's class batch (render + fields + certifying
   signature), the principal's school batch (approval signature + school seal = issued), all
   through :mod:`core.transcripts.workflow` with the audit trail, one process per core, each
   taking its share of the schools (as a city's server serves different principals at once).
   Then every issued document of one school is verified.

Usage: python benchmarks/transcripts.py [--schools 8 --classes 4 --students 35]
       [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--reference 120]
"""
from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONTENT = {
    "student": {"full_name": "Lê Minh Khôi", "personal_id": "079219000001", "birth_date": "14/03/2019", "sex": "Nam"},
    "school": "Trường Tiểu học Lê Quý Đôn", "school_code": "S0001", "class": "1A1", "grade": 1, "year": "2025-2026",
    "level_name": "Tiểu học", "version": 1,
    "subjects": [{"name": n, "term1": "", "term2": "", "year": "T", "comment": "Tiến bộ tốt, cần phát huy"}
                 for n in ("Tiếng Việt", "Toán", "Đạo đức", "Tự nhiên và Xã hội", "Giáo dục thể chất", "Âm nhạc",
                           "Mĩ thuật", "Hoạt động trải nghiệm", "Tiếng Anh (tự chọn)")],
    "summary": [("Kết quả giáo dục cả năm", "Hoàn thành tốt"), ("Khen thưởng", "—"),
                ("Hoàn thành chương trình lớp học", "Có")], "comment": "Chăm ngoan, học tốt",
}


def _reference_worker(args) -> int:
    pki_dir, count = args
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

    from core.signatures import KeyStore
    from core.signatures.pades import add_signature_fields
    from core.transcripts.pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD, SIGNATURE_FIELDS, render_transcript

    keys = KeyStore(Path(pki_dir))
    people = [(keys.signer_for(k).pyhanko_signer(), f, f == HOMEROOM_FIELD)
              for k, f in (("gvcn", HOMEROOM_FIELD), ("ht", PRINCIPAL_FIELD), ("seal", SEAL_FIELD))]
    for i in range(count):
        pdf = add_signature_fields(render_transcript(CONTENT, f"C{i:09d}", f"http://127.0.0.1:5006/verify?code=C{i}"),
                                   SIGNATURE_FIELDS)
        for signer, field, certify in people:
            meta = signers.PdfSignatureMetadata(field_name=field, certify=certify, md_algorithm="sha256",
                                                docmdp_permissions=MDPPerm.FILL_FORMS if certify else None,
                                                subfilter=SigSeedSubFilter.PADES)
            out = io.BytesIO()
            signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, signer=signer, output=out)
            pdf = out.getvalue()
    return count


def reference(documents: int, cores: int) -> float:
    from core.signatures import DemoPKI

    pki_dir = Path(tempfile.mkdtemp(prefix="sohoa-tref-"))
    pki = DemoPKI.create(pki_dir)
    pki.issue_personal("gvcn", "Nguyễn Thị Lan")
    pki.issue_personal("ht", "Phạm Văn Bình")
    pki.issue_seal("seal", "Trường Tiểu học Lê Quý Đôn")
    per = max(1, documents // cores)
    start = time.perf_counter()
    with mp.get_context("fork").Pool(cores) as pool:
        done = sum(pool.map(_reference_worker, [(str(pki_dir), per)] * cores))
    return done / (time.perf_counter() - start)


_DB = None


def _issue_worker(args):
    """One school's whole issuance, in whichever process is free (a school at a time, as
    principals come and go)."""
    global _DB
    url, pki_dir, school_id = args
    from core.demo.gradebook import generate_transcripts
    from core.storage.db import Database, make_engine

    if _DB is None:
        _DB = Database(make_engine(url))
    start = time.perf_counter()
    report = generate_transcripts(_DB, pki_dir=Path(pki_dir), school_ids=[school_id], classes_per_school=10_000,
                                  stages=("issued",), fill=False)
    return os.getpid(), time.perf_counter() - start, report.timings


def _warm_up(_):
    import core.demo.gradebook  # noqa: F401 - the imports, before timing
    time.sleep(0.2)
    return os.getpid()


def pipeline(url: str, schools: int, classes: int, students: int, cores: int) -> None:
    from sqlalchemy import func, select

    from core.demo.gradebook import generate_transcripts
    from core.demo.synthetic import Scale, generate
    from core.kernel.vocabulary import TranscriptStatus
    from core.signatures import DemoPKI
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import School, SubjectResult, Transcript
    from core.transcripts.verification import verify_transcript

    root = Path(tempfile.mkdtemp(prefix="sohoa-tbench-"))
    db = Database(make_engine(url))
    upgrade(db.engine)
    t0 = time.perf_counter()
    generate(db, Scale(districts=1, schools_per_district=schools, classes_per_school=classes, weeks=0,
                       students_per_class=students, seed=7), pki_dir=root / "pki", progress=True)
    filled = generate_transcripts(db, pki_dir=root / "pki", classes_per_school=10_000, stages=("gradebook",),
                                  renew_certificates=True, progress=True)
    print(f"setup (untimed): {filled.classes} classes, {filled.students} students with filled gradebooks "
          f"in {time.perf_counter() - t0:.0f} s")
    with db.reading() as session:
        school_ids = list(session.scalars(select(School.id).order_by(School.id)))
    db.engine.dispose()
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(cores) as pool:
        pool.map(_warm_up, range(cores))  # imports done before the clock starts
        warm = time.perf_counter()
        parts = list(pool.imap_unordered(_issue_worker, [(url, str(root / "pki"), s) for s in school_ids]))
    seconds = time.perf_counter() - start
    busy = time.perf_counter() - warm
    with db.reading() as session:
        issued = session.scalar(select(func.count()).where(Transcript.status == TranscriptStatus.ISSUED))
        busiest = session.scalar(select(Transcript.school_id).where(Transcript.status == TranscriptStatus.ISSUED)
                                 .group_by(Transcript.school_id).order_by(func.count().desc()).limit(1))
        codes = list(session.scalars(select(Transcript.verification_code).where(
            Transcript.status == TranscriptStatus.ISSUED, Transcript.school_id == busiest)))
        students = session.scalar(select(func.count(func.distinct(SubjectResult.student_id))))
    steps: dict[str, float] = {}
    for _, _, timings in parts:
        for k, v in timings.items():
            steps[k] = steps.get(k, 0.0) + v
    rate = issued / busy
    print(f"sohoa pipeline on {cores} cores, PostgreSQL: {issued} transcripts issued in {busy:.1f} s "
          f"= {rate:.1f} documents/s ({seconds:.1f} s with starting the processes: {issued / seconds:.1f}/s); "
          f"{students - issued} of {students} held back by a teacher whose certificate expired or was revoked")
    print("  per document, summed over processes: " + ", ".join(
        f"{k} {v / issued * 1000:.1f} ms" for k, v in steps.items() if k != "gradebook"))
    print(f"  132,000 grade-1 transcripts at this rate: {132_000 / rate / 60:.1f} minutes (target: < 30)")
    trust = DemoPKI.load(root / "pki").trust_store()
    t0 = time.perf_counter()
    valid = sum(verify_transcript(db, trust, code=c).current for c in codes)
    print(f"  verified {len(codes)} issued transcripts of one school: {valid} valid and current "
          f"({(time.perf_counter() - t0) / max(1, len(codes)) * 1000:.0f} ms each)")
    assert valid == len(codes), "an issued transcript did not verify"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=8)
    parser.add_argument("--classes", type=int, default=4, help="classes per school")
    parser.add_argument("--students", type=int, default=35, help="students per class")
    parser.add_argument("--reference", type=int, default=120, help="documents for the straightforward pipeline")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="server URL; a throwaway database is created there and dropped after")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"straightforward pipeline (render + pyHanko sign_pdf x3) on {cores} cores: "
          f"{reference(args.reference, cores):.1f} documents/s")
    from core.storage.scratch import create_scratch_database, drop_scratch_database

    url = create_scratch_database(args.postgres, "sohoa_tbench")
    try:
        pipeline(url, args.schools, args.classes, args.students, cores)
    finally:
        drop_scratch_database(args.postgres, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
