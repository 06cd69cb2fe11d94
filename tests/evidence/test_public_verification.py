"""A stranger checks a transcript (THREATS.md: the anonymous internet user; the checker who must
not be fooled by a genuine code on a forged paper), through real HTTP on loopback against the
public check, on PostgreSQL: by code the page says what was issued so that a forgery shows; a
PDF carrying a genuine code with other content is "không khớp"; a cancellation shows at once,
without its reason, naming the replacement; a revocation dated before a signature shows at once
through the cached verification; inputs are bounded."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from core.kernel import clock
from core.signatures import DemoPKI, KeyStore
from core.signatures.certificates import revoke_certificate
from core.storage.models import Certificate, Transcript
from core.transcripts.verification import VerificationCache
from core.transcripts.workflow import cancel_and_reissue
from dashboards.public import make_app
from tests.conftest import committed_database
from tests.evidence._trust import ServedApp, content_for, forge_transcript, stranger
from tests.services.test_transcripts import issue_all, with_seal
from tests.world import build_world


@pytest.fixture(scope="module")
def public(request, tmp_path_factory):
    """School A's two 6A1 transcripts issued in a committed PostgreSQL database, and the public
    check served from it on loopback (its own PKI, so no other test's keys interfere)."""
    pki = DemoPKI.create(tmp_path_factory.mktemp("public-pki"))
    wanted = SimpleNamespace(param="postgresql", getfixturevalue=request.getfixturevalue)
    with committed_database(wanted, tmp_path_factory.mktemp("public"), "sohoa_public") as db:
        w = with_seal(build_world(db, pki, KeyStore(pki.directory)))
        drafts, _ = issue_all(w)
        with db.reading() as s:
            rows = [s.get(Transcript, t) for t in drafts]
        trust = pki.trust_store()
        cache = VerificationCache(db, trust)
        served = ServedApp(make_app(db, trust, cache=cache))
        try:
            yield SimpleNamespace(w=w, db=db, pki=pki, trust=trust, cache=cache, url=served.url,
                                  codes=[r.verification_code for r in rows], documents=[r.document for r in rows],
                                  ids=drafts)
        finally:
            served.stop()


def get(public, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{public.url}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def upload(public, pdf: bytes, path: str = "/verify") -> tuple[int, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"pdf\"; filename=\"hoc-ba.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + pdf + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{public.url}{path}", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def verdict(page: str) -> str:
    return page.split('data-verdict="', 1)[1].split('"', 1)[0]


def test_by_code_the_page_shows_what_was_issued(public):
    code, document = public.codes[0], public.documents[0]
    status, page = get(public, f"/verify?code={code.lower()}")           # typed in lower case, still found
    assert status == 200 and verdict(page) == "valid" and "HỢP LỆ" in page and "✔" in page
    for shown in ("THCS Trần Văn Ơn", "6A1", "2025-2026", "H** s*** 0", clock.now().strftime("%d/%m/%Y"),
                  hashlib.sha256(document).hexdigest(), "Giáo viên chủ nhiệm: hợp lệ (PASSED)",
                  "Con dấu của nhà trường: hợp lệ (PASSED)"):
        assert shown in page, shown
    assert "Học sinh 0" not in page and "07921300" not in page          # the name masked, no personal ID
    status, body = get(public, f"/verify.json?code={code}")
    answer = json.loads(body)
    assert status == 200 and answer["verdict"] == "valid" and answer["verdict_vi"] == "Hợp lệ"
    assert answer["issued"]["sha256"] == hashlib.sha256(document).hexdigest()
    assert answer["issued"]["student"] == "H** s*** 0" and answer["issued"]["class"] == "6A1"
    status, page = get(public, "/verify?code=ABCDEFGHJK")
    assert status == 200 and verdict(page) == "unknown" and "KHÔNG TÌM THẤY" in page


def test_a_forged_pdf_carrying_a_genuine_code_does_not_match(public):
    """The forger draws the transcript with better grades, prints the genuine code and its QR
    link, and signs with the keys they have: another school's people and a CA-trusted stranger."""
    w, code = public.w, public.codes[0]
    forged = forge_transcript(content_for("THCS Trần Văn Ơn", name="Học sinh 0"), code, w.signer("khoa"),
                              w.signer("dung"), stranger(public.pki, "THCS Trần Văn Ơn", seal_of="A01"),
                              url=f"http://127.0.0.1:5006/verify?code={code}")
    altered = public.documents[0] + b"\n% an edit appended after the seal\n"
    for pdf in (forged, altered):
        status, page = upload(public, pdf)
        assert status == 200 and verdict(page) == "altered" and "KHÔNG KHỚP" in page and "✖" in page
        assert f"mã {code} có thật" in page
        assert hashlib.sha256(public.documents[0]).hexdigest() in page   # what was really issued
        assert hashlib.sha256(pdf).hexdigest() in page                   # and what was uploaded
        assert "HỢP LỆ" not in page
        answer = json.loads(upload(public, pdf, "/verify.json")[1])
        assert (answer["verdict"], answer["matches"], answer["current"]) == ("altered", False, False)
    # the genuine file matches
    answer = json.loads(upload(public, public.documents[0], "/verify.json")[1])
    assert (answer["verdict"], answer["matches"], answer["current"]) == ("valid", True, True)


def test_a_cancelled_transcripts_page_hides_the_reason_and_names_its_replacement(public):
    code = public.codes[1]
    assert verdict(get(public, f"/verify?code={code}")[1]) == "valid"      # now cached as valid
    assert public.cache.cached(code)
    reason = "Nhập nhầm điểm môn Toán của em Học sinh 1 (phụ huynh khiếu nại)"
    new_id = cancel_and_reissue(public.db, public.w.actor("binh"), public.ids[1], reason)
    with public.db.reading() as s:
        replacement = s.get(Transcript, new_id).verification_code
    status, page = get(public, f"/verify?code={code}")                   # at once, though cached
    assert status == 200 and verdict(page) == "cancelled" and "ĐÃ HỦY" in page and "⊘" in page
    assert f'<a href="/verify?code={replacement}" id="replacement">{replacement}</a>' in page
    assert clock.now().strftime("%d/%m/%Y") in page
    for secret in ("Nhập nhầm", "khiếu nại", "Học sinh 1"):
        assert secret not in page
    answer = json.loads(get(public, f"/verify.json?code={code}")[1])
    assert answer["verdict"] == "cancelled" and answer["replaced_by"] == replacement
    assert "khiếu nại" not in json.dumps(answer, ensure_ascii=False)
    assert verdict(get(public, f"/verify?code={replacement}")[1]) == "not_issued"   # re-issue still to sign
    assert verdict(upload(public, public.documents[1])[1]) == "cancelled"           # the old file too


def test_a_revocation_dated_before_the_signatures_shows_at_once(public):
    """The homeroom teacher's key was compromised before she signed: the cached verification
    is re-checked against the registry at each request."""
    code = public.codes[0]
    assert verdict(get(public, f"/verify?code={code}")[1]) == "valid" and public.cache.cached(code)
    computed = public.cache.computed
    with public.db.reading() as s:
        cert = s.scalar(select(Certificate).where(Certificate.staff_id == public.w.ids["lan"]))
        signed = s.get(Transcript, public.ids[0]).issued_at
    revoke_certificate(public.db, public.w.actor("admin"), cert.id, "Lộ khóa bí mật",
                       at=signed - dt.timedelta(hours=1))
    try:
        status, page = get(public, f"/verify?code={code}")
        assert verdict(page) == "invalid" and "KHÔNG HỢP LỆ" in page and "REVOKED" in page
        assert public.cache.computed == computed                       # not recomputed: re-checked
    finally:
        with public.db.transaction() as s:
            s.execute(update(Certificate).where(Certificate.id == cert.id).values(revoked_at=None))
    assert verdict(get(public, f"/verify?code={code}")[1]) == "valid"


def test_inputs_are_bounded(public):
    started = time.perf_counter()
    status, page = get(public, "/verify?code=" + "A" * 33)
    assert status == 400 and "quá dài" in page
    status, page = get(public, "/verify?code=" + urllib.parse.quote("K7'; DROP TABLE x;--"))
    assert status == 400 and "không hợp lệ" in page
    status, page = get(public, "/verify?code=K7QX2MP9A0")                 # 0 is not in the alphabet
    assert status == 400
    status, page = upload(public, b"%PDF-1.7\n" + bytes(3 * 2**20))     # 3 MB: refused by its length
    assert status == 413 and "lớn hơn 2 MB" in page
    with socket.create_connection(("127.0.0.1", int(public.url.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/pdf\r\n"
                     b"Content-Length: 500000000\r\n\r\n%PDF-")          # 500 MB announced, 5 bytes sent
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")                # answered before the body comes
    status, page = upload(public, b"\x89PNG not a transcript")
    assert status == 400 and "không phải là tệp PDF" in page
    assert time.perf_counter() - started < 10
