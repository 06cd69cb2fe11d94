"""The demo PKI's online services on 127.0.0.1: CRL, OCSP and an RFC 3161 timestamp
authority (TSA), as a licensed CA and TSA would provide them (trust services of Nghị định 23/2025/NĐ-CP).

It signs with the CA's keys, so it runs as its own process (``sohoa pki serve``), never inside
the API or the console: those read the trust anchors only (:mod:`core.signatures.anchors`).

- ``GET  /crl``  the issuing CA's CRL (valid one hour);
- ``POST /ocsp`` OCSP answers signed by the issuing CA;
- ``POST /tsa``  RFC 3161 timestamps (pyHanko's in-process TSA behind HTTP).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading

from aiohttp import web
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from core.signatures.pki import DemoPKI

VALIDITY = dt.timedelta(hours=1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Responder:
    """Serves a :class:`DemoPKI`'s revocation status and timestamps from a background thread."""

    def __init__(self, pki: DemoPKI):
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

        self.pki = pki
        der = serialization.Encoding.DER
        tsa_cert, tsa_key = pki.tsa_credentials()
        self._tsa = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(tsa_cert.public_bytes(der)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(tsa_key.private_bytes(
                der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
            certs_to_embed=[asn1_x509.Certificate.load(pki.issuing.public_bytes(der))])

    def _revoked(self) -> dict[int, dt.datetime]:
        return {int(serial, 16): dt.datetime.fromisoformat(at).replace(tzinfo=dt.timezone(dt.timedelta(hours=7)))
                .astimezone(dt.timezone.utc) for serial, at in self.pki.revoked().items()}

    async def crl(self, request):
        now = dt.datetime.now(dt.timezone.utc)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.pki.issuing.subject)
                   .last_update(now).next_update(now + VALIDITY))
        for serial, at in self._revoked().items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build())
        crl = builder.sign(self.pki.issuing_key(), hashes.SHA256())
        return web.Response(body=crl.public_bytes(serialization.Encoding.DER), content_type="application/pkix-crl")

    async def ocsp(self, request):
        req = ocsp.load_der_ocsp_request(await request.read())
        now = dt.datetime.now(dt.timezone.utc)
        revoked = self._revoked().get(req.serial_number)
        status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash, issuer_key_hash=req.issuer_key_hash,
            serial_number=req.serial_number, algorithm=req.hash_algorithm, cert_status=status,
            this_update=now, next_update=now + VALIDITY, revocation_time=revoked,
            revocation_reason=x509.ReasonFlags.cessation_of_operation if revoked else None)
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.pki.issuing)
        response = builder.sign(self.pki.issuing_key(), hashes.SHA256())
        return web.Response(body=response.public_bytes(serialization.Encoding.DER),
                            content_type="application/ocsp-response")

    async def tsa(self, request):
        req = tsp.TimeStampReq.load(await request.read())
        response = await self._tsa.async_request_tsa_response(req)
        return web.Response(body=response.dump(), content_type="application/timestamp-reply")

    def start(self, port: int) -> "Responder":
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def boot():
            app = web.Application()
            app.add_routes([web.get("/crl", self.crl), web.post("/ocsp", self.ocsp), web.post("/tsa", self.tsa)])
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", port).start()
            ready.set()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True, name="sohoa-pki-responder")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the PKI responder did not start on 127.0.0.1:{port}")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def serve_forever(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve in the foreground until the process is stopped (``sohoa pki serve``)."""
        app = web.Application()
        app.add_routes([web.get("/crl", self.crl), web.post("/ocsp", self.ocsp), web.post("/tsa", self.tsa)])
        web.run_app(app, host=host, port=port, print=None, handle_signals=True)
