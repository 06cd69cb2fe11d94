"""What the trust evidence shares: a school world on PostgreSQL with transcripts issued, a second
trusted CA (the government's, VGCA), strangers holding certificates from trusted CAs, and the
attacker's own tools — a transcript PDF rendered and signed with whatever keys they hold, a
package zipped by hand in the product's format, archive bombs — plus the public check served on
loopback for the anonymous user's requests."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import io
import socket
import struct
import threading
import uuid
import zipfile
import zlib

from core.signatures import DemoPKI, KeyStore, TrustStore
from core.signatures.pades import sign_pdf
from core.transcripts.pdf import SIGNATURE_FIELDS, render_transcript
from core.transcripts.transfer import _write_package

WHEN = dt.datetime(2026, 5, 20, 9, 0)


def trust_of(*pkis) -> TrustStore:
    """The receiving system's trust store: every CA it trusts, each as an anchor."""
    return TrustStore(anchors=[p.anchor(f"ca-{i}") for i, p in enumerate(pkis)])


def stranger(pki: DemoPKI, name: str = "Kẻ Mạo Danh", *, seal_of: str | None = None):
    """A person (or, with ``seal_of``, an organisation bearing that identifier) holding a valid
    certificate from a trusted CA, registered nowhere in the school's system."""
    owner = f"stranger-{uuid.uuid4().hex[:8]}"
    if seal_of:
        pki.issue_seal(owner, name, identifier=f"MDV:{seal_of}")
    else:
        pki.issue_personal(owner, name)
    return KeyStore(pki.directory).signer_for(owner)


def forge_transcript(content: dict, code: str, homeroom, principal, seal, *, url: str | None = None) -> bytes:
    """A transcript PDF drawn with the product's own layout, carrying ``code``, signed in the
    three fields with whatever keys the attacker holds."""
    pdf = render_transcript(content, code, url or f"http://127.0.0.1/verify?code={code}")
    pdf = sign_pdf(pdf, homeroom, "GVCN", certify=True, reason="Giáo viên chủ nhiệm ký học bạ",
                   new_fields=SIGNATURE_FIELDS)
    pdf = sign_pdf(pdf, principal, "HieuTruong", certify=False, reason="Hiệu trưởng phê duyệt học bạ")
    return sign_pdf(pdf, seal, "DauTruong", certify=False, reason="Xác nhận của nhà trường")


def content_for(school: str, code_year: str = "2025-2026", name: str = "Nguyễn Văn Giả") -> dict:
    return {"student": {"full_name": name, "sex": "M", "birth_date": "2013-05-01", "personal_id": "079213009999"},
            "year": code_year, "class": "6A1", "school": school, "version": 1, "level_name": "Trung học cơ sở",
            "grade": 6, "subjects": [{"name": "Toán", "term1": "10.0", "term2": "10.0", "year": "10.0",
                                      "comment": "Xuất sắc"}], "summary": [["Kết quả học tập", "Tốt"]],
            "comment": "Giỏi toàn diện"}


def forge_package(seal, *, sender: str, addressee: str, documents: dict[str, bytes], purpose: str = "transfer",
                  package_id: str | None = None, items: list[dict] | None = None) -> bytes:
    """A package zipped by hand in the product's format, its manifest signed with ``seal``."""
    items = items or [{"personal_id": "079213009999", "full_name": "Nguyễn Văn Giả", "birth_date": "2013-05-01",
                       "sex": "M", "school_year": "2025-2026", "verification_code": code, "version": 1,
                       "sha256": hashlib.sha256(pdf).hexdigest()} for code, pdf in documents.items()]
    manifest = {"format": "sohoa.transcript-package/2", "purpose": purpose,
                "package_id": package_id or uuid.uuid4().hex, "school_code": sender, "school_name": sender,
                "addressee": addressee, "created_at": WHEN.isoformat(), "items": items}
    return _write_package(manifest, documents, seal, WHEN)  # the product's own writer: only the seal is foreign


@functools.lru_cache(maxsize=2)
def zeros_member(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes deflated (raw), and their CRC-32, without holding them in memory."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk, crc, out = bytes(1 << 20), 0, []
    for _ in range(size >> 20):
        out.append(deflate.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    out.append(deflate.flush())
    return b"".join(out), crc


def bomb(members: dict[str, bytes], name: str, real_size: int, *, declared_size: int | None = None) -> bytes:
    """A ZIP with ``members`` stored as given and ``name`` holding ``real_size`` zero bytes
    deflated; ``declared_size`` is what its headers claim (the real size unless the bomb lies)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    head = out.getvalue()
    central_start = head.index(b"PK\x01\x02")
    local, central = head[:central_start], head[central_start:head.rindex(b"PK\x05\x06")]
    data, crc = zeros_member(real_size)
    declared = real_size if declared_size is None else declared_size
    fname = name.encode()
    offset = len(local)
    local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), declared, len(fname), 0)
    local += fname + data
    central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), declared,
                           len(fname), 0, 0, 0, 0, 0, offset) + fname
    count = len(members) + 1
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    return local + central + end


class ServedApp:
    """A Tornado application served on a free loopback port from its own thread."""

    def __init__(self, app):
        from tornado.httpserver import HTTPServer

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        ready = threading.Event()

        async def main():
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = HTTPServer(app, max_body_size=64 * 1024 * 1024)
            server.add_sockets([sock])
            ready.set()
            await self._stop.wait()
            server.stop()

        self.thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)
