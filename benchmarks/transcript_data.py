"""What the transcript's data costs per document, on one core, no database
(docs/transcript-data.md):

1. the page rendered as before (ReportLab) and rendered as PDF/A-3b with its data attached
   (:func:`core.transcripts.pdf.render_transcript` with ``data``): the difference is the cost of
   the associated file, the output intent, the XMP and the rewritten information dictionary;
2. the data taken back out of a PDF (:func:`core.transcripts.data.data_of_pdf`);
3. a Verifiable Credential sealed (:func:`core.signatures.jose.sign_compact`, a P-256 seal in a
   PKCS#12 file of the demo CA) and its seal verified against the trust store
   (:func:`core.signatures.jose.verify_compact`: signature, chain, no revocation source).

The median of ``--rounds`` rounds of ``--count`` documents each is printed, per document.

Usage: python benchmarks/transcript_data.py [--count 200 --rounds 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONTENT = {
    "student": {"full_name": "Lê Minh Khôi", "personal_id": "079213000001", "birth_date": "14/03/2013", "sex": "Nam"},
    "school": "Trường THCS Trần Văn Ơn", "school_code": "S0001", "class": "6A1", "grade": 6, "year": "2025-2026",
    "level_name": "Trung học cơ sở", "version": 1,
    "subjects": [{"code": f"S{i}", "name": n, "term1": "7.8", "term2": "8.1", "test": "", "year": "8.0",
                  "comment": "Tiến bộ tốt, cần phát huy", "comment_only": False}
                 for i, n in enumerate(("Ngữ văn", "Toán", "Ngoại ngữ 1", "Giáo dục công dân", "Lịch sử và Địa lí",
                                        "Khoa học tự nhiên", "Công nghệ", "Tin học"))],
    "summary": [("Kết quả rèn luyện cả năm", "Tốt"), ("Kết quả học tập cả năm", "Khá"), ("Danh hiệu", "—"),
                ("Số buổi nghỉ", "2"), ("Lên lớp / rèn luyện hè / kiểm tra lại", "Lên lớp")],
    "outcome": "Khá", "comment": "Chăm ngoan, học tốt",
}


def per_document(fn, count: int, rounds: int) -> float:
    """Median over the rounds of the time one call takes, in ms."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(count):
            fn(i)
        times.append((time.perf_counter() - start) / count * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="documents a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from core.signatures import DemoPKI, KeyStore
    from core.signatures.jose import sign_compact, verify_compact
    from core.transcripts.data import data_bytes, data_of_pdf
    from core.transcripts.pdf import render_transcript

    data = data_bytes(CONTENT, "ABCDEFGH23", "0" * 64)
    url = "http://127.0.0.1:5006/verify?code=ABCDEFGH23"
    render_transcript(CONTENT, "ABCDEFGH23", url, data=data)  # fonts registered, profile made
    plain = per_document(lambda i: render_transcript(CONTENT, "ABCDEFGH23", url), args.count, args.rounds)
    pdfa = per_document(lambda i: render_transcript(CONTENT, "ABCDEFGH23", url, data=data), args.count, args.rounds)
    pdf = render_transcript(CONTENT, "ABCDEFGH23", url, data=data)
    extract = per_document(lambda i: data_of_pdf(pdf), args.count, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        pki = DemoPKI.create(Path(tmp))
        pki.issue_seal("school-1", "THCS Trần Văn Ơn")
        seal = KeyStore(Path(tmp)).signer_for("school-1")
        trust = pki.trust_store()
        payload = json.dumps({"credentialSubject": json.loads(data)}, ensure_ascii=False).encode()
        token = sign_compact(payload, seal, {"typ": "vc+jwt", "cty": "vc"})
        verify_compact(token, trust)  # the chain cached, as a server's would be
        sealing = per_document(lambda i: sign_compact(payload, seal, {"typ": "vc+jwt", "cty": "vc"}), args.count,
                               args.rounds)
        checking = per_document(lambda i: verify_compact(token, trust), args.count, args.rounds)
    print(f"render (before):              {plain:6.2f} ms a page, {len(render_transcript(CONTENT, 'X', url)):,} bytes")
    print(f"render as PDF/A-3 with data:  {pdfa:6.2f} ms a page, {len(pdf):,} bytes (+{pdfa - plain:.2f} ms)")
    print(f"data taken out of the PDF:    {extract:6.2f} ms")
    print(f"credential sealed (ES256):    {sealing:6.2f} ms, {len(token):,} characters")
    print(f"credential seal verified:     {checking:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
