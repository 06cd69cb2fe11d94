"""Transcript issuance speed: documents per second for the whole document pipeline of one
transcript — render the PDF (Vietnamese, embedded font, QR code), prepare the three
signature fields, homeroom teacher's certifying signature, principal's approval, school
seal — on all cores, as `core.services.transcripts` does it. The subject teachers'
confirmations are one CMS signature per class and subject (timed separately).

Usage: python benchmarks/transcripts.py [--documents 200]
"""
from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONTENT = {
    "student": {"full_name": "Lê Minh Khôi", "personal_id": "079213000001", "birth_date": "14/03/2013", "sex": "Nam"},
    "school": "Trường THCS Trần Văn Ơn", "school_code": "A01", "class": "6A1", "grade": 6, "year": "2025-2026",
    "level_name": "Trung học cơ sở", "version": 1,
    "subjects": [{"name": n, "term1": "7.8", "term2": "8.1", "year": "8.0", "comment": "Tiến bộ tốt"}
                 for n in ("Ngữ văn", "Toán", "Ngoại ngữ 1", "GDCD", "Lịch sử và Địa lí", "KHTN", "Công nghệ", "Tin học")],
    "summary": [("Kết quả rèn luyện cả năm", "Tốt"), ("Kết quả học tập cả năm", "Tốt")], "comment": "Chăm ngoan",
}


def _worker(args):
    pki_dir, count = args
    from core.signatures import KeyStore
    from core.signatures.pades import add_signature_fields, sign_pdf
    from core.transcript_pdf import (HOMEROOM_BOX, HOMEROOM_FIELD, PRINCIPAL_BOX, PRINCIPAL_FIELD, SEAL_BOX,
                                     SEAL_FIELD, render_transcript)
    keys = KeyStore(Path(pki_dir))
    homeroom, principal, seal = keys.signer_for("gvcn"), keys.signer_for("ht"), keys.signer_for("seal")
    timings = {"render": 0.0, "fields": 0.0, "sign": 0.0}
    for i in range(count):
        t0 = time.perf_counter()
        pdf = render_transcript(CONTENT, f"CODE{i:06d}", f"http://127.0.0.1:5006/verify?code=CODE{i:06d}")
        t1 = time.perf_counter()
        pdf = add_signature_fields(pdf, [(HOMEROOM_FIELD, HOMEROOM_BOX), (PRINCIPAL_FIELD, PRINCIPAL_BOX),
                                         (SEAL_FIELD, SEAL_BOX)])
        t2 = time.perf_counter()
        pdf = sign_pdf(pdf, homeroom, HOMEROOM_FIELD, certify=True, reason="GVCN")
        pdf = sign_pdf(pdf, principal, PRINCIPAL_FIELD, certify=False, reason="HT")
        pdf = sign_pdf(pdf, seal, SEAL_FIELD, certify=False, reason="Dấu")
        t3 = time.perf_counter()
        timings["render"] += t1 - t0
        timings["fields"] += t2 - t1
        timings["sign"] += t3 - t2
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=200)
    args = parser.parse_args()
    from core.signatures import DemoPKI
    pki_dir = Path(tempfile.mkdtemp(prefix="sohoa-tbench-"))
    pki = DemoPKI.create(pki_dir)
    pki.issue_personal("gvcn", "Nguyễn Thị Lan")
    pki.issue_personal("ht", "Phạm Văn Bình")
    pki.issue_seal("seal", "Trường THCS Trần Văn Ơn")
    cores = os.cpu_count() or 1
    per = max(1, args.documents // cores)
    start = time.perf_counter()
    with mp.get_context("fork").Pool(cores) as pool:
        parts = pool.map(_worker, [(str(pki_dir), per)] * cores)
    seconds = time.perf_counter() - start
    total = per * cores
    spent = {k: sum(p[k] for p in parts) for k in parts[0]}
    print(f"{cores} cores: {total} transcripts in {seconds:.1f} s = {total / seconds:.1f} documents/s "
          f"(render {spent['render'] / total * 1000:.0f} ms, fields {spent['fields'] / total * 1000:.0f} ms, "
          f"3 signatures {spent['sign'] / total * 1000:.0f} ms per document per core)")
    print(f"132,000 grade-1 transcripts at this rate: {132_000 / (total / seconds) / 60:.0f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
