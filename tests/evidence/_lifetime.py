"""Helpers of tests/evidence/test_lifetime.py: a time machine that moves every clock of the
process at once (the product's, pyHanko's, the demo CA's responder, which reads the same
clock), and a school world whose PKI answers online."""
from __future__ import annotations

import asyncio
import datetime as dt
import io

from freezegun import freeze_time

from core.kernel import clock


class TimeMachine:
    """``go(moment)`` (VN-local, naive): from now on every ``datetime.now()`` of the process
    reads ``moment`` and runs on from there. pyHanko's AdES validation starts its time slide at
    ``datetime.now()`` whatever timing it is given, so it must travel too, as pyHanko's own LTA
    tests do (freezegun, ticking, the event loop's clock left real)."""

    def __init__(self):
        self._frozen = None
        _warm_cryptography()

    def go(self, moment: dt.datetime) -> None:
        self.stop()
        self._frozen = freeze_time(clock.to_utc(moment).replace(tzinfo=None), tick=True, real_asyncio=True)
        self._frozen.start()

    def stop(self) -> None:
        if self._frozen is not None:
            self._frozen.stop()
            self._frozen = None


def _warm_cryptography() -> None:
    """cryptography's Rust core looks ``datetime.datetime`` up once, at its first use, and keeps
    it: if that first use happened under freezegun it would keep freezegun's class and refuse
    real datetimes for the rest of the run. A certificate and an OCSP answer made now, with the
    real class."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warm-up")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    assert cert.not_valid_after_utc > now
    from cryptography.x509 import ocsp  # its producedAt is "now", looked up the same way

    answer = (ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=cert, algorithm=hashes.SHA256(), cert_status=ocsp.OCSPCertStatus.GOOD, this_update=now,
        next_update=None, revocation_time=None, revocation_reason=None)
        .responder_id(ocsp.OCSPResponderEncoding.HASH, cert).sign(key, hashes.SHA256()))
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL


def pyhanko_lta(pdf: bytes, trust) -> dict[str, tuple[str, str]]:
    """pyHanko's own long-term validation (``ades_lta_validation``) of every signature of
    ``pdf`` under the product's declared policy: field -> (indication, sub-indication)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import ades

    from core.signatures.ltv import lta_policy

    spec = lta_policy(trust, online=True)
    reader = PdfFileReader(io.BytesIO(pdf))

    async def run():
        out = {}
        for sig in reader.embedded_regular_signatures:
            result = await ades.ades_lta_validation(sig, spec)
            out[sig.field_name] = (result.ades_subindic.status.name, result.ades_subindic.name)
        return out

    return asyncio.run(run())


def document_timestamps(pdf: bytes) -> list[tuple[str, str]]:
    """(field, TSA subject) of each document timestamp, oldest first."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf))
    return [(s.field_name, s.signer_cert.subject.human_friendly)
            for s in sorted(reader.embedded_timestamp_signatures, key=lambda s: s.signed_revision)]
