"""RFC 3161 timestamps (dấu thời gian) for long-term signatures: the client the signing code
asks, and the token issuer the demo's timestamp authority (TSA) answers with.

- :class:`TsaClient` asks a TSA over HTTP, one keep-alive connection per thread, and checks
  every answer (status, nonce, message imprint) before it is used. ``tokens`` sends a batch's
  requests together (a thread each, bounded), so a remote TSA's round trips overlap instead of
  adding up (a chunk of 25 transcripts asks for 100 timestamps).
- :class:`TokenIssuer` is a TSA's signing side, for the demo PKI's responder
  (:mod:`core.signatures.ltv_responder`): the token is concatenated from DER pieces encoded once
  per TSA certificate (as :class:`~core.signatures.signer.CmsSigner` does for CMS) and the key
  is loaded once. pyHanko's ``DummyTimeStamper``, which the first responder wraps, parses its
  private key again for every request (~41 ms of CPU a token on the CI machine; this: ~0.3 ms).
- :func:`pyhanko_timestamper` wraps a client as a pyHanko ``TimeStamper`` (document
  timestamps, :class:`pyhanko.sign.signers.pdf_signer.PdfTimeStamper`).

Production uses a licensed timestamp service (trust service of Nghị định 23/2025/NĐ-CP, Art. 3);
only the issuer here is the demo's.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import secrets
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from asn1crypto import core as asn1_core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from core.signatures.signer import _der_integer, tlv

UTC = dt.timezone.utc


def _oid(dotted: str) -> bytes:
    return asn1_core.ObjectIdentifier(dotted).dump()


SHA256_ALG = tlv(0x30, _oid("2.16.840.1.101.3.4.2.1") + b"\x05\x00")
SHA256_ALG_ABSENT = tlv(0x30, _oid("2.16.840.1.101.3.4.2.1"))  # parameters absent (RFC 5754)
OID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
OID_TST_INFO = _oid("1.2.840.113549.1.9.16.1.4")
OID_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
OID_SIGNING_CERT_V2 = _oid("1.2.840.113549.1.9.16.2.47")
SHA256_RSA_ALG = tlv(0x30, _oid("1.2.840.113549.1.1.11") + b"\x05\x00")
SHA256_ECDSA_ALG = tlv(0x30, _oid("1.2.840.10045.4.3.2"))
#: The demo TSA's policy (the one pyHanko's DummyTimeStamper uses; demo only).
DEMO_POLICY = _oid("1.3.6.1.4.1.4146.2.2")
#: Timestamp requests of one batch in flight at once.
PARALLEL = 32


class TimestampError(Exception):
    """The TSA did not answer, refused, or answered something else than what was asked."""


class TsaClient:
    """RFC 3161 over HTTP against ``url``; :meth:`token` returns the TimeStampToken
    (ContentInfo) DER over a SHA-256 ``digest``."""

    def __init__(self, url: str, timeout: float = 15.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"not an HTTP(S) timestamp address: {url!r}")
        self.url = url
        self._https = parts.scheme == "https"
        self.host, self.port = parts.hostname, parts.port or (443 if self._https else 80)
        self.path = parts.path or "/"
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.requests = 0

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = kind(self.host, self.port, timeout=self.timeout)
            with self._pool_lock:
                self._connections.append(conn)
        return conn

    def token(self, digest: bytes) -> bytes:
        if len(digest) != 32:
            raise ValueError("a SHA-256 digest is 32 bytes")
        nonce = secrets.randbits(63) | 1
        request = tlv(0x30, b"\x02\x01\x01" + tlv(0x30, SHA256_ALG + tlv(0x04, digest)) + _der_integer(nonce)
                      + b"\x01\x01\xff")  # certReq TRUE: the TSA's certificate comes with the token
        headers = {"Content-Type": "application/timestamp-query"}
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile: reconnect once
            conn = self._connection()
            try:
                conn.request("POST", self.path, body=request, headers=headers)
                response = conn.getresponse()
                body = response.read()
                break
            except (http.client.HTTPException, OSError) as err:
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise TimestampError(f"no answer from the timestamp authority {self.url}: {err}") from err
        self.requests += 1
        if response.status != 200:
            raise TimestampError(f"the timestamp authority {self.url} answered HTTP {response.status}")
        try:
            token, info = _read_response(body)
        except (ValueError, IndexError) as err:
            raise TimestampError(f"unreadable answer from the timestamp authority: {err}") from err
        imprint = tlv(0x30, SHA256_ALG + tlv(0x04, digest))
        imprint_absent = tlv(0x30, SHA256_ALG_ABSENT + tlv(0x04, digest))
        if info["nonce"] != _der_integer(nonce) or info["imprint"] not in (imprint, imprint_absent):
            raise TimestampError("the timestamp does not match the request (nonce or message imprint)")
        return token

    def tokens(self, digests: list[bytes]) -> list[bytes]:
        """:meth:`token` for each digest, the requests in flight together."""
        if len(digests) <= 1:
            return [self.token(d) for d in digests]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="sohoa-tsa")
        return list(self._pool.map(self.token, digests))

    def close(self) -> None:
        """Close every thread's connection and the request threads."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
            connections, self._connections = self._connections, []
        if pool is not None:
            pool.shutdown(wait=True)
        for conn in connections:
            conn.close()

    def __enter__(self) -> "TsaClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _read_response(b: bytes) -> tuple[bytes, dict[str, bytes]]:
    """A TimeStampResp by a DER walk: (the token's DER, {"imprint": messageImprint DER, "nonce":
    nonce INTEGER DER or b""}), or TimestampError when the TSA refused. (asn1crypto's object
    model costs four times as much, four times per transcript.)"""
    from core.signatures.cms import _kids, _tlv

    tag, s, e = _tlv(b, 0, len(b))
    parts = _kids(b, s, e)
    status = _kids(b, parts[0][2], parts[0][3])
    code = int.from_bytes(b[status[0][2]:status[0][3]], "big")
    if tag != 0x30 or status[0][0] != 0x02 or code not in (0, 1):  # granted, granted with modifications
        raise TimestampError(f"the timestamp authority refused (status {code})")
    if len(parts) != 2:
        raise ValueError("no token in a granted answer")
    token = b[parts[1][1]:parts[1][3]]
    top = _kids(b, parts[1][2], parts[1][3])
    if b[top[0][1]:top[0][3]] != OID_SIGNED_DATA:
        raise ValueError("the token is not a SignedData")
    signed_data = _kids(b, *_tlv(b, top[1][2], top[1][3])[1:])
    encap = _kids(b, signed_data[2][2], signed_data[2][3])
    if b[encap[0][1]:encap[0][3]] != OID_TST_INFO:
        raise ValueError("the token does not hold a TSTInfo")
    octets = _kids(b, encap[1][2], encap[1][3])[0]
    info = _kids(b, *_tlv(b, octets[2], octets[3])[1:])  # version, policy, messageImprint, serial, genTime, ...
    nonce = next((b[p[1]:p[3]] for p in info[5:] if p[0] == 0x02), b"")
    return token, {"imprint": b[info[2][1]:info[2][3]], "nonce": nonce}


def pyhanko_timestamper(client: TsaClient):
    """``client`` as a pyHanko ``TimeStamper`` (SHA-256 only)."""
    from asn1crypto import cms
    from pyhanko.sign.timestamps.api import TimeStamper

    class _Stamper(TimeStamper):
        async def async_timestamp(self, message_digest, md_algorithm):
            if md_algorithm != "sha256":
                raise TimestampError("the timestamp client asks for SHA-256 imprints only")
            return cms.ContentInfo.load(client.token(message_digest))

    return _Stamper()


def generalized_time(moment: dt.datetime) -> bytes:
    """DER GeneralizedTime in UTC with milliseconds (trailing zeros dropped, as DER requires)."""
    m = moment.astimezone(UTC)
    frac = f"{m.microsecond // 1000:03d}".rstrip("0")
    return tlv(0x18, (m.strftime("%Y%m%d%H%M%S") + ("." + frac if frac else "") + "Z").encode())


def _rejection(text: str) -> bytes:
    """A TimeStampResp with status rejection (2) and a reason."""
    return tlv(0x30, tlv(0x30, tlv(0x02, b"\x02") + tlv(0x30, tlv(0x0C, text.encode()))))


class TokenIssuer:
    """A timestamp authority's signing side: ``respond(request DER) -> TimeStampResp DER`` at
    the time ``clock()`` (aware UTC). A TSA whose certificate is not valid at that time refuses,
    as a real one stops stamping when its certificate ends."""

    def __init__(self, cert: x509.Certificate, key, chain: list[x509.Certificate],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)):
        der = serialization.Encoding.DER
        self.cert, self.key, self.clock = cert, key, clock
        cert_der = cert.public_bytes(der)
        issuer, serial = cert.issuer.public_bytes(), _der_integer(cert.serial_number)
        ess = tlv(0x30, tlv(0x30, tlv(0x30, tlv(0x04, hashlib.sha256(cert_der).digest())
                                      + tlv(0x30, tlv(0x30, tlv(0xA4, issuer)) + serial))))
        self._fixed_attrs = [tlv(0x30, OID_CONTENT_TYPE + tlv(0x31, OID_TST_INFO)),
                             tlv(0x30, OID_SIGNING_CERT_V2 + tlv(0x31, ess))]
        self._tsa_name = tlv(0xA0, tlv(0xA4, cert.subject.public_bytes()))
        self._sd_head = tlv(0x02, b"\x03") + tlv(0x31, SHA256_ALG_ABSENT)
        self._certs = tlv(0xA0, cert_der + b"".join(c.public_bytes(der) for c in chain))
        self._si_head = tlv(0x02, b"\x01") + tlv(0x30, issuer + serial) + SHA256_ALG_ABSENT
        self._rsa = isinstance(key, rsa.RSAPrivateKey)
        self._sig_alg = SHA256_RSA_ALG if self._rsa else SHA256_ECDSA_ALG

    def valid_at(self, moment: dt.datetime) -> bool:
        return self.cert.not_valid_before_utc <= moment <= self.cert.not_valid_after_utc

    @staticmethod
    def _read_request(b: bytes) -> tuple[bytes, bytes]:
        """(messageImprint DER, nonce INTEGER DER or b"") of a TimeStampReq, by a DER walk."""
        from core.signatures.cms import _kids, _tlv

        tag, s, e = _tlv(b, 0, len(b))
        parts = _kids(b, s, e)
        if tag != 0x30 or len(parts) < 2 or parts[0][0] != 0x02 or parts[1][0] != 0x30:
            raise ValueError("not a TimeStampReq")
        imprint = b[parts[1][1]:parts[1][3]]
        algorithm, hashed = _kids(b, parts[1][2], parts[1][3])
        if b[algorithm[1]:algorithm[3]] not in (SHA256_ALG, SHA256_ALG_ABSENT) \
                or hashed[0] != 0x04 or hashed[3] - hashed[2] != 32:
            raise ValueError("only SHA-256 imprints are stamped")
        nonce = next((b[p[1]:p[3]] for p in parts[2:] if p[0] == 0x02), b"")
        return imprint, nonce

    def respond(self, request_der: bytes) -> bytes:
        try:
            imprint, nonce = self._read_request(request_der)
        except (ValueError, IndexError) as err:
            return _rejection(f"bad request: {err}")
        now = self.clock()
        if not self.valid_at(now):
            return _rejection("the TSA certificate is not valid now")
        tst_info = tlv(0x30, tlv(0x02, b"\x01") + DEMO_POLICY + imprint + _der_integer(secrets.randbits(63))
                       + generalized_time(now) + nonce + self._tsa_name)
        digest_attr = tlv(0x30, OID_MESSAGE_DIGEST + tlv(0x31, tlv(0x04, hashlib.sha256(tst_info).digest())))
        attrs = b"".join(sorted([*self._fixed_attrs, digest_attr]))
        if self._rsa:
            signature = self.key.sign(tlv(0x31, attrs), padding.PKCS1v15(), hashes.SHA256())
        else:
            signature = self.key.sign(tlv(0x31, attrs), ec.ECDSA(hashes.SHA256()))
        signer_info = tlv(0x30, self._si_head + tlv(0xA0, attrs) + self._sig_alg + tlv(0x04, signature))
        encap = tlv(0x30, OID_TST_INFO + tlv(0xA0, tlv(0x04, tst_info)))
        signed_data = tlv(0x30, self._sd_head + encap + self._certs + tlv(0x31, signer_info))
        return tlv(0x30, tlv(0x30, tlv(0x02, b"\x00")) + tlv(0x30, OID_SIGNED_DATA + tlv(0xA0, signed_data)))
