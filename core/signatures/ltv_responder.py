"""The demo PKI's online services for long-term signatures (PAdES B-LTA), on 127.0.0.1: what
:mod:`core.signatures.responder` serves, plus what signing for life and its tests need.

- ``GET  /crl``, ``/crl/root``, ``/crl/<label>``: the CRL of the first issuing CA, of the root
  (an ARL: the issuing CAs' status) and of each successor CA;
- ``POST /ocsp``: OCSP for a certificate of any CA of the PKI (found by its issuer's key hash);
- ``POST /tsa``: RFC 3161 timestamps by the newest TSA whose certificate is valid now, and
  ``/tsa/<label>`` by a given one. Tokens come from :class:`core.signatures.tsa.TokenIssuer`
  (pre-encoded DER, the key loaded once).

Every answer is made at ``clock()`` (aware UTC), injectable, so a test can sign in 2026, renew
in 2033 and validate in 2045 against one PKI. A revocation is published only from its moment
on (a CRL of 2026 does not list a revocation of 2027), and CRLs and OCSP answers are dated
:data:`BACKDATE` before the request, as a CA's pre-produced answers are: a validator whose clock
is a little behind would otherwise reject them as issued in the future.

The HTTP side is a minimal HTTP/1.1 server on asyncio (keep-alive, Content-Length bodies):
aiohttp's server costs ~0.8 ms of CPU a request here, more than a token, and the demo's TSA
shares the two cores with the issuance it serves (benchmarks/transcripts.py counts it). It
signs with the CA's keys, so it belongs in the CA's own process, never in the API or console.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
from collections.abc import Callable

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from core.signatures.pki import DemoPKI
from core.signatures.tsa import TokenIssuer, _rejection

UTC = dt.timezone.utc
#: How long a CRL or an OCSP answer is fresh (its nextUpdate).
VALIDITY = dt.timedelta(hours=1)
#: How far before the request CRLs and OCSP answers are dated.
BACKDATE = dt.timedelta(minutes=5)


def real_time() -> dt.datetime:
    return dt.datetime.now(UTC)


class LongTermResponder:
    """CRL / OCSP / TSA for a :class:`~core.signatures.pki.DemoPKI` and its successors."""

    def __init__(self, pki: DemoPKI, clock: Callable[[], dt.datetime] = real_time, tsa_latency: float = 0.0):
        """``tsa_latency``: seconds added before each timestamp answer (a remote TSA's round trip,
        for the benchmark), without holding the server meanwhile."""
        self.pki, self.clock, self.tsa_latency = pki, clock, tsa_latency
        self.counts = {"crl": 0, "ocsp": 0, "tsa": 0}
        self.reload()

    def reload(self) -> None:
        """Read the PKI again (a CA or a TSA added)."""
        self.cas = self.pki.certificate_authorities()
        self.tsas = {label: TokenIssuer(cert, key, chain, self.clock)
                     for label, (cert, key, chain) in self.pki.timestamp_authorities().items()}
        self._by_key_hash = {}
        for label, (cert, _, _) in self.cas.items():
            spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
            bits = asn1_keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]
            for digest in (hashlib.sha1, hashlib.sha256):
                self._by_key_hash[digest(bits).digest()] = label

    def _now(self) -> dt.datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def _revoked(self, ca_label: str, now: dt.datetime) -> dict[int, dt.datetime]:
        """The CA's revocations in effect at ``now`` (read at each answer, as the CA records them)."""
        return {serial: at for issuer, serial, at in self.pki.revocations() if issuer == ca_label and at <= now}

    def crl(self, ca_label: str) -> bytes:
        cert, key, _ = self.cas[ca_label]
        now = self._now()
        builder = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject)
                   .last_update(now - BACKDATE).next_update(now - BACKDATE + VALIDITY)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
                   .add_extension(x509.CRLNumber(int(now.timestamp())), False))
        for serial, at in self._revoked(ca_label, now).items():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build())
        self.counts["crl"] += 1
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp(self, request_der: bytes) -> bytes:
        request = ocsp.load_der_ocsp_request(request_der)
        label = self._by_key_hash.get(request.issuer_key_hash)
        if label is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
        cert, key, _ = self.cas[label]
        now = self._now()
        revoked = self._revoked(label, now).get(request.serial_number)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number, algorithm=request.hash_algorithm,
            cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
            this_update=now - BACKDATE, next_update=now - BACKDATE + VALIDITY, revocation_time=revoked,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None)
        self.counts["ocsp"] += 1
        # (cryptography stamps producedAt with the machine's time; validators judge thisUpdate)
        return builder.responder_id(ocsp.OCSPResponderEncoding.HASH, cert).sign(key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def current_tsa(self) -> TokenIssuer | None:
        now = self.clock()
        valid = [t for t in self.tsas.values() if t.valid_at(now)]
        return max(valid, key=lambda t: t.cert.not_valid_before_utc, default=None)

    def timestamp(self, label: str | None, request_der: bytes) -> bytes:
        issuer = self.tsas.get(label) if label else self.current_tsa()
        self.counts["tsa"] += 1
        if issuer is None:
            return _rejection("no timestamp authority is valid now")
        return issuer.respond(request_der)

    # ---------------------------------------------------------------- HTTP
    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        parts = path.split("?")[0].strip("/").split("/")
        if method == "GET" and parts[0] == "crl" and len(parts) <= 2:
            label = parts[1] if len(parts) == 2 else "ca01"
            if label in self.cas:
                return 200, "application/pkix-crl", self.crl(label)
        elif method == "POST" and parts == ["ocsp"]:
            return 200, "application/ocsp-response", self.ocsp(body)
        elif method == "POST" and parts[0] == "tsa" and len(parts) <= 2:
            return 200, "application/timestamp-reply", self.timestamp(parts[1] if len(parts) == 2 else None, body)
        return 404, "text/plain", b"not found"

    def start(self, port: int, host: str = "127.0.0.1") -> "LongTermResponder":
        """Serve on ``host:port`` from a background thread."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._open: set[asyncio.Transport] = set()  # closed by stop(): clients keep their connections alive
        responder = self

        class Http(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport, self.buffer = transport, b""
                responder._open.add(transport)

            def connection_lost(self, exc):
                responder._open.discard(self.transport)

            def data_received(self, data):
                self.buffer += data
                while True:
                    head_end = self.buffer.find(b"\r\n\r\n")
                    if head_end < 0:
                        if len(self.buffer) > 16384:  # no header block that long: not our client
                            self.transport.close()
                        return
                    lines = self.buffer[:head_end].decode("latin1").split("\r\n")
                    try:
                        method, path, _ = lines[0].split(" ", 2)
                        headers = {k.strip().lower(): v.strip() for k, v in
                                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
                        length = int(headers.get("content-length", "0"))
                    except ValueError:
                        self.transport.close()
                        return
                    if "chunked" in headers.get("transfer-encoding", "") or not 0 <= length <= 1 << 20:
                        self.transport.write(b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\n\r\n")
                        self.transport.close()
                        return
                    if len(self.buffer) < head_end + 4 + length:
                        return
                    body = self.buffer[head_end + 4:head_end + 4 + length]
                    self.buffer = self.buffer[head_end + 4 + length:]
                    try:
                        status, ctype, payload = responder.handle(method, path, body)
                    except Exception as err:  # noqa: BLE001 - a bad request gets a 400, the server lives on
                        status, ctype, payload = 400, "text/plain", type(err).__name__.encode()
                    close = headers.get("connection", "").lower() == "close"
                    data = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: {ctype}\r\n"
                            f"Content-Length: {len(payload)}\r\nConnection: {'close' if close else 'keep-alive'}"
                            "\r\n\r\n").encode() + payload
                    delay = responder.tsa_latency if path.startswith("/tsa") else 0
                    if delay:
                        responder._loop.call_later(delay, self._send, data, close)
                    else:
                        self._send(data, close)
                    if close:
                        return

            def _send(self, data, close):
                if not self.transport.is_closing():
                    self.transport.write(data)
                    if close:
                        self.transport.close()

        async def boot():
            self._server = await self._loop.create_server(Http, host, port)
            ready.set()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(boot())
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=serve, daemon=True, name="sohoa-ltv-responder")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"the long-term responder did not start on {host}:{port}")
        return self

    def serve_forever(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve in the foreground until the process is stopped (the CA's own process)."""
        self.start(port, host)
        self._thread.join()

    def stop(self) -> None:
        async def close():
            self._server.close()
            for transport in list(self._open):  # the kept-alive connections too, not left to the collector
                transport.close()
            await asyncio.sleep(0)  # their sockets closed before the loop stops

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
