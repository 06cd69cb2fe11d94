"""Transcript issuance speed (issue 4's target: 75 documents/s on this 2-core machine, so a
city's 132,000 first-grade transcripts are issued in under 30 minutes), now with PAdES B-LTA
(issue "Transcripts valid for life": the same target, with every issued transcript B-LTA).

Measured in the same run:

1. **Straightforward pipelines** (the references), no database, on every core: the page
   rendered, then its three signatures added with pyHanko's own ``sign_pdf`` — B-B (its CMS
   assembly, its dry-run size estimate), and B-LTA (``use_pades_lta``, ``embed_validation_info``,
   a fetching validation context and an ``HTTPTimeStamper``, as pyHanko's docs show).
2. **sohoa's pipeline, end to end on PostgreSQL**: generated schools whose gradebooks are
   filled (untimed, into a template database), then, timed, everything after: every subject
   teacher's signed confirmation, the drafts, the homeroom teacher's class batch (render +
   fields + certifying signature), the principal's school batch (approval signature + school
   seal = issued), all through :mod:`core.transcripts.workflow` with the audit trail, one process
   per core, each taking its share of the schools. Each round copies the template and issues
   everything once per mode, alternated: ``bb_before`` (no TSA: PAdES B-B with pyHanko's own
   tokenizer, the product whose figure was 79.5-84/s), ``bb`` (B-B now) and ``lta``
   (``SOHOA_TSA_URL`` set: every signature timestamped, the DSS and a document timestamp at
   issuance, chunks signed in phases). The demo CA's responder (CRL, OCSP, TSA) runs in this
   process and its CPU is counted, as are the workers' and PostgreSQL's. Medians, and the
   B-LTA/B-B ratios of each round, are printed: the machine is shared, so compare within a run.
   A few issued transcripts of the first round are verified (untimed).

Usage: python benchmarks/transcripts.py [--schools 8 --classes 4 --students 35 --rounds 3]
       [--modes bb lta] [--reference 120] [--lta-reference 40] [--tsa-latency 0.03]
       [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
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

from cryptography.hazmat.primitives import serialization

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


def _lta_reference_worker(args) -> int:
    """The straightforward pyHanko B-LTA pipeline: every signature by pyHanko's own signer with
    ``embed_validation_info=True, use_pades_lta=True`` and a validation context fetching
    revocation data, one ``HTTPTimeStamper`` per process (pyHanko's docs: reuse it); each
    signature adds its revision, then one with its DSS and a document timestamp."""
    pki_dir, count, tsa = args
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers, timestamps
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
    from pyhanko_certvalidator import ValidationContext

    from core.signatures import DemoPKI, KeyStore
    from core.signatures.pades import _stamp_style, add_signature_fields
    from core.transcripts.pdf import HOMEROOM_FIELD, PRINCIPAL_FIELD, SEAL_FIELD, SIGNATURE_FIELDS, render_transcript

    pki = DemoPKI.load(Path(pki_dir))
    root = asn1_x509.Certificate.load(pki.root.public_bytes(serialization.Encoding.DER))
    issuing = asn1_x509.Certificate.load(pki.issuing.public_bytes(serialization.Encoding.DER))
    keys = KeyStore(Path(pki_dir))
    stamper = timestamps.HTTPTimeStamper(tsa)
    people = [(keys.signer_for(k).pyhanko_signer(), f, f == HOMEROOM_FIELD)
              for k, f in (("gvcn", HOMEROOM_FIELD), ("ht", PRINCIPAL_FIELD), ("seal", SEAL_FIELD))]
    for i in range(count):
        pdf = add_signature_fields(render_transcript(CONTENT, f"L{i:09d}", f"http://127.0.0.1:5006/verify?code=L{i}"),
                                   SIGNATURE_FIELDS)
        for signer, field, certify in people:
            meta = signers.PdfSignatureMetadata(
                field_name=field, certify=certify, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
                docmdp_permissions=MDPPerm.FILL_FORMS if certify else None, embed_validation_info=True,
                use_pades_lta=True, validation_context=ValidationContext(
                    trust_roots=[root], other_certs=[issuing], allow_fetching=True, revocation_mode="require"))
            out = io.BytesIO()
            signers.PdfSigner(meta, signer=signer, timestamper=stamper, stamp_style=_stamp_style()).sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
            pdf = out.getvalue()
    return count


def reference_lta(documents: int, cores: int, pki_dir: Path, tsa: str) -> float:
    per = max(1, documents // cores)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(cores) as pool:
        done = sum(pool.map(_lta_reference_worker, [(str(pki_dir), per, tsa)] * cores))
    return done / (time.perf_counter() - start)


_DB: dict = {}


def _init_mode(mode: str, tsa: str | None):
    """A worker of one mode: ``lta`` has a timestamp authority (SOHOA_TSA_URL), the others not;
    ``bb_before`` also puts back pyHanko's own tokenizer (the product before this issue)."""
    if mode == "lta":
        os.environ["SOHOA_TSA_URL"] = tsa
    else:
        os.environ.pop("SOHOA_TSA_URL", None)
    import core.demo.gradebook  # noqa: F401 - the imports, before timing

    if mode == "bb_before":
        from pyhanko.pdf_utils import generic, misc

        from core.signatures import pdf_speedups as fast

        misc.read_until_delimiter = generic.read_until_delimiter = fast._original_read_until_delimiter
        misc.read_non_whitespace = generic.read_non_whitespace = fast._original_read_non_whitespace
        generic.NameObject.read_from_stream = staticmethod(fast._original_name_read)
        generic.NameObject.write_to_stream = fast._original_name_write


def _issue_worker(args):
    """One school's whole issuance, in whichever process is free (a school at a time, as
    principals come and go)."""
    url, pki_dir, school_id = args
    from core.demo.gradebook import generate_transcripts
    from core.storage.db import Database, make_engine

    db = _DB.get(url)
    if db is None:
        for old in _DB.values():
            old.engine.dispose()
        _DB.clear()
        db = _DB[url] = Database(make_engine(url))
    cpu, start = time.process_time(), time.perf_counter()
    report = generate_transcripts(db, pki_dir=Path(pki_dir), school_ids=[school_id], classes_per_school=10_000,
                                  stages=("issued",), fill=False)
    return os.getpid(), time.perf_counter() - start, time.process_time() - cpu, report.timings


def _warm_up(_):
    time.sleep(0.2)
    return os.getpid()


def _backend_cpu(db, url: str) -> float:
    """CPU seconds of the PostgreSQL backends serving this round's database (the workers' pooled
    connections, still open at the end of the round), from /proc; 0 where it cannot be read."""
    from sqlalchemy import text

    name = url.rsplit("/", 1)[1]
    with db.reading() as session:
        pids = list(session.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> "
                                         "pg_backend_pid()"), {"d": name}))
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def pipeline(server: str, schools: int, classes: int, students: int, cores: int, rounds: int, modes: list[str],
             lta_reference: int, tsa_latency: float) -> None:
    """The world is generated once (untimed) into a template database; each round copies it and
    issues everything, in each mode in turn (so a neighbour's load hits every mode alike)."""
    import statistics

    from sqlalchemy import func, select

    from core.demo.gradebook import generate_transcripts
    from core.demo.synthetic import Scale, generate
    from core.kernel.vocabulary import TranscriptStatus
    from core.signatures import DemoPKI
    from core.signatures.ltv_responder import LongTermResponder
    from core.signatures.responder import free_port
    from core.storage.db import Database, make_engine
    from core.storage.migrate import upgrade
    from core.storage.models import School, Transcript
    from core.storage.scratch import create_scratch_database, drop_scratch_database
    from core.transcripts.verification import verify_transcript

    root = Path(tempfile.mkdtemp(prefix="sohoa-tbench-"))
    port = free_port()
    responder_url = f"http://127.0.0.1:{port}"
    tsa = f"{responder_url}/tsa"
    template = create_scratch_database(server, "sohoa_tbench_tmpl")
    db = Database(make_engine(template))
    upgrade(db.engine)
    t0 = time.perf_counter()
    generate(db, Scale(districts=1, schools_per_district=schools, classes_per_school=classes, weeks=0,
                       students_per_class=students, seed=7), pki_dir=root / "pki", progress=True,
             responder_url=responder_url)
    filled = generate_transcripts(db, pki_dir=root / "pki", classes_per_school=10_000, stages=("gradebook",),
                                  renew_certificates=True, progress=True)
    db.engine.dispose()
    print(f"setup (untimed): {filled.classes} classes, {filled.students} students with filled gradebooks "
          f"in {time.perf_counter() - t0:.0f} s")
    pki = DemoPKI.load(root / "pki")
    responder = LongTermResponder(pki, tsa_latency=tsa_latency).start(port)  # in this process: its CPU is counted
    try:
        if lta_reference:
            for key, name in (("gvcn", "Nguyễn Thị Lan"), ("ht", "Phạm Văn Bình")):
                pki.issue_personal(key, name)
            pki.issue_seal("seal", "Trường Tiểu học Lê Quý Đôn")
            print(f"straightforward pyHanko B-LTA pipeline (render + sign_pdf x3 with use_pades_lta, "
                  f"embed_validation_info, HTTPTimeStamper) on {cores} cores: "
                  f"{reference_lta(lta_reference, cores, root / 'pki', tsa):.1f} documents/s", flush=True)
        ctx = mp.get_context("spawn")
        pools = {mode: ctx.Pool(cores, initializer=_init_mode, initargs=(mode, tsa)) for mode in modes}
        for pool in pools.values():
            pool.map(_warm_up, range(cores))  # imports done before the clock starts
        rows: dict[str, list[dict]] = {mode: [] for mode in modes}
        try:
            for r in range(rounds):
                for mode in modes:
                    url = create_scratch_database(server, "sohoa_tbench", template=template.rsplit("/", 1)[1])
                    rdb = Database(make_engine(url))
                    with rdb.reading() as session:
                        school_ids = list(session.scalars(select(School.id).order_by(School.id)))
                    parent_cpu, start = time.process_time(), time.perf_counter()
                    parts = list(pools[mode].imap_unordered(_issue_worker, [(url, str(root / "pki"), s)
                                                                           for s in school_ids]))
                    busy = time.perf_counter() - start
                    parent_cpu = time.process_time() - parent_cpu
                    pg_cpu = _backend_cpu(rdb, url)
                    with rdb.reading() as session:
                        issued = session.scalar(select(func.count()).where(
                            Transcript.status == TranscriptStatus.ISSUED))
                        size = session.scalar(select(func.avg(func.length(Transcript.document)))
                                              .where(Transcript.status == TranscriptStatus.ISSUED))
                        codes = list(session.scalars(select(Transcript.verification_code).where(
                            Transcript.status == TranscriptStatus.ISSUED).order_by(Transcript.id).limit(3)))
                    steps: dict[str, float] = {}
                    for _, _, _, timings in parts:
                        for k, v in timings.items():
                            steps[k] = steps.get(k, 0.0) + v
                    workers = sum(p[2] for p in parts)
                    row = {"rate": issued / busy, "issued": issued, "kb": float(size or 0) / 1000,
                           "cpu_ms": (workers + parent_cpu + pg_cpu) / issued * 1000}
                    rows[mode].append(row)
                    print(f"round {r} {mode:3} {issued} issued in {busy:5.1f} s = {row['rate']:5.1f} documents/s; "
                          f"CPU ms/document: workers {workers / issued * 1000:5.1f}, responder "
                          f"{parent_cpu / issued * 1000:4.1f}, PostgreSQL {pg_cpu / issued * 1000:4.1f}; "
                          f"{row['kb']:.0f} kB; load {os.getloadavg()[0]:.1f}; per document: " + ", ".join(
                              f"{k} {v / issued * 1000:.1f} ms" for k, v in steps.items() if k != "gradebook"),
                          flush=True)
                    if r == 0:  # (untimed) the product's verification of a few issued transcripts
                        trust = pki.trust_store(check_revocation=True)
                        t1 = time.perf_counter()
                        valid = sum(verify_transcript(rdb, trust, code=c).current for c in codes)
                        print(f"    verified {len(codes)} issued transcripts: {valid} valid and current "
                              f"({(time.perf_counter() - t1) / max(1, len(codes)) * 1000:.0f} ms each)", flush=True)
                        assert valid == len(codes), "an issued transcript did not verify"
                    rdb.engine.dispose()
                    drop_scratch_database(server, url)
        finally:
            for pool in pools.values():
                pool.terminate()
        print(f"\nmedians over {rounds} rounds on {cores} cores (same inputs, modes alternated):")
        for mode, rs in rows.items():
            cpu = statistics.median(x["cpu_ms"] for x in rs)
            print(f"  {mode:3} {statistics.median(x['rate'] for x in rs):6.1f} documents/s; CPU (workers + responder "
                  f"+ PostgreSQL) {cpu:5.1f} ms/document (= {cores * 1000 / cpu:5.1f} documents/s on {cores} idle "
                  f"cores); {statistics.median(x['kb'] for x in rs):.0f} kB/document")
        for base in ("bb_before", "bb"):
            if base not in rows or "lta" not in rows:
                continue
            ratios = [b["rate"] / a["rate"] for a, b in zip(rows[base], rows["lta"])]
            cpu_ratios = [a["cpu_ms"] / b["cpu_ms"] for a, b in zip(rows[base], rows["lta"])]
            rate, cpu = statistics.median(ratios), statistics.median(cpu_ratios)
            print(f"  lta / {base} rate, same round: {', '.join(f'{x:.3f}' for x in ratios)}; median {rate:.3f}")
            print(f"  {base} / lta CPU per document, same round: {', '.join(f'{x:.3f}' for x in cpu_ratios)}; "
                  f"median {cpu:.3f}")
            if base == "bb_before":
                print(f"  => with B-B before at 79.5-84 documents/s on the idle CI machine (docs/benchmarks.md), "
                      f"B-LTA at {79.5 * rate:.1f}-{84 * rate:.1f} (by rate) / {79.5 * cpu:.1f}-{84 * cpu:.1f} "
                      "(by CPU) documents/s; target >= 75")
        print(f"  responder requests: {responder.counts}")
    finally:
        responder.stop()
        drop_scratch_database(server, template)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schools", type=int, default=8)
    parser.add_argument("--classes", type=int, default=4, help="classes per school")
    parser.add_argument("--students", type=int, default=35, help="students per class")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode, alternated")
    parser.add_argument("--modes", nargs="+", default=["bb_before", "bb", "lta"], choices=["bb_before", "bb", "lta"],
                        help="bb_before: PAdES B-B as before this issue (pyHanko's own tokenizer); bb: B-B now; "
                             "lta: PAdES B-LTA (SOHOA_TSA_URL set)")
    parser.add_argument("--reference", type=int, default=120, help="documents for the straightforward B-B pipeline")
    parser.add_argument("--lta-reference", type=int, default=40,
                        help="documents for the straightforward pyHanko B-LTA pipeline (0: skip)")
    parser.add_argument("--tsa-latency", type=float, default=0.0,
                        help="seconds added to each timestamp answer (a remote TSA's round trip)")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="server URL; throwaway databases are created there and dropped after")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    if args.reference:
        print(f"straightforward pipeline (render + pyHanko sign_pdf x3, B-B) on {cores} cores: "
              f"{reference(args.reference, cores):.1f} documents/s", flush=True)
    pipeline(args.postgres, args.schools, args.classes, args.students, cores, args.rounds, args.modes,
             args.lta_reference, args.tsa_latency)
    return 0


if __name__ == "__main__":
    sys.exit(main())
